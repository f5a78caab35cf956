"""Content service settings (environment prefix ``CONTENT_``)."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from kopano.settings import BaseServiceSettings, MongoSettingsMixin


class ContentSettings(BaseServiceSettings, MongoSettingsMixin):
    model_config = SettingsConfigDict(env_prefix="CONTENT_")

    service_name: str = "content"
    port: int = Field(default=4002, ge=0, le=65535)

    # The launcher sets CONTENT_MONGODB_URL; one platform-wide MONGODB_URL also works.
    mongodb_url: str = Field(
        default="mongodb://127.0.0.1:27017",
        validation_alias=AliasChoices("mongodb_url", "CONTENT_MONGODB_URL", "MONGODB_URL"),
        repr=False,
    )
    mongodb_database: str = "content"

    # CloudEvents `source` of everything this service publishes.
    event_source: str = "/kopano/content"
    # Topics per aggregate (tests point them at per-test topics).
    post_topic: str = "content.post"
    comment_topic: str = "content.comment"
    event_topic: str = "content.event"
    # What the service consumes: member life cycle and organisation officials.
    member_topic: str = "members.member"
    organisation_topic: str = "members.organisation"
    consumer_group: str = "content"
    # Transactions that lose a write conflict are retried this many times.
    transaction_attempts: int = Field(default=40, ge=1)
    # Consumer group liveness (tests lower them so a group forms quickly).
    consumer_session_timeout_ms: int = Field(default=10_000, ge=1_000)
    consumer_heartbeat_interval_ms: int = Field(default=3_000, ge=100)
