"""Idempotent consumer with the SQL inbox: redelivery, retries, dead-lettering (real servers)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import REGISTRY
from sqlalchemy import Column, Integer, MetaData, Table, Text, select
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from kopano.consumer import IdempotentConsumer, NonRetryableError
from kopano.events import CloudEvent, EventSchemas, to_kafka_record
from kopano.outbox import SqlInbox, inbox_table

pytestmark = pytest.mark.integration

metadata = MetaData()
effects = Table(
    "effects",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("event_id", Text, nullable=False),
)
inbox = inbox_table(metadata)


@pytest.fixture
async def engine(fresh_database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(fresh_database_url, pool_size=3)
    async with eng.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield eng
    await eng.dispose()


def _event(subject: str = "m-1", **data: Any) -> CloudEvent:
    return CloudEvent.new("member.profile_updated", "/kopano/members", subject, data)


async def _produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes, Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def _read(bootstrap: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        records: list[ConsumerRecord[bytes, bytes]] = []
        while [tp for tp in tps if await consumer.position(tp) < end[tp]]:
            for batch in (await consumer.getmany(timeout_ms=1000)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def _wait_until(predicate: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.05)


async def _committed(bootstrap: str, group: str, topic: str) -> int | None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        committed = await consumer.committed(TopicPartition(topic, 0))
        return None if committed is None else int(committed)
    finally:
        await consumer.stop()


async def _rewind(bootstrap: str, group: str, topic: str) -> None:
    """Commit offset 0 for the group: as if it crashed before committing anything."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )
    await consumer.start()
    try:
        await consumer.getmany(timeout_ms=2000)  # joined the group once this returns
        await consumer.commit({TopicPartition(topic, 0): 0})
    finally:
        await consumer.stop()


async def _applied(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(effects.c.event_id))).scalars().all())


def _consumer(
    bootstrap: str,
    idempotence: bool,
    topic: str,
    group: str,
    handler: Callable[[CloudEvent, Any], Awaitable[None]],
    inbox_: SqlInbox,
    **kw: Any,
) -> IdempotentConsumer:
    return IdempotentConsumer(
        topics=[topic],
        group_id=group,
        handler=handler,
        inbox=inbox_,
        bootstrap_servers=bootstrap,
        enable_idempotence=idempotence,
        # Short session: the embedded broker waits for a departed member's session to
        # expire before the next one in the same group gets the partitions.
        consumer_options={"session_timeout_ms": 6000, "heartbeat_interval_ms": 500},
        **kw,
    )


async def test_redelivered_event_changes_nothing(
    engine: AsyncEngine, kafka_bootstrap: str, kafka_supports_idempotence: bool, unique_topic: str
) -> None:
    event = _event(city="Leeds")
    other = _event("m-2", city="Maseru")
    record = to_kafka_record(event)
    # The same event twice in a row (a producer retry), then another one.
    await _produce(kafka_bootstrap, unique_topic, [record, record, to_kafka_record(other)])

    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def apply(ev: CloudEvent, tx: AsyncSession) -> None:
        assert isinstance(tx, AsyncSession)
        tx.add_all([])  # the handler works through the inbox's session
        await tx.execute(effects.insert().values(event_id=ev.id))

    group = f"{unique_topic}-members"
    consumer = _consumer(
        kafka_bootstrap,
        kafka_supports_idempotence,
        unique_topic,
        group,
        apply,
        SqlInbox(table=inbox, session_factory=sessions),
    )
    await consumer.start()
    try:
        await _wait_until(lambda: consumer.processed + consumer.duplicates == 3, "3 records")
    finally:
        await consumer.stop()
    assert sorted(await _applied(engine)) == sorted([event.id, other.id])
    assert consumer.duplicates == 1
    assert await _committed(kafka_bootstrap, group, unique_topic) == 3

    # A crash before the offset commit means everything is delivered again: no new effect.
    await _rewind(kafka_bootstrap, group, unique_topic)
    again = _consumer(
        kafka_bootstrap,
        kafka_supports_idempotence,
        unique_topic,
        group,
        apply,
        SqlInbox(table=inbox, session_factory=sessions),
    )
    await again.start()
    try:
        await _wait_until(lambda: again.duplicates == 3, "the redelivered records")
    finally:
        await again.stop()
    assert again.processed == 0
    assert sorted(await _applied(engine)) == sorted([event.id, other.id])


