"""Remittance events: every type matches its JSON Schema, carries no personal data, and
`remittance.funded` reaches a real Kafka-protocol broker through the outbox relay."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer
from payments_gql import Member, data, gql, make_settings, quote, ready_sender, send
from payments_stack import deliver, running_stack, wait_for
from starlette.applications import Starlette

from kopano.auth import TokenIssuer, TokenVerifier
from kopano.events import CloudEvent, EventSchemas, from_kafka_record, parse_time, to_kafka_record
from kopano.kafka import create_producer
from payments.adapters import tables as t
from payments.app import create_app
from payments.partners.signing import DELIVERY_HEADER, SIGNATURE_HEADER, sign
from payments.settings import DEV_WEBHOOK_SECRET

pytestmark = pytest.mark.integration

SCHEMAS = EventSchemas(Path(__file__).resolve().parents[2] / "docs" / "events")
# What must never appear in an event: the recipient's name, number and the sender's address.
PERSONAL = ("Mathabo", "Mokoena", "50123456", "Long Street", "Nurse")


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


async def test_every_remittance_event_matches_its_schema_and_has_no_personal_data(
    migrated_database_url: str, verifier: TokenVerifier, issuer: TokenIssuer
) -> None:
    admin = Member(issuer, roles=("member", "admin"))
    async with running_stack(migrated_database_url, verifier) as s:

        async def new(member: Member) -> dict[str, Any]:
            r = await ready_sender(s.client, member, admin)
            q = await quote(s.client, member, send="20000")
            sent: dict[str, Any] = data(await send(s.client, member, q["id"], r["id"]))[
                "sendRemittance"
            ]
            await wait_for(s, member, sent["id"], "AWAITING_FUNDS")
            return sent

        bounced, failed, cancelled = Member(issuer), Member(issuer), Member(issuer)
        a = await new(bounced)
        await deliver(s, "payin", a, "PAYIN_COLLECTED")
        await wait_for(s, bounced, a["id"], "PAYOUT_PENDING")
        await deliver(s, "mpesa", a, "PAYOUT_CREDITED")
        await deliver(s, "mpesa", a, "PAYOUT_RETURNED")
        await wait_for(s, bounced, a["id"], "REFUNDED")
        b = await new(failed)
        await deliver(s, "payin", b, "PAYIN_FAILED")
        await wait_for(s, failed, b["id"], "FAILED")
        c = await new(cancelled)
        cancel = "mutation C($id: ID!) { cancelRemittance(id: $id) { state } }"
        data(await gql(s.client, cancel, {"id": c["id"]}, token=cancelled.token))

        async with s.runtime.engine.connect() as conn:
            rows = (await conn.execute(sa.select(t.outbox).order_by(t.outbox.c.id))).all()
    events = [outbox_event(row) for row in rows]
    types = [e.type for e in events if e.subject == a["id"]]
    assert types == [
        "remittance.created",
        "remittance.funded",
        "remittance.paid_out",
        "remittance.reversed",
        "remittance.refunded",
    ]
    assert [e.type for e in events if e.subject == b["id"]] == [
        "remittance.created",
        "remittance.failed",
    ]
    assert [e.type for e in events if e.subject == c["id"]] == [
        "remittance.created",
        "remittance.cancelled",
    ]
    for event in events:
        SCHEMAS.validate(event)
        assert all(row.topic == "payments.remittance" for row in rows)
        text = orjson.dumps(event.data).decode()
        assert not [p for p in PERSONAL if p in text], text
    funded = next(e for e in events if e.type == "remittance.funded")
    assert funded.data["corridor"] == "ZAR-LSL"
    assert funded.data["purposeCode"] == "FAMILY_SUPPORT"
    assert funded.data["sendAmount"] == {"amount": "20000", "currency": "ZAR"}


@pytest.fixture
async def relay_app(
    migrated_database_url: str,
    verifier: TokenVerifier,
    kafka_bootstrap: str,
    kafka_supports_idempotence: bool,
    unique_topic: str,
) -> AsyncIterator[Starlette]:
    settings = make_settings(
        migrated_database_url,
        relay_enabled=True,
        remittance_topic=unique_topic,
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_enable_idempotence=kafka_supports_idempotence,
    )
    app = create_app(settings, token_verifier=verifier)
    async with app.router.lifespan_context(app):
        yield app


async def read_until(bootstrap: str, topic: str, wanted: str, subject: str) -> list[CloudEvent]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: list[CloudEvent] = []
    try:
        async with asyncio.timeout(60):
            while not any(e.type == wanted and e.subject == subject for e in seen):
                batch = await consumer.getmany(timeout_ms=500)
                for messages in batch.values():
                    seen.extend(from_kafka_record(m.key, m.value, m.headers) for m in messages)
    finally:
        await consumer.stop()
    return seen


async def test_remittance_funded_reaches_kafka(
    relay_app: Starlette, kafka_bootstrap: str, unique_topic: str, issuer: TokenIssuer
) -> None:
    member, admin = Member(issuer), Member(issuer, roles=("member", "admin"))
    transport = httpx.ASGITransport(app=relay_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://payments.test") as client:
        r = await ready_sender(client, member, admin)
        q = await quote(client, member, send="75000")
        sent = data(await send(client, member, q["id"], r["id"]))["sendRemittance"]
        # The pay-in provider reports the collection (signed, as a partner would).
        body = orjson.dumps(
            {
                "transferId": sent["id"],
                "outcome": "PAYIN_COLLECTED",
                "amount": sent["totalCharged"]["amount"],
                "currency": "ZAR",
            }
        )
        response = await client.post(
            "/webhooks/payin",
            content=body,
            headers={
                SIGNATURE_HEADER: sign(DEV_WEBHOOK_SECRET.encode(), body),
                DELIVERY_HEADER: "k-1",
            },
        )
        assert response.json()["state"] == "FUNDED"

    events = await read_until(kafka_bootstrap, unique_topic, "remittance.funded", sent["id"])
    ours = [e for e in events if e.subject == sent["id"]]
    assert [e.type for e in ours] == ["remittance.created", "remittance.funded"]
    funded = ours[1]
    SCHEMAS.validate(funded)
    assert funded.source == "/kopano/payments"
    assert funded.data["remittanceId"] == sent["id"]
    assert funded.data["receiveAmount"] == {"amount": "75000", "currency": "LSL"}


@pytest.fixture
async def consuming_app(
    migrated_database_url: str,
    verifier: TokenVerifier,
    kafka_bootstrap: str,
    kafka_supports_idempotence: bool,
    unique_topic: str,
) -> AsyncIterator[Starlette]:
    settings = make_settings(
        migrated_database_url,
        consumers_enabled=True,
        member_topic=unique_topic,
        consumer_group=f"payments-{uuid.uuid4().hex[:8]}",
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_enable_idempotence=kafka_supports_idempotence,
    )
    app = create_app(settings, token_verifier=verifier)
    async with app.router.lifespan_context(app):
        yield app


async def test_member_erased_scrubs_recipients_and_sender_details(
    consuming_app: Starlette,
    kafka_bootstrap: str,
    kafka_supports_idempotence: bool,
    unique_topic: str,
    issuer: TokenIssuer,
) -> None:
    member, admin = Member(issuer), Member(issuer, roles=("member", "admin"))
    transport = httpx.ASGITransport(app=consuming_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://payments.test") as client:
        r = await ready_sender(client, member, admin)
        q = await quote(client, member)
        sent = data(await send(client, member, q["id"], r["id"]))["sendRemittance"]

        event = CloudEvent.new(
            "member.erased",
            "/kopano/members",
            str(member.id),
            {"memberId": str(member.id), "erasedAt": "2026-11-27T10:00:00+00:00"},
        )
        producer = create_producer(
            bootstrap_servers=kafka_bootstrap, enable_idempotence=kafka_supports_idempotence
        )
        await producer.start()
        try:
            key, value, headers = to_kafka_record(event)
            # Delivered twice: the inbox makes the second one a no-op.
            for _ in range(2):
                await producer.send_and_wait(unique_topic, value, key=key, headers=headers)
        finally:
            await producer.stop()

        runtime = consuming_app.state.payments
        async with asyncio.timeout(60):
            while True:
                async with runtime.engine.connect() as conn:
                    name = (
                        await conn.execute(
                            sa.select(t.recipients.c.name).where(
                                t.recipients.c.id == uuid.UUID(r["id"])
                            )
                        )
                    ).scalar_one()
                if name == "[erased]":
                    break
                await asyncio.sleep(0.2)
        async with runtime.engine.connect() as conn:
            recipient = (
                await conn.execute(
                    sa.select(t.recipients).where(t.recipients.c.id == uuid.UUID(r["id"]))
                )
            ).one()
            profile = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(t.sender_profiles)
                    .where(t.sender_profiles.c.member_id == member.id)
                )
            ).scalar_one()
        assert recipient.mobile_number is None
        assert recipient.removed_at is not None
        assert profile == 0
        # The remittance record itself is retained.
        body = await gql(
            client,
            "query R($id: ID!) { remittance(id: $id) { reference receipt { recipientName } } }",
            {"id": sent["id"]},
            token=member.token,
        )
        assert data(body)["remittance"]["receipt"]["recipientName"] == "[erased]"
