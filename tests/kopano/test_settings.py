"""Service settings: prefixes, shared variables, secrets outside dev."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from pydantic_settings import SettingsConfigDict

from kopano.settings import (
    BaseServiceSettings,
    MongoSettingsMixin,
    PostgresSettingsMixin,
    SigningKeySettingsMixin,
)


class MembersSettings(PostgresSettingsMixin, SigningKeySettingsMixin, BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MEMBERS_")

    service_name: str = "members"
    port: int = 4001
    webhook_secret: SecretStr | None = None


class ContentSettings(MongoSettingsMixin, BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CONTENT_")

    service_name: str = "content"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "KAFKA_BOOTSTRAP_SERVERS",
        "KAFKA_ENABLE_IDEMPOTENCE",
        "KOPANO_DATA_DIR",
        "KOPANO_GATEWAY_TOKEN",
        "KOPANO_JWT_ISSUER",
        "KOPANO_JWKS_URL",
        "MONGODB_URL",
        "MEMBERS_ENVIRONMENT",
        "MEMBERS_DATABASE_URL",
        "MEMBERS_SIGNING_KEY_PEM",
        "MEMBERS_WEBHOOK_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)


DB = "postgresql+asyncpg://u:p@127.0.0.1:5/members"


def test_defaults_in_dev() -> None:
    s = MembersSettings(database_url=DB)
    assert s.environment == "dev"
    assert s.port == 4001
    assert s.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert s.kafka_enable_idempotence is True
    assert s.relay_enabled
    assert s.consumers_enabled
    assert s.json_logs is False
    assert s.graphiql_enabled
    assert s.gateway_token is None
    assert s.data_dir == Path(".kopano")


def test_prefixed_and_shared_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMBERS_PORT", "5001")
    monkeypatch.setenv("MEMBERS_DATABASE_URL", DB)
    monkeypatch.setenv("MEMBERS_RELAY_ENABLED", "false")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker-1:9092,broker-2:9092")
    monkeypatch.setenv("KAFKA_ENABLE_IDEMPOTENCE", "false")
    # A prefixed Kafka variable is not how the platform spells it: ignored.
    monkeypatch.setenv("MEMBERS_KAFKA_BOOTSTRAP_SERVERS", "wrong:1")
    monkeypatch.setenv("CONTENT_PORT", "9999")  # another service's setting
    s = MembersSettings()
    assert s.port == 5001
    assert s.database_url == DB
    assert s.relay_enabled is False
    assert s.kafka_bootstrap_servers == "broker-1:9092,broker-2:9092"
    assert s.kafka_enable_idempotence is False


def test_database_url_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="database_url"):
        MembersSettings()


def test_database_url_not_in_repr() -> None:
    assert "u:p@" not in repr(MembersSettings(database_url=DB))


def test_mongo_mixin(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ContentSettings().mongodb_url == "mongodb://127.0.0.1:27017"
    monkeypatch.setenv("MONGODB_URL", "mongodb://db.internal:27017/?replicaSet=rs0")
    monkeypatch.setenv("CONTENT_MONGODB_DATABASE", "content")
    s = ContentSettings()
    assert s.mongodb_url == "mongodb://db.internal:27017/?replicaSet=rs0"
    assert s.mongodb_database == "content"


def test_prod_refuses_missing_secrets() -> None:
    with pytest.raises(ValidationError) as info:
        MembersSettings(database_url=DB, environment="prod")
    message = str(info.value)
    assert "gateway_token" in message
    assert "signing_key_pem" in message
    assert "webhook_secret" in message


def test_prod_refuses_missing_secret_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMBERS_ENVIRONMENT", "prod")
    monkeypatch.setenv("MEMBERS_DATABASE_URL", DB)
    monkeypatch.setenv("KOPANO_GATEWAY_TOKEN", "gw")
    monkeypatch.setenv("MEMBERS_SIGNING_KEY_PEM", "pem")
    with pytest.raises(ValidationError, match="webhook_secret"):
        MembersSettings()
    monkeypatch.setenv("MEMBERS_WEBHOOK_SECRET", "s3cret")
    s = MembersSettings()
    assert s.environment == "prod"
    assert s.json_logs is True
    assert not s.graphiql_enabled
    assert s.gateway_token is not None
    assert s.gateway_token.get_secret_value() == "gw"
    assert "gw" not in repr(s)


def test_test_environment_tolerates_missing_secrets() -> None:
    s = MembersSettings(database_url=DB, environment="test")
    assert s.gateway_token is None


def test_unknown_environment_refused() -> None:
    with pytest.raises(ValidationError):
        MembersSettings(database_url=DB, environment="staging")


def test_dev_signing_key_is_generated_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KOPANO_DATA_DIR", str(tmp_path / "data"))
    s = MembersSettings(database_url=DB)
    assert s.data_dir == tmp_path / "data"
    key = s.load_signing_key()
    assert (tmp_path / "data" / "keys" / "members-signing-key.pem").exists()
    assert MembersSettings(database_url=DB).load_signing_key().kid == key.kid


def test_signing_key_from_pem(tmp_path: Path) -> None:
    from kopano.auth import SigningKey

    key = SigningKey.generate()
    s = MembersSettings(
        database_url=DB,
        data_dir=tmp_path,
        signing_key_pem=SecretStr(key.to_pem().decode()),
    )
    assert s.load_signing_key().kid == key.kid
    assert not (tmp_path / "keys").exists()


def test_signing_key_bundle_for_rotation(tmp_path: Path) -> None:
    from kopano.auth import SigningKey

    new, old = SigningKey.generate(), SigningKey.generate()
    bundle = (new.to_pem() + old.to_pem()).decode()
    s = MembersSettings(database_url=DB, data_dir=tmp_path, signing_key_pem=SecretStr(bundle))
    assert [k.kid for k in s.load_signing_keys()] == [new.kid, old.kid]
    assert s.load_signing_key().kid == new.kid
    with pytest.raises(ValueError, match="PEM"):
        SigningKey.all_from_pem("not a pem")


class MixinsFirst(PostgresSettingsMixin, SigningKeySettingsMixin, BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MEMBERS_")


class BaseFirst(BaseServiceSettings, PostgresSettingsMixin, SigningKeySettingsMixin):
    model_config = SettingsConfigDict(env_prefix="MEMBERS_")


@pytest.mark.parametrize("cls", [MixinsFirst, BaseFirst])
def test_base_order_does_not_matter(
    cls: type[BaseServiceSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    # An unrelated variable under the prefix (a newer setting, a typo) is ignored.
    monkeypatch.setenv("MEMBERS_NOT_A_SETTING", "1")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "k:9092")
    s = cls(database_url=DB)
    assert s.model_config["extra"] == "ignore"
    assert s.kafka_bootstrap_servers == "k:9092"
    assert cls(database_url=DB, kafka_bootstrap_servers="x:1").kafka_bootstrap_servers == "x:1"
