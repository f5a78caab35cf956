"""pytest plugin with real servers for integration tests.

Activate it from a ``conftest.py``::

    pytest_plugins = ["kopano.testing"]

Session fixtures (a server starts only if a selected test needs it — in parallel, right
after collection — once per session, and stops at the end of the session):

* ``postgres_server`` — admin URL (``postgresql://...``, asyncpg form) of a PostgreSQL
  server: ``TEST_DATABASE_URL`` if set, else an embedded PostgreSQL 18 on a free port.
* ``kafka_bootstrap`` — ``host:port`` of a Kafka-protocol broker:
  ``TEST_KAFKA_BOOTSTRAP_SERVERS`` if set, else an embedded tansu broker on a free port.
  ``kafka_supports_idempotence`` tells whether producers may enable idempotence
  (false for tansu; ``TEST_KAFKA_ENABLE_IDEMPOTENCE`` overrides for external brokers).
* ``mongodb_url`` — a MongoDB URL with transaction support: ``TEST_MONGODB_URL`` if set,
  else an embedded secantusdb on a free port (in-memory storage).

With ``KOPANO_TESTCONTAINERS=1`` the servers not given by URL run in Docker through
testcontainers instead (``pip install 'kopano[testcontainers]'``).

Function fixtures (isolation per test):

* ``fresh_database_url`` — ``postgresql+asyncpg://`` URL of a new, empty database (dropped after).
* ``unique_topic`` — the name of a new one-partition topic, already created on the broker.
* ``topic_factory`` — ``make(partitions=1) -> name`` for more topics per test.
* ``mongo_database_name`` — a unique database name on ``mongodb_url`` (dropped after).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator

import pytest

from kopano.devstack import pg
from kopano.testing.servers import (
    DatabasePool,
    KafkaServer,
    ServerPool,
    create_topics,
    drop_mongo_database,
)

__all__ = [
    "fresh_database_url",
    "kafka_bootstrap",
    "kafka_supports_idempotence",
    "mongo_database_name",
    "mongodb_url",
    "postgres_server",
    "topic_factory",
    "unique_topic",
]


def _slug(request: pytest.FixtureRequest, limit: int) -> str:
    """A short, name-safe hint of the test, so leftovers are easy to trace back."""
    raw = request.node.name.lower()
    return re.sub(r"[^a-z0-9]+", "_", raw).strip("_")[:limit] or "t"


_POOL = ServerPool()

# Which session fixture needs which server; used to start servers ahead of time.
_SERVER_OF_FIXTURE = {
    "postgres_server": "postgres",
    "_kopano_kafka": "kafka",
    "mongodb_url": "mongo",
}


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start, in parallel, the servers that the selected tests will ask for."""
    if session.config.option.collectonly:
        return
    needed: set[str] = set()
    for item in session.items:
        for name in getattr(item, "fixturenames", ()):
            kind = _SERVER_OF_FIXTURE.get(name)
            if kind is not None:
                needed.add(kind)
    if needed:
        _POOL.prestart(sorted(needed))


def pytest_sessionfinish(session: pytest.Session) -> None:
    _POOL.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Admin URL of a real PostgreSQL server (``postgresql://...``)."""
    url: str = _POOL.get("postgres")
    yield url
    _POOL.stop("postgres")


@pytest.fixture(scope="session")
def _kopano_kafka() -> Iterator[KafkaServer]:
    server: KafkaServer = _POOL.get("kafka")
    yield server
    _POOL.stop("kafka")


@pytest.fixture(scope="session")
def kafka_bootstrap(_kopano_kafka: KafkaServer) -> str:
    """``host:port`` of a real Kafka-protocol broker."""
    return _kopano_kafka.bootstrap_servers


@pytest.fixture(scope="session")
def kafka_supports_idempotence(_kopano_kafka: KafkaServer) -> bool:
    """Whether producers on ``kafka_bootstrap`` may use ``enable_idempotence=True``."""
    return _kopano_kafka.supports_idempotence


@pytest.fixture(scope="session")
def mongodb_url() -> Iterator[str]:
    """URL of a real MongoDB-protocol server that supports transactions."""
    url: str = _POOL.get("mongo")
    yield url
    _POOL.stop("mongo")


@pytest.fixture(scope="session")
def _kopano_database_pool(postgres_server: str) -> Iterator[DatabasePool]:
    pool = DatabasePool(postgres_server)
    yield pool
    pool.close()  # before the server stops: a dependent fixture is torn down first


@pytest.fixture
def fresh_database_url(postgres_server: str, _kopano_database_pool: DatabasePool) -> Iterator[str]:
    """SQLAlchemy asyncpg URL of a brand-new, empty database, dropped after the test."""
    name = _kopano_database_pool.take()
    yield pg.sqlalchemy_url(pg.with_database(postgres_server, name))
    pg.run_sync(pg.drop_database(postgres_server, name))


@pytest.fixture
def topic_factory(kafka_bootstrap: str, request: pytest.FixtureRequest) -> Callable[..., str]:
    """``make(partitions=1, *, dlq=False) -> topic``: a new topic created on the broker.

    ``dlq=True`` also creates ``<topic>.dlq`` for brokers without topic auto-creation.
    """
    slug = _slug(request, 40)

    def make(partitions: int = 1, *, dlq: bool = False) -> str:
        name = f"test.{slug}.{uuid.uuid4().hex[:10]}"
        names = [name, f"{name}.dlq"] if dlq else [name]
        create_topics(kafka_bootstrap, names, partitions=partitions)
        return name

    return make


@pytest.fixture
def unique_topic(topic_factory: Callable[..., str]) -> str:
    """A new one-partition topic (and its ``.dlq``), created on the broker."""
    return topic_factory(1, dlq=True)


@pytest.fixture
def mongo_database_name(mongodb_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A unique database name on ``mongodb_url``; the database is dropped after the test."""
    name = f"t_{_slug(request, 30)}_{uuid.uuid4().hex[:10]}"
    yield name
    drop_mongo_database(mongodb_url, name)


def pytest_report_header(config: pytest.Config) -> str:
    sources = []
    for env, what in (
        ("TEST_DATABASE_URL", "postgres"),
        ("TEST_KAFKA_BOOTSTRAP_SERVERS", "kafka"),
        ("TEST_MONGODB_URL", "mongodb"),
    ):
        sources.append(f"{what}={'env' if os.environ.get(env) else 'auto'}")
    mode = "testcontainers" if os.environ.get("KOPANO_TESTCONTAINERS") == "1" else "embedded"
    return f"kopano.testing: {mode} servers ({', '.join(sources)})"
