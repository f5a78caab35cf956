"""Members service settings (environment prefix ``MEMBERS_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kopano.settings import BaseServiceSettings, PostgresSettingsMixin, SigningKeySettingsMixin


class MembersSettings(BaseServiceSettings, PostgresSettingsMixin, SigningKeySettingsMixin):
    model_config = SettingsConfigDict(env_prefix="MEMBERS_")

    service_name: str = "members"
    port: int = Field(default=4001, ge=0, le=65535)

    access_token_ttl_seconds: int = Field(default=900, ge=30)
    refresh_token_ttl_days: int = Field(default=30, ge=1)
    # The version of the terms / privacy notice a new member accepts.
    consent_version: str = "2026-01"
    # CloudEvents `source` of everything this service publishes.
    event_source: str = "/kopano/members"
    # argon2id cost (OWASP defaults); tests lower it to keep suites fast.
    password_hash_memory_kib: int = Field(default=19 * 1024, ge=1024)
    password_hash_time_cost: int = Field(default=2, ge=1)
    # Topics per aggregate (tests point them at per-test topics).
    member_topic: str = "members.member"
    organisation_topic: str = "members.organisation"
    connection_topic: str = "members.connection"
    # Small-cell suppression threshold for the public statistics.
    statistics_min_cell: int = Field(default=5, ge=1)
