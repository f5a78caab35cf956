"""End to end on real servers: MongoDB-protocol server, the outbox relay, the consumer, Kafka."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from content_gql import (
    CREATE_POST,
    RSVP,
    SCHEDULE,
    ContentHarness,
    event_input,
    make_settings,
    post_input,
)
from starlette.applications import Starlette

from content.app import ContentRuntime, create_app
from kopano.auth import TokenIssuer, TokenVerifier
from kopano.events import CloudEvent, from_kafka_record, to_kafka_record

pytestmark = pytest.mark.integration

ADD_COMMENT = "mutation($p: ID!, $b: String!) { addComment(postId: $p, body: $b) { id } }"
REACT = "mutation($p: ID!) { react(postId: $p, kind: LIKE) { reactionCount } }"
MODERATE = "mutation($id: ID!) { moderatePost(id: $id, approve: true) { status } }"
POST = "query($id: ID!) { post(id: $id) { status author { id } authorRemoved reactionCount } }"


@asynccontextmanager
async def running(
    mongodb_url: str, database: str, verifier: TokenVerifier, issuer: TokenIssuer, **settings: Any
) -> AsyncIterator[ContentHarness]:
    app: Starlette = create_app(
        make_settings(mongodb_url, database, **settings), token_verifier=verifier
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://content.test") as c:
            yield ContentHarness(c, app, issuer)


async def wait_until(predicate: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.05)


async def read_all(bootstrap: str, topic: str, expected: int) -> list[Any]:
    """Read from the start until `expected` records arrived, then a little longer for extras."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )
    await consumer.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(60):
            while len(records) < expected:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    records.extend(batch)
        for _ in range(3):
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


async def test_post_published_reaches_kafka_exactly_once_per_publish(
    mongodb_url: str,
    mongo_database_name: str,
    kafka_bootstrap: str,
    kafka_supports_idempotence: bool,
    unique_topic: str,
    token_verifier: TokenVerifier,
    token_issuer: TokenIssuer,
) -> None:
    async with running(
        mongodb_url,
        mongo_database_name,
        token_verifier,
        token_issuer,
        relay_enabled=True,
        post_topic=unique_topic,
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_enable_idempotence=kafka_supports_idempotence,
    ) as h:
        moderator = h.member("moderator")
        direct = await h.create_post(moderator)
        queued = await h.create_post(h.member())
        draft = await h.create_post(h.member(), submit=False)
        await h.ok(MODERATE, {"id": queued["id"]}, as_=moderator)
        runtime: ContentRuntime = h.runtime
        assert runtime.relay is not None
        await wait_until(
            lambda: runtime.relay is not None and runtime.relay.published >= 2, "relay"
        )
        records = await read_all(kafka_bootstrap, unique_topic, expected=2)
        assert await runtime.store.db.outbox.count_documents({"sent": False}) == 0

    events = [from_kafka_record(r.key, r.value, r.headers) for r in records]
    assert [e.type for e in events] == ["post.published", "post.published"]
    assert sorted(e.subject for e in events) == sorted([direct["id"], queued["id"]])
    assert draft["id"] not in {e.subject for e in events}
    assert len({e.id for e in events}) == 2
    assert all(r.key == e.subject.encode() for r, e in zip(records, events, strict=True))