async def test_poison_message_goes_to_the_dlq_and_the_partition_moves_on(
    engine: AsyncEngine, kafka_bootstrap: str, kafka_supports_idempotence: bool, unique_topic: str
) -> None:
    first, poison, fatal, last = _event(n=1), _event(n=2), _event(n=3), _event(n=4)
    garbage = (b"m-1", b"{not json", [("ce_id", b"x")])
    await _produce(
        kafka_bootstrap,
        unique_topic,
        [
            to_kafka_record(first),
            to_kafka_record(poison),
            garbage,
            to_kafka_record(fatal),
            to_kafka_record(last),
        ],
    )
    tries: dict[str, int] = {}

    async def apply(ev: CloudEvent, tx: AsyncConnection) -> None:
        tries[ev.id] = tries.get(ev.id, 0) + 1
        # Written before failing: must be rolled back with the inbox row.
        await tx.execute(effects.insert().values(event_id=ev.id))
        if ev.id == poison.id:
            raise ValueError("cannot apply this profile update")
        if ev.id == fatal.id:
            raise NonRetryableError("unknown member")

    group = f"{unique_topic}-poison"
    consumer = _consumer(
        kafka_bootstrap,
        kafka_supports_idempotence,
        unique_topic,
        group,
        apply,
        SqlInbox(engine, inbox),
        max_attempts=3,
        backoff_initial=0.01,
    )
    await consumer.start()
    try:
        await _wait_until(
            lambda: consumer.processed == 2 and consumer.dead_lettered == 3, "all five records"
        )
        lag_labels = {"group": group, "topic": unique_topic, "partition": "0"}
        await _wait_until(
            lambda: REGISTRY.get_sample_value("consumer_lag", lag_labels) == 0, "lag caught up"
        )
    finally:
        await consumer.stop()

    assert sorted(await _applied(engine)) == sorted([first.id, last.id])
    assert tries[poison.id] == 3  # bounded retries
    assert tries[fatal.id] == 1  # not retried
    assert await _committed(kafka_bootstrap, group, unique_topic) == 5

    dead = await _read(kafka_bootstrap, f"{unique_topic}.dlq")
    assert len(dead) == 3
    by_offset = {int(dict(r.headers)["kopano_dlq_original_offset"]): r for r in dead}
    assert sorted(by_offset) == [1, 2, 3]
    poisoned = dict(by_offset[1].headers)
    assert poisoned["ce_id"] == poison.id.encode()  # original headers kept
    assert by_offset[1].key == b"m-1"
    assert b"cannot apply this profile update" in poisoned["kopano_dlq_error"]
    assert poisoned["kopano_dlq_error_type"] == b"builtins.ValueError"
    assert poisoned["kopano_dlq_attempts"] == b"3"
    assert poisoned["kopano_dlq_original_topic"] == unique_topic.encode()
    assert poisoned["kopano_dlq_consumer_group"] == group.encode()
    assert by_offset[2].value == b"{not json"
    assert b"InvalidEvent" in dict(by_offset[2].headers)["kopano_dlq_error_type"]
    assert dict(by_offset[3].headers)["kopano_dlq_attempts"] == b"1"

    labels = {"group": group, "topic": unique_topic}
    assert REGISTRY.get_sample_value("consumer_processed_total", labels) == 2
    assert REGISTRY.get_sample_value("consumer_dead_lettered_total", labels) == 3
    # Stopped, it has left the group: its partitions are no longer its to report.
    lag = REGISTRY.get_sample_value(
        "consumer_lag", {"group": group, "topic": unique_topic, "partition": "0"}
    )
    assert lag is None


async def test_infrastructure_failures_wait_instead_of_dead_lettering(
    engine: AsyncEngine, kafka_bootstrap: str, kafka_supports_idempotence: bool, unique_topic: str
) -> None:
    event = _event(n=1)
    await _produce(kafka_bootstrap, unique_topic, [to_kafka_record(event)])
    failures_left = 4

    async def apply(ev: CloudEvent, tx: AsyncConnection) -> None:
        nonlocal failures_left
        if failures_left:
            failures_left -= 1
            raise ConnectionResetError("database connection lost")
        await tx.execute(effects.insert().values(event_id=ev.id))

    consumer = _consumer(
        kafka_bootstrap,
        kafka_supports_idempotence,
        unique_topic,
        f"{unique_topic}-outage",
        apply,
        SqlInbox(engine, inbox),
        max_attempts=2,
        backoff_initial=0.01,
    )
    await consumer.start()
    try:
        await _wait_until(lambda: consumer.processed == 1, "the event after the outage")
    finally:
        await consumer.stop()
    assert consumer.dead_lettered == 0
    assert await _applied(engine) == [event.id]
    assert await _read(kafka_bootstrap, f"{unique_topic}.dlq") == []


