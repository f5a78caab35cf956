"""Service settings shared by every Kopano service.

Each service subclasses :class:`BaseServiceSettings` with its own ``env_prefix``
(``MEMBERS_``, ``CONTENT_``, ...). Settings that every process must agree on
(the Kafka brokers, the token issuer and audience, the gateway's shared secret,
the data directory) are read from un-prefixed environment variables so one
ConfigMap can serve the whole platform.

Secrets are ``SecretStr`` fields. Outside ``dev``/``test`` every secret field must
be set explicitly: a forgotten secret stops the process at start-up instead of
silently running with a default.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from kopano.auth import SigningKey

__all__ = [
    "BaseServiceSettings",
    "Environment",
    "MissingSecretsError",
    "MongoSettingsMixin",
    "PostgresSettingsMixin",
    "SigningKeySettingsMixin",
]

Environment = Literal["dev", "test", "prod"]

# Environments where missing secrets are tolerated (and dev keys may be generated).
_RELAXED_ENVIRONMENTS: frozenset[str] = frozenset({"dev", "test"})


class MissingSecretsError(ValueError):
    """Raised when a secret setting is missing outside ``dev``/``test``."""


def _is_secret_annotation(annotation: Any) -> bool:
    """True when a field's type is ``SecretStr`` or ``SecretStr | None``."""
    if annotation is SecretStr:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return any(_is_secret_annotation(arg) for arg in typing.get_args(annotation))
    return False


def _shared(name: str, env: str) -> AliasChoices:
    """Accept the field name (constructor) and one un-prefixed environment variable."""
    return AliasChoices(name, env)


# Shared by the base class and the mixins: whatever order a service lists its bases
# in, unknown variables under its prefix are ignored and fields accept their names.
_COMMON_CONFIG = SettingsConfigDict(
    extra="ignore",
    validate_by_name=True,
    validate_by_alias=True,
    validate_default=True,
    frozen=False,
)


class BaseServiceSettings(BaseSettings):
    """Settings every service has. Subclass and set ``env_prefix``."""

    model_config = SettingsConfigDict(env_prefix="KOPANO_", **_COMMON_CONFIG)

    service_name: str = "kopano"
    environment: Environment = "dev"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # Longer than any client's idle expiry (httpx: 5 s, the gateway's pool keeps connections
    # open): the client then always drops an idle connection first, and a request never meets
    # a connection the server is closing at that instant.
    keep_alive_seconds: int = Field(default=75, ge=1)
    log_level: str = "INFO"
    # None means "JSON everywhere except dev".
    log_json: bool | None = None

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=_shared("kafka_bootstrap_servers", "KAFKA_BOOTSTRAP_SERVERS"),
    )
    # The embedded tansu broker rejects idempotent producers; real Kafka wants them.
    kafka_enable_idempotence: bool = Field(
        default=True,
        validation_alias=_shared("kafka_enable_idempotence", "KAFKA_ENABLE_IDEMPOTENCE"),
    )
    relay_enabled: bool = True
    consumers_enabled: bool = True

    data_dir: Path = Field(
        default=Path(".kopano"),
        validation_alias=_shared("data_dir", "KOPANO_DATA_DIR"),
    )

    # Access-token verification: every service trusts the members service's keys.
    jwt_issuer: str = Field(
        default="kopano-members",
        validation_alias=_shared("jwt_issuer", "KOPANO_JWT_ISSUER"),
    )
    jwt_audience: str = Field(
        default="kopano",
        validation_alias=_shared("jwt_audience", "KOPANO_JWT_AUDIENCE"),
    )
    jwks_url: str = Field(
        default="http://127.0.0.1:4001/.well-known/jwks.json",
        validation_alias=_shared("jwks_url", "KOPANO_JWKS_URL"),
    )
    jwks_cache_seconds: float = Field(default=300.0, gt=0)

    # Shared secret the gateway presents in X-Kopano-Gateway-Token; subgraphs only
    # answer `_service` / `_entities` to callers that present it.
    gateway_token: SecretStr | None = Field(
        default=None,
        validation_alias=_shared("gateway_token", "KOPANO_GATEWAY_TOKEN"),
    )

    # Seconds allowed for each readiness check before it counts as failed.
    readiness_timeout: float = Field(default=2.0, gt=0)

    @property
    def is_dev(self) -> bool:
        return self.environment == "dev"

    @property
    def is_relaxed(self) -> bool:
        """``dev`` or ``test``: secrets may be missing and dev keys generated."""
        return self.environment in _RELAXED_ENVIRONMENTS

    @property
    def json_logs(self) -> bool:
        return self.log_json if self.log_json is not None else not self.is_dev

    @property
    def graphiql_enabled(self) -> bool:
        return self.is_dev

    def secret_field_names(self) -> list[str]:
        return [
            name
            for name, field in type(self).model_fields.items()
            if _is_secret_annotation(field.annotation)
        ]

    @model_validator(mode="after")
    def _refuse_missing_secrets(self) -> Self:
        if self.is_relaxed:
            return self
        missing = [name for name in self.secret_field_names() if getattr(self, name) is None]
        if missing:
            raise MissingSecretsError(
                f"secret settings must be set when environment={self.environment!r}: "
                + ", ".join(sorted(missing))
            )
        return self


class PostgresSettingsMixin(BaseSettings):
    """For services that own a PostgreSQL database (env ``<PREFIX>DATABASE_URL``)."""

    model_config = SettingsConfigDict(**_COMMON_CONFIG)

    database_url: str = Field(
        description="SQLAlchemy async URL, e.g. postgresql+asyncpg://user:pw@host:5432/db",
        repr=False,
    )
    database_pool_size: int = Field(default=10, ge=1)
    database_max_overflow: int = Field(default=5, ge=0)


class MongoSettingsMixin(BaseSettings):
    """For services that own a MongoDB database (env ``MONGODB_URL``, un-prefixed)."""

    model_config = SettingsConfigDict(**_COMMON_CONFIG)

    mongodb_url: str = Field(
        default="mongodb://127.0.0.1:27017",
        validation_alias=_shared("mongodb_url", "MONGODB_URL"),
        repr=False,
    )
    mongodb_database: str = "kopano"


class SigningKeySettingsMixin(BaseSettings):
    """For the token issuer (members): the Ed25519 private key as PEM.

    In ``dev``/``test`` a missing key is generated once and kept under
    ``data_dir/keys/`` so tokens survive restarts; elsewhere it is a required secret.
    """

    model_config = SettingsConfigDict(**_COMMON_CONFIG)

    # One PEM, or several concatenated for rotation: the first signs, all are published.
    signing_key_pem: SecretStr | None = Field(default=None, repr=False)

    def load_signing_keys(self) -> list[SigningKey]:
        from kopano.auth import SigningKey

        if self.signing_key_pem is not None:
            return SigningKey.all_from_pem(self.signing_key_pem.get_secret_value())
        return [self.load_signing_key()]

    def load_signing_key(self) -> SigningKey:
        """The key that signs (the first of ``signing_key_pem``, or the dev key)."""
        from kopano.auth import SigningKey

        if self.signing_key_pem is not None:
            return SigningKey.all_from_pem(self.signing_key_pem.get_secret_value())[0]
        environment = getattr(self, "environment", "prod")
        if environment not in _RELAXED_ENVIRONMENTS:
            raise MissingSecretsError("signing_key_pem must be set outside dev/test")
        data_dir = Path(getattr(self, "data_dir", Path(".kopano")))
        name = getattr(self, "service_name", "kopano")
        return SigningKey.load_or_create(data_dir / "keys" / f"{name}-signing-key.pem")
