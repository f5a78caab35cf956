"""Test servers in Docker through testcontainers (``KOPANO_TESTCONTAINERS=1``).

testcontainers is an optional dependency (``kopano[testcontainers]``); it is imported only
when this mode is on.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

POSTGRES_IMAGE = "postgres:17-alpine"
INSTALL_HINT = (
    "KOPANO_TESTCONTAINERS=1 needs Docker and the optional testcontainers dependency: "
    "`uv sync --all-packages --extra testcontainers` (or pip install 'kopano[testcontainers]')"
)


def require_testcontainers() -> None:
    try:
        import testcontainers  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(INSTALL_HINT) from exc


KAFKA_IMAGE = "confluentinc/cp-kafka:7.7.1"
MONGO_IMAGE = "mongo:7.0"


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    require_testcontainers()
    try:
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:  # testcontainers < 4.14
        from testcontainers.postgres import PostgresContainer

    with PostgresContainer(POSTGRES_IMAGE, driver=None) as container:
        url: str = container.get_connection_url()
        yield url


@contextlib.contextmanager
def kafka() -> Iterator[str]:
    require_testcontainers()
    try:
        from testcontainers.community.kafka import KafkaContainer
    except ImportError:  # testcontainers < 4.14
        from testcontainers.kafka import KafkaContainer

    with KafkaContainer(KAFKA_IMAGE).with_kraft() as container:
        servers: str = container.get_bootstrap_server()
        yield servers


@contextlib.contextmanager
def mongodb() -> Iterator[str]:
    """MongoDB as a one-node replica set: transactions need one."""
    require_testcontainers()
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    container: Any = DockerContainer(MONGO_IMAGE).with_command("--replSet rs0 --bind_ip_all")
    container.with_exposed_ports(27017)
    with container:
        wait_for_logs(container, "Waiting for connections")
        init = "rs.initiate({_id: 'rs0', members: [{_id: 0, host: 'localhost:27017'}]})"
        container.exec(["mongosh", "--quiet", "--eval", init])
        host = container.get_container_host_ip()
        port = container.get_exposed_port(27017)
        url = f"mongodb://{host}:{port}/?directConnection=true"
        _wait_for_primary(url)
        yield url


def _wait_for_primary(url: str, timeout: float = 60.0) -> None:
    from pymongo import MongoClient

    deadline = time.monotonic() + timeout
    client: MongoClient[dict[str, Any]] = MongoClient(url, serverSelectionTimeoutMS=2000)
    try:
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if client.admin.command("hello").get("isWritablePrimary"):
                    return
            time.sleep(0.5)
        raise TimeoutError("MongoDB replica set did not elect a primary")
    finally:
        client.close()