def test_transient_errors_are_told_apart_from_bad_messages() -> None:
    from sqlalchemy.exc import DBAPIError

    from kopano.consumer import is_transient_error

    class PgError(Exception):
        def __init__(self, sqlstate: str) -> None:
            super().__init__(sqlstate)
            self.sqlstate = sqlstate

    def db_error(sqlstate: str) -> DBAPIError:
        return DBAPIError("UPDATE ...", {}, PgError(sqlstate))

    assert is_transient_error(ConnectionRefusedError())
    assert is_transient_error(TimeoutError())
    assert is_transient_error(db_error("40001"))  # serialization failure
    assert is_transient_error(db_error("40P01"))  # deadlock
    assert is_transient_error(db_error("08006"))  # connection failure
    assert not is_transient_error(db_error("23505"))  # unique violation: the data's fault
    assert not is_transient_error(ValueError("bad data"))
    assert not is_transient_error(KeyError("member_id"))
    wrapped = RuntimeError("wrapped")
    wrapped.__cause__ = ConnectionResetError("peer")
    assert is_transient_error(wrapped)


def test_consumer_can_be_built_outside_the_event_loop() -> None:
    # A synchronous app factory builds it; the Kafka clients appear only at start().
    async def noop(event: CloudEvent, tx: Any) -> None: ...

    consumer = IdempotentConsumer(
        topics=["members.member"],
        group_id="content",
        handler=noop,
        inbox=SqlInbox(create_async_engine("postgresql+asyncpg://u@127.0.0.1:1/x")),
        bootstrap_servers="127.0.0.1:1",
    )
    assert not consumer.running


async def test_an_unexpected_error_does_not_skip_the_rest_of_the_batch(
    engine: AsyncEngine, kafka_bootstrap: str, kafka_supports_idempotence: bool, unique_topic: str
) -> None:
    events = [_event(n=n) for n in range(4)]
    await _produce(kafka_bootstrap, unique_topic, [to_kafka_record(e) for e in events])

    class FlakySchemas(EventSchemas):
        """Fails once, outside the handler (as a bug or a read error in set-up code would)."""

        failed = False

        def validate(self, event: CloudEvent) -> None:
            if event.id == events[1].id and not self.failed:
                self.failed = True
                raise RuntimeError("schema directory unreadable")

    async def apply(ev: CloudEvent, tx: AsyncConnection) -> None:
        await tx.execute(effects.insert().values(event_id=ev.id))

    consumer = _consumer(
        kafka_bootstrap,
        kafka_supports_idempotence,
        unique_topic,
        f"{unique_topic}-flaky",
        apply,
        SqlInbox(engine, inbox),
        schemas=FlakySchemas("."),
    )
    await consumer.start()
    try:
        await _wait_until(lambda: consumer.processed == 4, "all four events")
    finally:
        await consumer.stop()
    assert sorted(await _applied(engine)) == sorted(e.id for e in events)
    assert consumer.dead_lettered == 0


async def test_dead_letter_topics_are_created_at_start(
    engine: AsyncEngine,
    kafka_bootstrap: str,
    kafka_supports_idempotence: bool,
    topic_factory: Callable[..., str],
) -> None:
    topic = topic_factory(1)  # no .dlq yet

    async def apply(ev: CloudEvent, tx: AsyncConnection) -> None: ...

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        assert f"{topic}.dlq" not in await admin.list_topics()
        consumer = _consumer(
            kafka_bootstrap,
            kafka_supports_idempotence,
            topic,
            f"{topic}-dlq-setup",
            apply,
            SqlInbox(engine, inbox),
        )
        await consumer.start()
        await consumer.stop()
        assert f"{topic}.dlq" in await admin.list_topics()
    finally:
        await admin.close()


class _Assignment:
    """Stands in for the Kafka client in a pure unit test of the lag bookkeeping."""

    def __init__(self, partitions: set[TopicPartition]) -> None:
        self.partitions = partitions

    def assignment(self) -> set[TopicPartition]:
        return self.partitions

    def highwater(self, tp: TopicPartition) -> int:
        return 10

    async def position(self, tp: TopicPartition) -> int:
        return 4


async def test_lag_of_a_partition_moved_elsewhere_is_no_longer_reported() -> None:
    group, topic = "lag-bookkeeping", "lag.topic"
    first, second = TopicPartition(topic, 0), TopicPartition(topic, 1)
    client = _Assignment({first, second})
    consumer = IdempotentConsumer(
        topics=[topic],
        group_id=group,
        handler=lambda event, tx: asyncio.sleep(0),
        inbox=SqlInbox.__new__(SqlInbox),  # never reached: no records are consumed
        consumer=client,
    )

    def lag(partition: int) -> float | None:
        labels = {"group": group, "topic": topic, "partition": str(partition)}
        return REGISTRY.get_sample_value("consumer_lag", labels)

    await consumer._update_lag()
    assert (lag(0), lag(1)) == (6, 6)
    client.partitions = {first}  # a rebalance gave partition 1 to another member
    await consumer._update_lag()
    assert (lag(0), lag(1)) == (6, None)
