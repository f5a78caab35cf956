"""Payments service settings (environment prefix ``PAYMENTS_``)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from kopano.settings import BaseServiceSettings, PostgresSettingsMixin

# Used only in dev/test when no secret is configured (the sandbox uses the same default).
DEV_WEBHOOK_SECRET = "kopano-sandbox-dev-webhook-secret"  # noqa: S105 - dev-only default


class PaymentsSettings(BaseServiceSettings, PostgresSettingsMixin):
    model_config = SettingsConfigDict(env_prefix="PAYMENTS_")

    service_name: str = "payments"
    port: int = Field(default=4004, ge=0, le=65535)

    # CloudEvents `source` and the topic of the remittance events.
    event_source: str = "/kopano/payments"
    remittance_topic: str = "payments.remittance"

    # Seconds a request waits for a pooled database connection before failing.
    database_pool_timeout: float = Field(default=30.0, gt=0)

    # What the service consumes: the members service's member events (erasure).
    member_topic: str = "members.member"
    consumer_group: str = "payments"

    # The partners' HTTP API (the sandbox in dev: `python -m payments.sandbox`).
    partner_base_url: str = "http://127.0.0.1:4014"
    partner_timeout_seconds: float = Field(default=5.0, gt=0)
    # HMAC-SHA256 key the partners sign webhooks with (required outside dev/test).
    webhook_secret: SecretStr | None = Field(default=None, repr=False)
    # A webhook signed longer ago than this (or this far in the future) is refused.
    webhook_tolerance_seconds: int = Field(default=300, ge=1)

    # The dispatcher moves transfers forward by calling the partners (off in some tests).
    dispatcher_enabled: bool = True
    dispatcher_batch_size: int = Field(default=64, ge=1)
    dispatcher_poll_seconds: float = Field(default=0.5, gt=0)

    # How often each pod re-reads the unfinished-transfer gauges (one grouped query).
    transfer_metrics_seconds: float = Field(default=15.0, gt=0)

    def webhook_key(self) -> bytes:
        if self.webhook_secret is not None:
            return self.webhook_secret.get_secret_value().encode()
        # The base settings refuse a missing secret outside dev/test at start-up.
        return DEV_WEBHOOK_SECRET.encode()
