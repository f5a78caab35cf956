"""The relay's publishing rules, with an in-memory store and producer (pure unit tests).

The integration tests (test_outbox_sql.py, test_outbox_mongo.py) run the relay against
real servers; these pin down what happens when the broker refuses some records, which a
real broker will not do on demand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from prometheus_client import REGISTRY

from kopano.outbox import OutboxMessage, OutboxRelay
from kopano.outbox.base import Backlog, PublishFn


class RefusingProducer:
    """Accepts everything except records whose value is b"refused"."""

    def __init__(self) -> None:
        self.delivered: list[tuple[str, int, bytes | None, bytes]] = []
        self.single_sends: list[str] = []

    async def partitions_for(self, topic: str) -> set[int]:
        if topic == "missing.topic":
            raise TimeoutError("no metadata for topic")
        return {0, 1, 2}

    def create_batch(self) -> _Batch:
        return _Batch()

    async def send_batch(self, batch: _Batch, topic: str, *, partition: int) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if any(value == b"refused" for _, value in batch.records):
            future.set_exception(RuntimeError("record too large"))
        else:
            self.delivered.extend((topic, partition, k, v) for k, v in batch.records)
            future.set_result(None)
        return future

    async def send(
        self, topic: str, value: bytes, *, key: bytes | None, headers: Any
    ) -> asyncio.Future[Any]:
        self.single_sends.append(topic)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if value == b"refused":
            future.set_exception(RuntimeError("record too large"))
        else:
            self.delivered.append((topic, -1, key, value))
            future.set_result(None)
        return future


class _Batch:
    def __init__(self) -> None:
        self.records: list[tuple[bytes | None, bytes]] = []

    def append(self, *, timestamp: Any, key: bytes | None, value: bytes, headers: Any) -> object:
        if len(self.records) >= 2:  # tiny batches, so several per partition are exercised
            return None
        self.records.append((key, value))
        return object()


class MemoryStore:
    name = "memory"

    def __init__(self, messages: Sequence[OutboxMessage]) -> None:
        self.unsent = list(messages)
        self.attempts: dict[object, int] = {}
        self.oldest_age = 0.0
        self.unreachable = False

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def relay_batch(self, publish: PublishFn, limit: int) -> int:
        batch = self.unsent[:limit]
        if not batch:
            return 0
        acked = await publish(batch)
        for message, ok in zip(batch, acked, strict=True):
            self.attempts[message.id] = self.attempts.get(message.id, 0) + 1
            if ok:
                self.unsent.remove(message)
        return len(batch)

    async def backlog(self) -> int:
        return len(self.unsent)

    async def backlog_status(self) -> Backlog:
        if self.unreachable:
            raise ConnectionError("database unreachable")
        return Backlog(len(self.unsent), self.oldest_age if self.unsent else 0.0)

    async def wait_for_work(self, max_wait: float) -> None:
        await asyncio.sleep(max_wait)

    async def purge_sent(self, older_than_seconds: float) -> int:
        return 0


def _message(n: int, key: str, value: bytes | None = None) -> OutboxMessage:
    return OutboxMessage(
        id=n,
        topic="members.member",
        key=key.encode(),
        value=value if value is not None else str(n).encode(),
        headers=[("ce_id", str(n).encode())],
    )


async def test_every_record_is_delivered_in_order_per_key() -> None:
    messages = [_message(n, f"m-{n % 5}") for n in range(40)]
    producer = RefusingProducer()
    store = MemoryStore(messages)
    relay = OutboxRelay(store, producer, batch_size=16, manage_producer=False)
    assert await relay.run_until_empty() == 40
    assert store.unsent == []
    by_key: dict[bytes | None, list[int]] = {}
    for _, _, key, value in producer.delivered:
        by_key.setdefault(key, []).append(int(value))
    assert all(values == sorted(values) for values in by_key.values())
    assert sum(len(v) for v in by_key.values()) == 40
    # The same key always lands on the same partition.
    partitions: dict[bytes | None, set[int]] = {}
    for _, partition, key, _ in producer.delivered:
        partitions.setdefault(key, set()).add(partition)
    assert all(len(p) == 1 for p in partitions.values())


async def test_a_refused_record_fails_alone_and_holds_back_its_key() -> None:
    messages = [
        _message(1, "m-1"),
        _message(2, "m-2", b"refused"),
        _message(3, "m-2"),  # same aggregate as the refused one: must not overtake it
        _message(4, "m-4"),
        _message(5, "m-1"),
    ]
    producer = RefusingProducer()
    store = MemoryStore(messages)
    relay = OutboxRelay(store, producer, batch_size=10, manage_producer=False)
    assert await relay.run_until_empty() == 3
    assert sorted(int(v) for *_, v in producer.delivered) == [1, 4, 5]
    assert [m.id for m in store.unsent] == [2, 3]
    # Both stay unsent and are tried again on every pass (run_until_empty stops once a
    # pass gets nothing through).
    assert store.attempts[2] == store.attempts[3] == 2
    assert store.attempts[1] == 1


async def test_nothing_overtakes_a_failed_batch_on_its_partition() -> None:
    # One key, so one partition; producer batches hold two records: [1, 2] [3, 4] [5].
    messages = [_message(n, "m-1", b"refused" if n == 2 else None) for n in range(1, 6)]
    producer = RefusingProducer()
    store = MemoryStore(messages)
    relay = OutboxRelay(store, producer, batch_size=10, manage_producer=False)
    assert await relay.run_until_empty() == 1
    assert [int(v) for *_, v in producer.delivered] == [1]
    assert [m.id for m in store.unsent] == [2, 3, 4, 5]


async def test_a_topic_the_broker_cannot_describe_holds_only_its_own_events() -> None:
    lost = OutboxMessage(id=2, topic="missing.topic", key=b"o-1", value=b"2", headers=[])
    messages = [_message(1, "m-1"), lost, _message(3, "m-2")]
    producer = RefusingProducer()
    store = MemoryStore(messages)
    relay = OutboxRelay(store, producer, batch_size=10, manage_producer=False)
    assert await relay.run_until_empty() == 2
    assert sorted(int(v) for *_, v in producer.delivered) == [1, 3]
    assert [m.id for m in store.unsent] == [2]
    assert producer.single_sends == []  # no slow per-record retry for a missing topic


async def test_oldest_unsent_age_keeps_counting_while_the_store_is_unreachable() -> None:
    store = MemoryStore([_message(1, "m-1")])
    store.oldest_age = 900.0
    relay = OutboxRelay(store, RefusingProducer(), manage_producer=False, service_name="age-unit")

    def exported() -> float | None:
        return REGISTRY.get_sample_value(
            "outbox_oldest_unsent_age_seconds", {"service": "age-unit"}
        )

    assert exported() == 0.0  # nothing looked at yet
    await relay.refresh_backlog()
    first = exported()
    assert first is not None
    assert first >= 900.0
    store.unreachable = True
    with pytest.raises(ConnectionError):
        await relay.refresh_backlog()
    # The last look stands and the age goes on growing: the row is still unsent.
    later = exported()
    assert later is not None
    assert later >= first
    store.unreachable = False
    assert await relay.run_until_empty() == 1
    await relay.refresh_backlog()
    assert exported() == 0.0
    assert REGISTRY.get_sample_value("outbox_backlog", {"service": "age-unit"}) == 0.0