async def publish(bootstrap: str, topic: str, *events: CloudEvent) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for event in events:
            key, value, headers = to_kafka_record(event)
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def test_member_erased_delivered_twice_scrubs_once(
    mongodb_url: str,
    mongo_database_name: str,
    kafka_bootstrap: str,
    kafka_supports_idempotence: bool,
    topic_factory: Callable[..., str],
    token_verifier: TokenVerifier,
    token_issuer: TokenIssuer,
) -> None:
    member_topic, org_topic = topic_factory(1, dlq=True), topic_factory(1, dlq=True)
    async with running(
        mongodb_url,
        mongo_database_name,
        token_verifier,
        token_issuer,
        consumers_enabled=True,
        member_topic=member_topic,
        organisation_topic=org_topic,
        consumer_group=f"content-{uuid.uuid4().hex[:8]}",
        consumer_session_timeout_ms=6000,
        consumer_heartbeat_interval_ms=500,
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_enable_idempotence=kafka_supports_idempotence,
    ) as h:
        moderator, leaving, staying, suspended = (
            h.member("moderator"),
            h.member(),
            h.member(),
            h.member(),
        )
        post = await h.create_post(moderator)
        own = await h.create_post(leaving)
        await h.ok(MODERATE, {"id": own["id"]}, as_=moderator)
        await h.ok(ADD_COMMENT, {"p": post["id"], "b": "My story about Leribe"}, as_=leaving)
        await h.ok(ADD_COMMENT, {"p": post["id"], "b": "Kea leboha"}, as_=staying)
        await h.ok(REACT, {"p": post["id"]}, as_=leaving)
        await h.ok(REACT, {"p": post["id"]}, as_=staying)
        event = (await h.ok(SCHEDULE, {"input": event_input(capacity=1)}, as_=moderator))[
            "scheduleEvent"
        ]
        await h.ok(RSVP, {"id": event["id"], "r": "GOING"}, as_=leaving)
        await h.ok(RSVP, {"id": event["id"], "r": "GOING"}, as_=staying)  # waitlisted
        pending = await h.create_post(suspended)
        draft = await h.create_post(suspended, submit=False)

        erased = CloudEvent.new(
            "member.erased",
            "/kopano/members",
            leaving.id,
            {"memberId": leaving.id, "erasedAt": "2026-11-27T10:00:00Z"},
        )
        suspension = CloudEvent.new(
            "member.suspended",
            "/kopano/members",
            suspended.id,
            {"memberId": suspended.id, "suspendedAt": "2026-11-27T10:00:00Z"},
        )
        # The same event twice (a redelivery keeps its ce_id), then another.
        await publish(kafka_bootstrap, member_topic, erased, erased, suspension)
        consumer = h.runtime.consumer
        assert consumer is not None
        await wait_until(lambda: consumer.processed + consumer.duplicates == 3, "3 records")
        assert (consumer.processed, consumer.duplicates) == (2, 1)

        store = h.runtime.store
        scrubbed = await h.ok(POST, {"id": own["id"]})
        assert scrubbed["post"]["author"] is None
        assert scrubbed["post"]["authorRemoved"] is True
        assert await store.posts.count_documents({"authorId": leaving.id}) == 0
        comments = [c async for c in store.comments.find({"postId": post["id"]}).sort("createdKey")]
        assert [c["body"] for c in comments] == ["[removed]", "Kea leboha"]
        assert comments[1]["authorId"] == staying.id
        assert (await h.ok(POST, {"id": post["id"]}))["post"]["reactionCount"] == 1
        assert await store.reactions.count_documents({"memberId": leaving.id}) == 0
        # Their seat went to the member waiting for it.
        rsvps = {
            r["memberId"]: r["response"] async for r in store.rsvps.find({"eventId": event["id"]})
        }
        assert rsvps == {staying.id: "GOING"}
        gathering = await store.gatherings.find_one({"_id": event["id"]})
        assert gathering is not None
        assert (gathering["going"], gathering["seatsLeft"]) == (1, 0)
        # Applied once: a second scrub would have found nothing to change, but the inbox
        # holds exactly one entry for the event.
        assert await store.db.inbox.count_documents({"_id.event_id": erased.id}) == 1

        withdrawn = await store.posts.find_one({"_id": pending["id"]})
        assert withdrawn is not None
        assert withdrawn["status"] == "DRAFT"
        untouched = await store.posts.find_one({"_id": draft["id"]})
        assert untouched is not None
        assert untouched["version"] == 1
        # And the suspended member can no longer write.
        refused = await h.gql(CREATE_POST, {"input": post_input()}, as_=suspended)
        assert refused["errors"][0]["extensions"]["reason"] == "MEMBER_SUSPENDED"
