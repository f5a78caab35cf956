"""Mongo outbox, relay store and inbox against a real MongoDB-protocol server and broker."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from kopano.consumer import IdempotentConsumer
from kopano.events import CloudEvent, to_kafka_record
from kopano.kafka import create_producer
from kopano.outbox import MongoInbox, MongoOutbox, MongoOutboxStore, OutboxRelay

pytestmark = pytest.mark.integration

Doc = dict[str, Any]


@pytest.fixture
async def db(mongodb_url: str, mongo_database_name: str) -> AsyncIterator[AsyncDatabase[Doc]]:
    client: AsyncMongoClient[Doc] = AsyncMongoClient(mongodb_url)
    database = client[mongo_database_name]
    await MongoOutbox(database).ensure_indexes()
    # Collections must exist before a transaction writes to them on some servers.
    for name in ("posts", "inbox", "effects"):
        await database.create_collection(name)
    yield database
    await client.close()


def _published(post_id: str) -> CloudEvent:
    return CloudEvent.new("post.published", "/kopano/content", post_id, {"post_id": post_id})


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


def _relay(db: AsyncDatabase[Doc], bootstrap: str, idempotence: bool, **kw: Any) -> OutboxRelay:
    producer = create_producer(bootstrap_servers=bootstrap, enable_idempotence=idempotence)
    return OutboxRelay(MongoOutboxStore(db, lease_seconds=2), producer, service_name="test", **kw)


async def test_event_written_with_the_change_is_published_once(
    db: AsyncDatabase[Doc],
    kafka_bootstrap: str,
    kafka_supports_idempotence: bool,
    unique_topic: str,
) -> None:
    outbox = MongoOutbox(db)
    kept, aborted = _published("p-1"), _published("p-2")
    async with db.client.start_session() as session, await session.start_transaction():
        await db.posts.insert_one({"_id": "p-1", "status": "published"}, session=session)
        await outbox.add(kept, unique_topic, session=session)

    async def failing_use_case() -> None:
        async with db.client.start_session() as session, await session.start_transaction():
            await db.posts.insert_one({"_id": "p-2", "status": "published"}, session=session)
            await outbox.add(aborted, unique_topic, session=session)
            raise RuntimeError("use case failed after writing")

    with pytest.raises(RuntimeError):
        await failing_use_case()
    assert await db.posts.count_documents({}) == 1
    assert await db.outbox.count_documents({}) == 1

    relay = _relay(db, kafka_bootstrap, kafka_supports_idempotence, poll_interval=0.05)
    await relay.start()
    try:
        await _wait_until(lambda: relay.published == 1, "the relay to publish")
    finally:
        await relay.stop()
    records = await _read(kafka_bootstrap, unique_topic)
    assert len(records) == 1
    headers = dict(records[0].headers)
    assert records[0].key == b"p-1"
    assert headers["ce_id"] == kept.id.encode()
    assert headers["ce_type"] == b"post.published"
    assert headers["ce_subject"] == b"p-1"
    assert headers["content-type"] == b"application/json"
    assert orjson.loads(records[0].value) == {"post_id": "p-1"}
    stored = await db.outbox.find_one({"event_id": kept.id})
    assert stored is not None
    assert stored["sent"] is True
    assert stored["sent_at"] is not None


async def test_add_outside_a_transaction_is_refused(db: AsyncDatabase[Doc]) -> None:
    async with db.client.start_session() as session:
        with pytest.raises(RuntimeError, match="transaction"):
            await MongoOutbox(db).add(_published("p-1"), "content.post", session=session)
    assert await db.outbox.count_documents({}) == 0


async def test_late_committing_transaction_is_still_published(
    db: AsyncDatabase[Doc],
    kafka_bootstrap: str,
    kafka_supports_idempotence: bool,
    unique_topic: str,
) -> None:
    outbox = MongoOutbox(db)
    early, late = _published("p-early"), _published("p-late")
    relay = _relay(db, kafka_bootstrap, kafka_supports_idempotence)
    await relay.producer.start()
    try:
        async with db.client.start_session() as slow:
            await slow.start_transaction()
            await outbox.add(early, unique_topic, session=slow)  # the smaller _id, still open
            async with db.client.start_session() as fast, await fast.start_transaction():
                await outbox.add(late, unique_topic, session=fast)
            assert await relay.run_until_empty() == 1
            await slow.commit_transaction()
        assert await relay.run_until_empty() == 1
    finally:
        await relay.producer.stop()
    ids = [dict(r.headers)["ce_id"].decode() for r in await _read(kafka_bootstrap, unique_topic)]
    assert ids == [late.id, early.id]
    assert await db.outbox.count_documents({"sent": False}) == 0


async def test_one_relay_at_a_time_and_a_dead_one_is_replaced(db: AsyncDatabase[Doc]) -> None:
    async with db.client.start_session() as session, await session.start_transaction():
        await MongoOutbox(db).add(_published("p-1"), "content.post", session=session)
    now = datetime.now(UTC)

    def clock() -> datetime:
        return now

    first = MongoOutboxStore(db, lease_seconds=30, owner="first", clock=clock)
    second = MongoOutboxStore(db, lease_seconds=30, owner="second", clock=clock)
    published: list[str] = []

    async def crash(messages: Any) -> list[bool]:
        raise ConnectionError("relay died after publishing")

    async def publish(messages: Any) -> list[bool]:
        published.extend(m.key.decode() for m in messages)
        return [True] * len(messages)

    with pytest.raises(ConnectionError):
        await first.relay_batch(crash, 10)
    assert await second.relay_batch(publish, 10) == -1  # first still holds the lease
    now += timedelta(seconds=31)  # the first relay's lease runs out
    assert await second.relay_batch(publish, 10) == 1
    assert published == ["p-1"]
    assert await first.relay_batch(publish, 10) == -1
    await second.close()  # hands the lease back
    assert await first.relay_batch(publish, 10) == 0


async def test_mongo_inbox_applies_a_redelivered_event_once(
    db: AsyncDatabase[Doc],
    kafka_bootstrap: str,
    kafka_supports_idempotence: bool,
    unique_topic: str,
) -> None:
    erased = CloudEvent.new("member.erased", "/kopano/members", "m-9", {"member_id": "m-9"})
    other = CloudEvent.new("member.erased", "/kopano/members", "m-8", {"member_id": "m-8"})
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for event in (erased, erased, other):
            key, value, headers = to_kafka_record(event)
            await producer.send_and_wait(unique_topic, value, key=key, headers=headers)
    finally:
        await producer.stop()

    async def scrub(event: CloudEvent, session: AsyncClientSession) -> None:
        assert session.in_transaction
        await db.effects.insert_one({"event_id": event.id}, session=session)

    consumer = IdempotentConsumer(
        topics=[unique_topic],
        group_id=f"{unique_topic}-content",
        handler=scrub,
        inbox=MongoInbox(db),
        bootstrap_servers=kafka_bootstrap,
        enable_idempotence=kafka_supports_idempotence,
    )
    await consumer.start()
    try:
        await _wait_until(lambda: consumer.processed + consumer.duplicates == 3, "3 records")
    finally:
        await consumer.stop()
    assert consumer.duplicates == 1
    applied = sorted([d["event_id"] async for d in db.effects.find({})])
    assert applied == sorted([erased.id, other.id])
    assert await MongoInbox(db).seen(f"{unique_topic}-content", erased.id)


async def test_standalone_relay_drains_a_mongo_outbox(
    db: AsyncDatabase[Doc],
    mongodb_url: str,
    kafka_bootstrap: str,
    kafka_supports_idempotence: bool,
    unique_topic: str,
) -> None:
    events = [_published(f"p-{n}") for n in range(3)]
    async with db.client.start_session() as session, await session.start_transaction():
        await MongoOutbox(db).add_many([(e, unique_topic) for e in events], session=session)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kopano.outbox",
        "--mongodb-url",
        mongodb_url,
        "--mongodb-database",
        db.name,
        "--bootstrap-servers",
        kafka_bootstrap,
        "--enable-idempotence" if kafka_supports_idempotence else "--no-enable-idempotence",
        "--once",
    )
    assert await asyncio.wait_for(proc.wait(), 120) == 0
    ids = [dict(r.headers)["ce_id"].decode() for r in await _read(kafka_bootstrap, unique_topic)]
    assert ids == [e.id for e in events]
    assert await db.outbox.count_documents({"sent": False}) == 0
