"""The test servers speak their real protocols (PostgreSQL, Kafka, MongoDB)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pymongo import AsyncMongoClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from kopano.devstack import pg
from kopano.testing.servers import DatabasePool

pytestmark = pytest.mark.integration


async def test_postgres_answers_queries(postgres_server: str) -> None:
    conn = await asyncpg.connect(postgres_server)
    try:
        assert await conn.fetchval("SELECT 40 + 2") == 42
        version = await conn.fetchval("SHOW server_version_num")
        assert int(version) >= 130000
    finally:
        await conn.close()


async def test_fresh_database_is_new_and_empty(fresh_database_url: str) -> None:
    assert fresh_database_url.startswith("postgresql+asyncpg://")
    engine = create_async_engine(fresh_database_url)
    try:
        async with engine.begin() as conn:
            tables = await conn.scalar(
                text("SELECT count(*) FROM information_schema.tables WHERE table_schema='public'")
            )
            assert tables == 0
            await conn.execute(text("CREATE TABLE t (id int PRIMARY KEY)"))
            await conn.execute(text("INSERT INTO t VALUES (1), (2)"))
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM t")) == 2
            name = await conn.scalar(text("SELECT current_database()"))
            assert fresh_database_url.endswith(f"/{name}")
    finally:
        await engine.dispose()


async def test_create_database_is_idempotent(postgres_server: str) -> None:
    name = "kopano_idempotent_check"
    try:
        first = await pg.create_database(postgres_server, name)
        second = await pg.create_database(postgres_server, name)
        assert first == second
        assert first.startswith("postgresql+asyncpg://")
        assert first.endswith(f"/{name}")
        with pytest.raises(asyncpg.DuplicateDatabaseError):
            await pg.create_database(postgres_server, name, exist_ok=False)
        conn = await asyncpg.connect(postgres_server)
        try:
            count = await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname=$1", name)
            assert count == 1
        finally:
            await conn.close()
    finally:
        await pg.drop_database(postgres_server, name)


def test_database_names_are_checked() -> None:
    with pytest.raises(ValueError, match="invalid database name"):
        pg.check_database_name('x"; DROP DATABASE postgres; --')


def test_url_shapes() -> None:
    url = "postgresql+asyncpg://u:p@h:5/db?ssl=disable"
    assert pg.plain_url(url) == "postgresql://u:p@h:5/db?ssl=disable"
    assert pg.sqlalchemy_url("postgres://u@h:5/db") == "postgresql+asyncpg://u@h:5/db"
    assert pg.with_database(url, "other") == "postgresql+asyncpg://u:p@h:5/other?ssl=disable"


async def _consume(consumer: AIOKafkaConsumer, count: int, within: float = 20.0) -> list[Any]:
    records: list[Any] = []

    async def pull() -> None:
        while len(records) < count:
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                records.extend(messages)

    await asyncio.wait_for(pull(), within)
    return records


async def test_kafka_produce_all_acks_then_group_consume_with_manual_commit(
    kafka_bootstrap: str,
    kafka_supports_idempotence: bool,
    topic_factory: Callable[..., str],
) -> None:
    topic = topic_factory(3)
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap,
        acks="all",
        enable_idempotence=kafka_supports_idempotence,
    )
    await producer.start()
    try:
        for i in range(12):
            meta = await producer.send_and_wait(topic, f"v{i}".encode(), key=f"k{i % 4}".encode())
            assert meta.offset >= 0
    finally:
        await producer.stop()

    def consumer() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=f"{topic}.group",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # tansu holds a rejoin until the previous member's session expires.
            session_timeout_ms=3000,
            heartbeat_interval_ms=300,
        )

    first = consumer()
    await first.start()
    try:
        records = await _consume(first, 12)
        assert sorted(r.value for r in records) == sorted(f"v{i}".encode() for i in range(12))
        # Same key, same partition: per-key order is what consumers rely on.
        by_key: dict[bytes, set[int]] = {}
        for r in records:
            by_key.setdefault(r.key, set()).add(r.partition)
        assert all(len(parts) == 1 for parts in by_key.values())
        await first.commit()
    finally:
        await first.stop()

    # After the commit, the group resumes from the committed offsets: only new records.
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap,
        acks="all",
        enable_idempotence=kafka_supports_idempotence,
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"after-commit", key=b"k0")
    finally:
        await producer.stop()
    second = consumer()
    await second.start()
    try:
        records = await _consume(second, 1)
        await asyncio.sleep(0.5)
        records += [m for ms in (await second.getmany(timeout_ms=500)).values() for m in ms]
        assert [r.value for r in records] == [b"after-commit"]
    finally:
        await second.stop()


async def test_unique_topic_exists_and_is_empty(kafka_bootstrap: str, unique_topic: str) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        topics = await consumer.topics()
        assert unique_topic in topics
        assert f"{unique_topic}.dlq" in topics
        partitions = consumer.partitions_for_topic(unique_topic)
        assert partitions == {0}
    finally:
        await consumer.stop()


async def test_mongo_insert_find_and_transactions(
    mongodb_url: str, mongo_database_name: str
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url)
    try:
        db = client[mongo_database_name]
        await db.posts.insert_one({"_id": "p1", "title": "Lumela"})
        assert (await db.posts.find_one({"_id": "p1"})) == {"_id": "p1", "title": "Lumela"}

        # A state change and its outbox row commit together...
        async with client.start_session() as session, await session.start_transaction():
            await db.posts.insert_one({"_id": "p2", "title": "Khotso"}, session=session)
            await db.outbox.insert_one({"event": "post.published", "post": "p2"}, session=session)
        assert await db.posts.count_documents({"_id": "p2"}) == 1
        assert await db.outbox.count_documents({"post": "p2"}) == 1

        # ...or not at all, and nothing is visible outside the transaction before commit.
        async with client.start_session() as session:
            await session.start_transaction()
            await db.posts.insert_one({"_id": "p3"}, session=session)
            await db.outbox.insert_one({"post": "p3"}, session=session)
            assert await db.posts.count_documents({"_id": "p3"}) == 0
            await session.abort_transaction()
        assert await db.posts.count_documents({"_id": "p3"}) == 0
        assert await db.outbox.count_documents({"post": "p3"}) == 0
    finally:
        await client.close()


async def _database_names(server: str) -> set[str]:
    conn = await asyncpg.connect(server)
    try:
        return {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
    finally:
        await conn.close()


async def test_database_pool_hands_out_distinct_databases_and_drops_unused_ones(
    postgres_server: str,
) -> None:
    pool = DatabasePool(postgres_server, size=2)
    try:
        first, second = await asyncio.to_thread(pool.take), await asyncio.to_thread(pool.take)
        assert first != second
        for _ in range(300):  # wait until the two replacements exist too
            if len(pool.created) == 4:
                break
            await asyncio.sleep(0.1)
        assert set(pool.created) <= await _database_names(postgres_server)
        assert len(set(pool.created)) == 4
    finally:
        await asyncio.to_thread(pool.close)
    try:
        existing = await _database_names(postgres_server)
        assert set(pool.created) & existing == {first, second}
    finally:
        for name in (first, second):
            await pg.drop_database(postgres_server, name)
