"""End to end on real servers: PostgreSQL, the outbox relay and a Kafka-protocol broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer
from members_gql import gql, make_settings, register
from sqlalchemy.engine import Connection
from starlette.applications import Starlette

from kopano.events import from_kafka_record
from members.adapters import tables as t
from members.app import MembersRuntime

pytestmark = pytest.mark.integration


@pytest.fixture
async def relay_app(
    migrated_database_url: str,
    signing_key_pem: str,
    kafka_bootstrap: str,
    kafka_supports_idempotence: bool,
    unique_topic: str,
) -> AsyncIterator[Starlette]:
    settings = make_settings(
        migrated_database_url,
        signing_key_pem,
        relay_enabled=True,
        member_topic=unique_topic,
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_enable_idempotence=kafka_supports_idempotence,
    )
    from members.app import create_app

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


async def read_all(bootstrap: str, topic: str, expected: int) -> list[Any]:
    """Read the topic from the start until `expected` records arrived, then a little longer
    to catch duplicates."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(60):
            while len(records) < expected:
                batch = await consumer.getmany(timeout_ms=500)
                for messages in batch.values():
                    records.extend(messages)
        # Anything extra would be a duplicate publication.
        for _ in range(3):
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                records.extend(messages)
    finally:
        await consumer.stop()
    return records


async def test_registration_commits_and_publishes_exactly_one_cloudevent(
    relay_app: Starlette, kafka_bootstrap: str, unique_topic: str
) -> None:
    transport = httpx.ASGITransport(app=relay_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://members.test") as client:
        member = await register(client)

    records = await read_all(kafka_bootstrap, unique_topic, expected=1)
    assert len(records) == 1
    record = records[0]
    assert record.key == member["id"].encode()
    headers = dict(record.headers)
    assert headers["ce_type"] == b"member.registered"
    assert headers["ce_specversion"] == b"1.0"
    event = from_kafka_record(record.key, record.value, record.headers)
    assert event.type == "member.registered"
    assert event.subject == member["id"]
    assert event.data["memberId"] == member["id"]
    assert event.data["countryOfResidence"] == "ZA"
    assert member["email"].encode() not in record.value

    runtime: MembersRuntime = relay_app.state.members
    async with runtime.engine.connect() as conn:
        stored = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(t.members)
            .where(t.members.c.id == uuid.UUID(member["id"]))
        )
        unsent = await conn.scalar(
            sa.select(sa.func.count()).select_from(t.outbox).where(t.outbox.c.sent_at.is_(None))
        )
    assert stored == 1
    # The relay marks the row sent only after the broker acknowledged it; give it a moment.
    for _ in range(50):
        if unsent == 0:
            break
        await asyncio.sleep(0.1)
        async with runtime.engine.connect() as conn:
            unsent = await conn.scalar(
                sa.select(sa.func.count()).select_from(t.outbox).where(t.outbox.c.sent_at.is_(None))
            )
    assert unsent == 0


ENTITIES = """
query E($representations: [_Any!]!) {
  _entities(representations: $representations) { ... on Member { id countryOfResidence } }
}
"""


async def test_entities_are_resolved_in_one_query_per_batch(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    members = [await register(client) for _ in range(5)]
    missing = str(uuid.uuid4())
    representations = [{"__typename": "Member", "id": m["id"]} for m in members]
    representations.insert(2, {"__typename": "Member", "id": missing})

    runtime: MembersRuntime = app.state.members
    statements: list[str] = []

    def record(conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM members" in statement:
            statements.append(statement)

    sa.event.listen(runtime.engine.sync_engine, "before_cursor_execute", record)
    try:
        body = await gql(client, ENTITIES, {"representations": representations})
    finally:
        sa.event.remove(runtime.engine.sync_engine, "before_cursor_execute", record)

    assert "errors" not in body, body
    entities = body["data"]["_entities"]
    assert [e["id"] if e else None for e in entities] == [
        members[0]["id"],
        members[1]["id"],
        None,
        members[2]["id"],
        members[3]["id"],
        members[4]["id"],
    ]
    assert len(statements) == 1, statements


async def test_service_sdl_declares_the_member_entity(client: httpx.AsyncClient) -> None:
    body = await gql(client, "{ _service { sdl } }")
    sdl = body["data"]["_service"]["sdl"]
    assert '@key(fields: "id")' in sdl
    assert "type Member" in sdl
    assert orjson.dumps(sdl)  # plain string


async def test_protected_operations_are_marked_authenticated_for_the_gateway(
    client: httpx.AsyncClient,
) -> None:
    sdl = (await gql(client, "{ _service { sdl } }"))["data"]["_service"]["sdl"]
    for operation in ("me:", "myData:", "eraseMe(", "members(", "auditLog(", "updateProfile("):
        line = next(line for line in sdl.splitlines() if line.strip().startswith(operation))
        assert "@authenticated" in line, line
    for public in ("register(", "login(", "diasporaStatistics:", "organisations("):
        line = next(line for line in sdl.splitlines() if line.strip().startswith(public))
        assert "@authenticated" not in line, line
