"""Events: every published type matches its JSON Schema; the projections follow the members
service's events on a real Kafka-protocol broker (idempotently), and the outbox reaches it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from opportunities_gql import (
    APPLY,
    CLOSE,
    REVIEW,
    WITHDRAW_APPLICATION,
    Member,
    data,
    error_code,
    gql,
    investment_input,
    job_input,
    make_official,
    make_settings,
    posted,
)
from starlette.applications import Starlette

from kopano.auth import TokenIssuer, TokenVerifier
from kopano.events import CloudEvent, EventSchemas, from_kafka_record, parse_time, to_kafka_record
from opportunities.adapters import tables as t
from opportunities.app import OpportunitiesRuntime, create_app

pytestmark = pytest.mark.integration

SCHEMAS = EventSchemas(Path(__file__).resolve().parents[2] / "docs" / "events")
MEMBERS = "/kopano/members"


def outbox_event(row: Any) -> CloudEvent:
    headers = row.headers
    return CloudEvent(
        id=headers["ce_id"],
        source=headers["ce_source"],
        type=headers["ce_type"],
        subject=headers["ce_subject"],
        time=parse_time(headers["ce_time"]),
        data=orjson.loads(row.payload),
    )


@dataclass
class Stack:
    app: Starlette
    client: httpx.AsyncClient
    runtime: OpportunitiesRuntime


@asynccontextmanager
async def running(
    database_url: str, verifier: TokenVerifier, **overrides: Any
) -> AsyncIterator[Stack]:
    app = create_app(make_settings(database_url, **overrides), token_verifier=verifier)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://opportunities.test"
        ) as c:
            yield Stack(app, c, app.state.opportunities)


async def test_every_event_matches_its_schema_and_carries_no_free_text(
    migrated_database_url: str, verifier: TokenVerifier, issuer: TokenIssuer
) -> None:
    official, seeker, investor = Member(issuer), Member(issuer), Member(issuer)
    async with running(migrated_database_url, verifier) as s:
        org = await make_official(s.runtime.engine, official)
        save = (
            'mutation S($c: SearchCriteriaInput!) { saveSearch(name: "jobs", criteria: $c) { id } }'
        )
        data(await gql(s.client, save, {"c": {"kinds": ["JOB"]}}, token=seeker.token))
        job = await posted(s.client, official, job_input(org))
        inv = await posted(s.client, official, investment_input(org))
        secret = "my private cover letter"
        app = data(
            await gql(s.client, APPLY, {"id": job["id"], "message": secret}, token=seeker.token)
        )["apply"]
        data(
            await gql(s.client, REVIEW, {"id": app["id"], "d": "SHORTLISTED"}, token=official.token)
        )
        data(await gql(s.client, WITHDRAW_APPLICATION, {"id": app["id"]}, token=seeker.token))
        interest = (
            'mutation I($id: ID!) { expressInterest(opportunityId: $id, message: "keen") { id } }'
        )
        data(await gql(s.client, interest, {"id": inv["id"]}, token=investor.token))
        data(await gql(s.client, CLOSE, {"id": job["id"]}, token=official.token))
        async with s.runtime.engine.connect() as conn:
            rows = (await conn.execute(sa.select(t.outbox).order_by(t.outbox.c.id))).all()
    events = [outbox_event(row) for row in rows]
    assert sorted({e.type for e in events}) == [
        "application.status_changed",
        "application.submitted",
        "opportunity.closed",
        "opportunity.matched",
        "opportunity.published",
    ]
    for event in events:
        SCHEMAS.validate(event)
        assert event.source == "/kopano/opportunities"
        assert secret not in orjson.dumps(event.data).decode()
    matched = [e for e in events if e.type == "opportunity.matched"]
    assert [(e.subject, e.data["opportunityId"]) for e in matched] == [(str(seeker.id), job["id"])]


# --------------------------------------------------------------------------- the broker


async def produce(bootstrap: str, topic: str, events: list[CloudEvent]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for event in events:
            key, value, headers = to_kafka_record(event)
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def wait_until(predicate: Callable[[], Any], what: str, limit: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.1)


def profile_event(member: Member, skills: list[str], at: datetime, **extra: Any) -> CloudEvent:
    return CloudEvent.new(
        "member.profile_updated",
        MEMBERS,
        str(member.id),
        {
            "memberId": str(member.id),
            "countryOfResidence": "ZA",
            "districtOfOrigin": None,
            "sector": extra.get("sector"),
            "skills": skills,
            "languages": ["en"],
            "willingToMentor": False,
            "willingToInvest": extra.get("investor", False),
            "updatedAt": at.isoformat(),
        },
    )


def membership_event(
    kind: str, org: uuid.UUID, member: Member, role: str, verified: bool
) -> CloudEvent:
    at = datetime.now(UTC).isoformat()
    data: dict[str, Any] = {
        "organisationId": str(org),
        "memberId": str(member.id),
        "role": role,
        "organisationVerified": verified,
    }
    if kind == "organisation.member_joined":
        data["joinedAt"] = at
    else:
        data["changedAt"] = at
    return CloudEvent.new(kind, MEMBERS, str(org), data)


def organisation_event(kind: str, org: uuid.UUID, verified: bool) -> CloudEvent:
    stamp = {"organisation.verified": "changedAt", "organisation.removed": "removedAt"}[kind]
    return CloudEvent.new(
        kind,
        MEMBERS,
        str(org),
        {
            "organisationId": str(org),
            "name": "Ministry of Foreign Affairs",
            "type": "GOVERNMENT_AGENCY",
            "country": "LS",
            "city": "Maseru",
            "verified": verified,
            stamp: datetime.now(UTC).isoformat(),
        },
    )


RECOMMENDED = """
query E($reps: [_Any!]!) { _entities(representations: $reps) {
  ... on Member { recommendedOpportunities(first: 10) { id } savedSearches { id } applications { nodes { id message } } }
} }
"""
CAN_POST = "mutation C($input: CreateOpportunityInput!) { createOpportunity(input: $input) { id } }"


async def test_member_and_organisation_events_drive_the_projections_once(
    migrated_database_url: str,
    verifier: TokenVerifier,
    issuer: TokenIssuer,
    kafka_bootstrap: str,
    kafka_supports_idempotence: bool,
    topic_factory: Callable[..., str],
) -> None:
    member_topic, organisation_topic = topic_factory(dlq=True), topic_factory(dlq=True)
    official, seeker = Member(issuer), Member(issuer)
    org = uuid.uuid4()
    tag_a, tag_b = f"a{uuid.uuid4().hex[:8]}", f"b{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    first_profile = profile_event(seeker, [tag_a], now - timedelta(minutes=5))
    second_profile = profile_event(seeker, [tag_b], now)

    async with running(
        migrated_database_url,
        verifier,
        consumers_enabled=True,
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_enable_idempotence=kafka_supports_idempotence,
        member_topic=member_topic,
        organisation_topic=organisation_topic,
        consumer_group=f"opportunities-{uuid.uuid4().hex[:8]}",
        consumer_session_timeout_ms=6000,
        consumer_heartbeat_interval_ms=500,
    ) as s:
        consumer = s.runtime.consumer
        assert consumer is not None

        async def settled(n: int) -> Callable[[], Any]:
            async def check() -> bool:
                return consumer.processed + consumer.duplicates >= n

            return check

        # Who may post: a plain member cannot; once an OWNER of a verified organisation, can.
        joined = membership_event("organisation.member_joined", org, official, "MEMBER", True)
        await produce(kafka_bootstrap, organisation_topic, [joined])
        await wait_until(await settled(1), "the join")
        refused = await gql(s.client, CAN_POST, {"input": job_input(org)}, token=official.token)
        assert error_code(refused) == "FORBIDDEN"
        promoted = membership_event(
            "organisation.member_role_changed", org, official, "OWNER", True
        )
        await produce(kafka_bootstrap, organisation_topic, [promoted])
        await wait_until(await settled(2), "the promotion")
        job_a = await posted(s.client, official, job_input(org, skills=[tag_a]))
        job_b = await posted(s.client, official, job_input(org, skills=[tag_b]))

        # A profile update changes the recommendations.
        reps = {"reps": [{"__typename": "Member", "id": str(seeker.id)}]}

        async def recommended() -> list[str]:
            body = data(await gql(s.client, RECOMMENDED, reps, token=seeker.token))
            return [o["id"] for o in body["_entities"][0]["recommendedOpportunities"]]

        assert await recommended() == []
        await produce(kafka_bootstrap, member_topic, [first_profile])
        await wait_until(await settled(3), "the first profile")
        assert await recommended() == [job_a["id"]]
        # The newer profile, then the first one duplicated and the newer one replayed.
        await produce(
            kafka_bootstrap, member_topic, [second_profile, first_profile, second_profile]
        )
        await wait_until(await settled(6), "the second profile and the repeats")
        assert await recommended() == [job_b["id"]]
        assert consumer.duplicates == 2

        # Verification withdrawn: no more posting.
        await produce(
            kafka_bootstrap,
            organisation_topic,
            [organisation_event("organisation.verified", org, False)],
        )
        await wait_until(await settled(7), "the verification change")
        unverified = await gql(s.client, CAN_POST, {"input": job_input(org)}, token=official.token)
        assert error_code(unverified) == "FORBIDDEN"

        # Erasure: the projection, saved searches and applications' free text go.
        save = (
            'mutation S($c: SearchCriteriaInput!) { saveSearch(name: "mine", criteria: $c) { id } }'
        )
        data(await gql(s.client, save, {"c": {"skills": [tag_b]}}, token=seeker.token))
        data(
            await gql(
                s.client,
                APPLY,
                {"id": job_b["id"], "message": "personal words", "links": ["https://me.example"]},
                token=seeker.token,
            )
        )
        erased = CloudEvent.new(
            "member.erased",
            MEMBERS,
            str(seeker.id),
            {"memberId": str(seeker.id), "erasedAt": datetime.now(UTC).isoformat()},
        )
        await produce(kafka_bootstrap, member_topic, [erased, erased])
        await wait_until(await settled(9), "the erasure")
        assert consumer.dead_lettered == 0
        async with s.runtime.engine.connect() as conn:
            profile = (
                await conn.execute(
                    sa.select(t.member_profiles).where(t.member_profiles.c.member_id == seeker.id)
                )
            ).first()
            searches = (
                await conn.execute(
                    sa.select(sa.func.count()).where(t.saved_searches.c.member_id == seeker.id)
                )
            ).scalar_one()
            application = (
                await conn.execute(
                    sa.select(t.applications.c.message, t.applications.c.links).where(
                        t.applications.c.applicant_id == seeker.id
                    )
                )
            ).one()
        assert profile is None
        assert searches == 0
        assert application.message is None
        assert application.links == []
        # A late replay of an old profile event does not bring the member back.
        late = profile_event(seeker, [tag_a], datetime.now(UTC))
        await produce(kafka_bootstrap, member_topic, [late])
        await wait_until(await settled(10), "the late profile")
        assert await recommended() == []


async def test_published_events_reach_the_broker_through_the_outbox(
    migrated_database_url: str,
    verifier: TokenVerifier,
    issuer: TokenIssuer,
    kafka_bootstrap: str,
    kafka_supports_idempotence: bool,
    topic_factory: Callable[..., str],
) -> None:
    opportunity_topic, application_topic = topic_factory(), topic_factory()
    official = Member(issuer)
    async with running(
        migrated_database_url,
        verifier,
        relay_enabled=True,
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_enable_idempotence=kafka_supports_idempotence,
        opportunity_topic=opportunity_topic,
        application_topic=application_topic,
    ) as s:
        org = await make_official(s.runtime.engine, official)
        job = await posted(s.client, official, job_input(org))
        consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            tp = TopicPartition(opportunity_topic, 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            received: list[CloudEvent] = []
            deadline = asyncio.get_running_loop().time() + 30
            while not received and asyncio.get_running_loop().time() < deadline:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    received += [from_kafka_record(r.key, r.value, r.headers) for r in batch]
        finally:
            await consumer.stop()
    assert [(e.type, e.subject) for e in received] == [("opportunity.published", job["id"])]
    SCHEMAS.validate(received[0])
