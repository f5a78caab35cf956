"""The age of the oldest unsent outbox event (`outbox_oldest_unsent_age_seconds`), read by the
SQL and Mongo stores from real servers and exported by the relay while it drains to a real
broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from sqlalchemy import MetaData, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from kopano.events import CloudEvent
from kopano.kafka import create_producer
from kopano.outbox import (
    MongoOutbox,
    MongoOutboxStore,
    OutboxRelay,
    OutboxStore,
    SqlOutboxStore,
    add_many_to_outbox,
    outbox_table,
)

pytestmark = pytest.mark.integration

metadata = MetaData()
outbox = outbox_table(metadata)
Doc = dict[str, Any]


def _event(n: int) -> CloudEvent:
    return CloudEvent.new("member.registered", "/kopano/members", f"m-{n}", {"n": n})


def _exported(service: str) -> float | None:
    return REGISTRY.get_sample_value("outbox_oldest_unsent_age_seconds", {"service": service})


async def _wait_until(predicate: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + 60.0
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.05)


async def _drains_and_reads_zero(
    store: OutboxStore, bootstrap: str, idempotence: bool, service: str
) -> None:
    """The relay's loop publishes the backlog and its gauge falls back to 0."""
    producer = create_producer(bootstrap_servers=bootstrap, enable_idempotence=idempotence)
    relay = OutboxRelay(
        store, producer, poll_interval=0.05, backlog_interval=0.05, service_name=service
    )
    await relay.refresh_backlog()
    before = _exported(service)
    assert before is not None
    assert before >= 600.0  # the backdated rows below

    async def drained() -> bool:
        return _exported(service) == 0.0

    await relay.start()
    try:
        await _wait_until(drained, "the relay to publish and the age to read 0")
    finally:
        await relay.stop()
    assert relay.published >= 1
    status = await store.backlog_status()
    assert (status.unsent, status.oldest_age_seconds) == (0, 0.0)


@pytest.fixture
async def engine(fresh_database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(fresh_database_url)
    async with eng.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield eng
    await eng.dispose()


async def test_sql_store_reports_the_oldest_unsent_row_and_the_relay_clears_it(
    engine: AsyncEngine, kafka_bootstrap: str, kafka_supports_idempotence: bool, unique_topic: str
) -> None:
    store = SqlOutboxStore(engine, outbox, listen=False)
    empty = await store.backlog_status()
    assert (empty.unsent, empty.oldest_age_seconds) == (0, 0.0)

    async with engine.begin() as conn:
        await add_many_to_outbox(conn, [(_event(n), unique_topic) for n in range(3)])
        # Row 1 was written 20 minutes ago and already sent; rows 2 and 3 wait, written 10
        # and 5 minutes ago: the oldest *unsent* one is row 2.
        for row_id, minutes in ((1, 20), (2, 10), (3, 5)):
            await conn.execute(
                update(outbox)
                .where(outbox.c.id == row_id)
                .values(created_at=text(f"now() - interval '{minutes} minutes'"))
            )
        await conn.execute(update(outbox).where(outbox.c.id == 1).values(sent_at=text("now()")))

    status = await store.backlog_status()
    assert status.unsent == 2
    assert 600.0 <= status.oldest_age_seconds < 1200.0
    await _drains_and_reads_zero(store, kafka_bootstrap, kafka_supports_idempotence, "age-sql")


@pytest.fixture
async def db(mongodb_url: str, mongo_database_name: str) -> AsyncIterator[AsyncDatabase[Doc]]:
    client: AsyncMongoClient[Doc] = AsyncMongoClient(mongodb_url)
    database = client[mongo_database_name]
    await MongoOutbox(database).ensure_indexes()
    yield database
    await client.close()


async def test_mongo_store_reports_the_oldest_unsent_document_and_the_relay_clears_it(
    db: AsyncDatabase[Doc],
    kafka_bootstrap: str,
    kafka_supports_idempotence: bool,
    unique_topic: str,
) -> None:
    store = MongoOutboxStore(db, lease_seconds=2)
    empty = await store.backlog_status()
    assert (empty.unsent, empty.oldest_age_seconds) == (0, 0.0)

    writer = MongoOutbox(db)
    async with db.client.start_session() as session, await session.start_transaction():
        await writer.add_many([(_event(n), unique_topic) for n in range(3)], session=session)
    documents = await db.outbox.find({}, {"_id": 1}).sort("_id", 1).to_list()
    assert len(documents) == 3
    now = datetime.now(UTC)
    for doc, minutes in zip(documents, (20, 10, 5), strict=True):
        await db.outbox.update_one(
            {"_id": doc["_id"]}, {"$set": {"created_at": now - timedelta(minutes=minutes)}}
        )
    await db.outbox.update_one(
        {"_id": documents[0]["_id"]}, {"$set": {"sent": True, "sent_at": now}}
    )

    status = await store.backlog_status()
    assert status.unsent == 2
    assert 600.0 <= status.oldest_age_seconds < 1200.0
    await _drains_and_reads_zero(store, kafka_bootstrap, kafka_supports_idempotence, "age-mongo")
