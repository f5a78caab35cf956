"""aiokafka factories with the platform's delivery settings.

Both accept a settings object (anything with `kafka_bootstrap_servers`,
`kafka_enable_idempotence` and `service_name`, e.g. `kopano.settings.BaseServiceSettings`)
and/or explicit keyword arguments, which win.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

__all__ = [
    "KafkaSettings",
    "bootstrap_servers_list",
    "create_consumer",
    "create_producer",
    "ensure_topics",
]


class KafkaSettings(Protocol):
    """The slice of `BaseServiceSettings` the Kafka helpers read."""

    @property
    def kafka_bootstrap_servers(self) -> str | Sequence[str]: ...

    @property
    def kafka_enable_idempotence(self) -> bool: ...

    @property
    def service_name(self) -> str: ...


def bootstrap_servers_list(value: str | Sequence[str]) -> list[str]:
    """`"a:9092,b:9092"` or a list → a clean list of `host:port`."""
    items = value.split(",") if isinstance(value, str) else list(value)
    servers = [s.strip().removeprefix("tcp://").removeprefix("kafka://") for s in items]
    servers = [s for s in servers if s]
    if not servers:
        raise ValueError("no Kafka bootstrap servers configured")
    return servers


def _resolve(
    settings: KafkaSettings | None,
    bootstrap_servers: str | Sequence[str] | None,
    client_id: str | None,
) -> tuple[list[str], str]:
    servers = bootstrap_servers
    if servers is None and settings is not None:
        servers = settings.kafka_bootstrap_servers
    if servers is None:
        raise ValueError("pass settings or bootstrap_servers")
    name = client_id or (settings.service_name if settings is not None else "kopano")
    return bootstrap_servers_list(servers), name


def create_producer(
    settings: KafkaSettings | None = None,
    *,
    bootstrap_servers: str | Sequence[str] | None = None,
    enable_idempotence: bool | None = None,
    client_id: str | None = None,
    linger_ms: int = 2,
    **overrides: Any,
) -> AIOKafkaProducer:
    """A producer that waits for every in-sync replica (`acks="all"`).

    Idempotence comes from the setting (on for real Kafka; the embedded tansu broker
    rejects `InitProducerId`, so it must be off there). A short linger lets a relay
    batch flush as a few large requests instead of one request per event.
    """
    servers, name = _resolve(settings, bootstrap_servers, client_id)
    if enable_idempotence is None:
        enable_idempotence = settings.kafka_enable_idempotence if settings is not None else True
    options: dict[str, Any] = {
        "bootstrap_servers": servers,
        "client_id": name,
        "acks": "all",
        "enable_idempotence": enable_idempotence,
        "linger_ms": linger_ms,
        "max_batch_size": 256 * 1024,
        "request_timeout_ms": 30_000,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


def create_consumer(
    settings: KafkaSettings | None,
    *topics: str,
    group_id: str,
    bootstrap_servers: str | Sequence[str] | None = None,
    client_id: str | None = None,
    auto_offset_reset: str = "earliest",
    **overrides: Any,
) -> AIOKafkaConsumer:
    """A group consumer with manual commits only (`enable_auto_commit=False`).

    Callers commit an offset after the effect of the message is durable, so a crash
    redelivers rather than loses. New groups start from the earliest offset so a
    service that subscribes late still sees the history the broker retains.
    """
    servers, name = _resolve(settings, bootstrap_servers, client_id)
    options: dict[str, Any] = {
        "bootstrap_servers": servers,
        "client_id": name,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": auto_offset_reset,
        "isolation_level": "read_committed",
    }
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


async def ensure_topics(
    bootstrap_servers: str | Sequence[str],
    topics: Sequence[str],
    *,
    partitions: int = 3,
    replication_factor: int = 1,
) -> None:
    """Create topics that do not exist yet (idempotent; for dev, tests and start-up)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers_list(bootstrap_servers))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            # Another process may create one between list and create: that is fine.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [NewTopic(t, partitions, replication_factor) for t in missing]
                )
    finally:
        await admin.close()
