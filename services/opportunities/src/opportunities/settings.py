"""Opportunities service settings (environment prefix ``OPPORTUNITIES_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kopano.settings import BaseServiceSettings, PostgresSettingsMixin


class OpportunitiesSettings(BaseServiceSettings, PostgresSettingsMixin):
    model_config = SettingsConfigDict(env_prefix="OPPORTUNITIES_")

    service_name: str = "opportunities"
    port: int = Field(default=4003, ge=0, le=65535)

    # CloudEvents `source` of everything this service publishes.
    event_source: str = "/kopano/opportunities"
    # Topics we publish to (tests point them at per-test topics).
    opportunity_topic: str = "opportunities.opportunity"
    application_topic: str = "opportunities.application"
    # Topics we consume: the members service's facts about members and organisations.
    member_topic: str = "members.member"
    organisation_topic: str = "members.organisation"
    consumer_group: str = "opportunities"
    # Lower in tests: the embedded broker waits a whole session before re-balancing.
    consumer_session_timeout_ms: int = Field(default=10_000, ge=1_000)
    consumer_heartbeat_interval_ms: int = Field(default=3_000, ge=100)
    # How often open opportunities past their deadline are closed (0 turns the sweep off).
    deadline_sweep_seconds: float = Field(default=60.0, ge=0)
    # "Closing soon" in search means a deadline within this many days unless asked otherwise.
    closing_soon_days: int = Field(default=7, ge=1, le=365)
