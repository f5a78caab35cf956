"""Where test servers come from: URLs in the environment win over embedded servers."""

from __future__ import annotations

import pytest

from kopano.devstack._process import port_is_free
from kopano.devstack.embedded import kafka_api_versions_ok
from kopano.testing import containers
from kopano.testing.servers import (
    ServerPool,
    kafka_server,
    mongodb_server,
    postgres_server_url,
    use_testcontainers,
)


def test_env_urls_are_used_as_they_are(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_DATABASE_URL", "postgresql+asyncpg://u:p@db.example:5433/x")
    monkeypatch.setenv("TEST_KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("TEST_MONGODB_URL", "mongodb://m.example:27017/?replicaSet=rs0")
    monkeypatch.setenv("KOPANO_TESTCONTAINERS", "1")  # env URLs still win
    with postgres_server_url() as url:
        assert url == "postgresql://u:p@db.example:5433/x"  # admin URL, asyncpg form
    with kafka_server() as kafka:
        assert kafka.bootstrap_servers == "k1:9092,k2:9092"
        assert kafka.supports_idempotence  # a real broker supports it by default
    with mongodb_server() as mongo:
        assert mongo == "mongodb://m.example:27017/?replicaSet=rs0"


def test_idempotence_can_be_declared_for_an_external_broker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("TEST_KAFKA_ENABLE_IDEMPOTENCE", "false")
    with kafka_server() as kafka:
        assert not kafka.supports_idempotence


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("true", True), ("0", False)])
def test_testcontainers_switch(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("KOPANO_TESTCONTAINERS", value)
    assert use_testcontainers() is expected


def test_testcontainers_mode_without_the_package_says_what_to_install() -> None:
    try:
        import testcontainers  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match="extra testcontainers"):
            containers.require_testcontainers()
    else:
        containers.require_testcontainers()


@pytest.mark.integration
def test_server_pool_starts_once_ahead_of_time_and_stops_everything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TEST_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("KOPANO_TESTCONTAINERS", raising=False)
    pool = ServerPool()
    try:
        pool.prestart(["kafka"])
        pool.prestart(["kafka"])  # no second server
        first = pool.get("kafka")
        assert pool.get("kafka") is first
        host, port = first.bootstrap_servers.split(":")
        assert kafka_api_versions_ok(host, int(port))
        assert not first.supports_idempotence  # embedded tansu
    finally:
        pool.close()
    assert port_is_free(int(port))
