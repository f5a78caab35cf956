"""SQL transactional outbox + relay against real PostgreSQL and a real Kafka-protocol broker."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from sqlalchemy import Column, Integer, MetaData, Table, Text, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from kopano.consumer import IdempotentConsumer
from kopano.events import CloudEvent
from kopano.kafka import create_producer
from kopano.outbox import (
    OutboxRelay,
    SqlInbox,
    SqlOutboxStore,
    add_many_to_outbox,
    add_to_outbox,
    inbox_table,
    outbox_table,
)

pytestmark = pytest.mark.integration

metadata = MetaData()
members = Table(
    "members",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
)
# Not unique on purpose: a duplicated effect would show up as a second row.
effects = Table(
    "effects",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("event_id", Text, nullable=False),
)
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)


@pytest.fixture
async def engine(fresh_database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(fresh_database_url, pool_size=5)
    async with eng.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield eng
    await eng.dispose()


def _registered(member_id: str, n: int = 0) -> CloudEvent:
    return CloudEvent.new("member.registered", "/kopano/members", member_id, {"n": n})


async def read_topic(bootstrap: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Everything on the topic right now, with a plain consumer (no group, no commits)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()  # refreshes metadata so new topics' partitions are known
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        records: list[ConsumerRecord[bytes, bytes]] = []
        while [tp for tp in tps if await consumer.position(tp) < end[tp]]:
            batch = await consumer.getmany(timeout_ms=1000)
            for tp_records in batch.values():
                records.extend(tp_records)
        return records
    finally:
        await consumer.stop()


def _relay(engine: AsyncEngine, bootstrap: str, idempotence: bool, **kw: Any) -> OutboxRelay:
    producer = create_producer(bootstrap_servers=bootstrap, enable_idempotence=idempotence)
    return OutboxRelay(SqlOutboxStore(engine, outbox), producer, service_name="test", **kw)


async def _unsent(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        count = await conn.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))
        )
    return int(count or 0)


async def _wait_until(predicate: Any, what: str, limit: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.05)


async def test_committed_event_is_published_once_and_rolled_back_one_never(
    engine: AsyncEngine, kafka_bootstrap: str, kafka_supports_idempotence: bool, unique_topic: str
) -> None:
    committed = _registered("m-1")
    rolled_back = _registered("m-2")
    async with engine.begin() as conn:
        await conn.execute(members.insert().values(id="m-1", name="Palesa"))
        await add_to_outbox(conn, committed, unique_topic)

    async def failing_use_case() -> None:
        async with engine.begin() as conn:
            await conn.execute(members.insert().values(id="m-2", name="Thabo"))
            await add_to_outbox(conn, rolled_back, unique_topic)
            raise RuntimeError("use case failed after writing")

    with pytest.raises(RuntimeError):
        await failing_use_case()

    relay = _relay(engine, kafka_bootstrap, kafka_supports_idempotence, poll_interval=0.05)
    await relay.start()
    try:
        await _wait_until(lambda: _zero(_unsent(engine)), "the relay to mark the row sent")
    finally:
        await relay.stop()

    records = await read_topic(kafka_bootstrap, unique_topic)
    assert len(records) == 1
    record = records[0]
    headers = dict(record.headers)
    assert record.key == b"m-1"
    assert headers["ce_id"] == committed.id.encode()
    assert headers["ce_type"] == b"member.registered"
    assert headers["ce_source"] == b"/kopano/members"
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_subject"] == b"m-1"
    assert headers["content-type"] == b"application/json"
    assert orjson.loads(record.value) == {"n": 0}
    async with engine.connect() as conn:
        rows = (await conn.execute(select(outbox.c.event_id, outbox.c.attempts))).all()
        names = (await conn.execute(select(members.c.id))).scalars().all()
    assert [str(r.event_id) for r in rows] == [committed.id]
    assert rows[0].attempts == 1
    assert names == ["m-1"]


async def _zero(count: Any) -> bool:
    return int(await count) == 0


async def test_transaction_committing_after_a_later_one_is_still_published(
    engine: AsyncEngine, kafka_bootstrap: str, kafka_supports_idempotence: bool, unique_topic: str
) -> None:
    early, late = _registered("m-early"), _registered("m-late")
    relay = _relay(engine, kafka_bootstrap, kafka_supports_idempotence)
    await relay.producer.start()
    try:
        slow: AsyncConnection = await engine.connect()
        slow_tx = await slow.begin()
        await add_to_outbox(slow, early, unique_topic)  # takes the lower id, stays open
        async with engine.begin() as conn:
            await add_to_outbox(conn, late, unique_topic)
        assert await relay.run_until_empty() == 1  # only the committed, higher id
        await slow_tx.commit()
        await slow.close()
        assert await relay.run_until_empty() == 1  # the lower id is not skipped
    finally:
        await relay.producer.stop()
    ids = [
        dict(r.headers)["ce_id"].decode() for r in await read_topic(kafka_bootstrap, unique_topic)
    ]
    assert ids == [late.id, early.id]
    assert await _unsent(engine) == 0


async def test_relay_keeps_order_per_key_and_marks_everything(
    engine: AsyncEngine, kafka_bootstrap: str, kafka_supports_idempotence: bool, topic_factory: Any
) -> None:
    topic = topic_factory(3)
    events = [(_registered(f"m-{i % 7}", i), topic) for i in range(700)]
    for start in range(0, len(events), 100):
        async with engine.begin() as conn:
            await add_many_to_outbox(conn, events[start : start + 100])
    relay = _relay(engine, kafka_bootstrap, kafka_supports_idempotence, batch_size=128)
    await relay.producer.start()
    try:
        assert await relay.run_until_empty() == 700
    finally:
        await relay.producer.stop()
    records = await read_topic(kafka_bootstrap, topic)
    assert len(records) == 700
    by_key: dict[bytes, list[int]] = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        by_key.setdefault(record.key, []).append(orjson.loads(record.value)["n"])
    assert len(by_key) == 7
    for sequence in by_key.values():
        assert sequence == sorted(sequence)


async def test_second_relay_waits_while_the_first_holds_the_outbox(
    engine: AsyncEngine, kafka_bootstrap: str, kafka_supports_idempotence: bool, unique_topic: str
) -> None:
    async with engine.begin() as conn:
        await add_to_outbox(conn, _registered("m-1"), unique_topic)
    first = SqlOutboxStore(engine, outbox, listen=False)
    second = SqlOutboxStore(engine, outbox, listen=False)
    seen_by_second: list[int] = []

    async def publish_first(messages: Any) -> list[bool]:
        # While the first relay is mid-batch, the second one must not take the rows.
        seen_by_second.append(await second.relay_batch(publish_second, 10))
        return [True] * len(messages)

    async def publish_second(messages: Any) -> list[bool]:
        raise AssertionError("second relay published while the first held the outbox")

    assert await first.relay_batch(publish_first, 10) == 1
    assert seen_by_second == [-1]
    assert await second.relay_batch(publish_second, 10) == 0


async def test_relay_killed_mid_batch_loses_nothing_and_effects_happen_once(
    engine: AsyncEngine,
    fresh_database_url: str,
    kafka_bootstrap: str,
    kafka_supports_idempotence: bool,
    unique_topic: str,
) -> None:
    total, batch = 400, 100
    events = [(_registered(f"m-{i % 13}", i), unique_topic) for i in range(total)]
    for start in range(0, total, 200):
        async with engine.begin() as conn:
            await add_many_to_outbox(conn, events[start : start + 200])

    # Stall the relay after it has published its first batch but before it marks it sent:
    # marking waits on an advisory lock this test holds.
    blocker = await engine.connect()
    await blocker.execute(text("SELECT pg_advisory_lock(4242)"))
    await blocker.commit()
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE FUNCTION stall() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN PERFORM pg_advisory_lock_shared(4242); RETURN NEW; END $$"
            )
        )
        await conn.execute(
            text(
                "CREATE TRIGGER stall BEFORE UPDATE ON outbox FOR EACH ROW EXECUTE FUNCTION stall()"
            )
        )

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(  # noqa: ASYNC220 - a real process to kill -9
        [
            sys.executable,
            "-m",
            "kopano.outbox",
            "--database-url",
            fresh_database_url,
            "--bootstrap-servers",
            kafka_bootstrap,
            "--enable-idempotence" if kafka_supports_idempotence else "--no-enable-idempotence",
            "--batch-size",
            str(batch),
            "--poll-interval",
            "0.05",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        async def first_batch_on_broker() -> bool:
            return len(await read_topic(kafka_bootstrap, unique_topic)) >= batch

        await _wait_until(first_batch_on_broker, "the relay's first batch on the broker", 60)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    await blocker.execute(text("SELECT pg_advisory_unlock(4242)"))
    await blocker.close()
    async with engine.begin() as conn:
        await conn.execute(text("DROP TRIGGER stall ON outbox"))

    # Killed mid-batch: the published batch was never marked, nothing after it was sent.
    assert await _unsent(engine) == total
    assert len(await read_topic(kafka_bootstrap, unique_topic)) == batch

    relay = _relay(engine, kafka_bootstrap, kafka_supports_idempotence, batch_size=batch)
    await relay.producer.start()
    try:
        assert await relay.run_until_empty() == total
    finally:
        await relay.producer.stop()
    assert await _unsent(engine) == 0

    records = await read_topic(kafka_bootstrap, unique_topic)
    published = [dict(r.headers)["ce_id"].decode() for r in records]
    assert len(published) == total + batch  # the first batch twice, at the broker only
    assert set(published) == {event.id for event, _ in events}

    async def apply(event: CloudEvent, tx: AsyncConnection) -> None:
        await tx.execute(effects.insert().values(event_id=event.id))

    consumer = IdempotentConsumer(
        topics=[unique_topic],
        group_id="test-effects",
        handler=apply,
        inbox=SqlInbox(engine, inbox),
        bootstrap_servers=kafka_bootstrap,
        enable_idempotence=kafka_supports_idempotence,
    )
    await consumer.start()
    try:

        async def all_seen() -> bool:
            return consumer.processed + consumer.duplicates >= total + batch

        await _wait_until(all_seen, "the consumer to see every record", 120)
    finally:
        await consumer.stop()
    async with engine.connect() as conn:
        applied = (await conn.execute(select(effects.c.event_id))).scalars().all()
    assert len(applied) == total
    assert set(applied) == {event.id for event, _ in events}
    assert consumer.duplicates == batch


async def test_purge_removes_only_old_sent_rows(
    engine: AsyncEngine, kafka_bootstrap: str, kafka_supports_idempotence: bool, unique_topic: str
) -> None:
    async with engine.begin() as conn:
        await add_many_to_outbox(conn, [(_registered("a"), unique_topic)] * 1)
        await add_to_outbox(conn, _registered("b"), unique_topic)
    store = SqlOutboxStore(engine, outbox, listen=False)
    relay = _relay(engine, kafka_bootstrap, kafka_supports_idempotence)
    await relay.producer.start()
    try:
        await relay.run_until_empty()
    finally:
        await relay.producer.stop()
    async with engine.begin() as conn:
        await add_to_outbox(conn, _registered("c"), unique_topic)
        await conn.execute(
            outbox.update()
            .where(outbox.c.key == "a")
            .values(sent_at=func.now() - text("interval '2 days'"))
        )
    assert await store.purge_sent(24 * 3600) == 1
    async with engine.connect() as conn:
        keys = (await conn.execute(select(outbox.c.key).order_by(outbox.c.id))).scalars().all()
    assert keys == ["b", "c"]
    assert await store.backlog() == 1
