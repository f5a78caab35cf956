"""The payments service's metrics on /metrics: unfinished transfers per state with the age of
the longest waiting one (from the index the migration adds), and webhook deliveries by partner
and outcome. The service and the sandbox partners run on real ports over a migrated database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from payments_gql import Member, quote, ready_sender, send
from payments_stack import Stack, deliver, running_stack, wait_for
from prometheus_client.parser import text_string_to_metric_families

from kopano.auth import TokenIssuer, TokenVerifier
from payments.adapters import tables as t
from payments.partners.signing import DELIVERY_HEADER, SIGNATURE_HEADER, sign
from payments.settings import DEV_WEBHOOK_SECRET

pytestmark = pytest.mark.integration

OPEN = ("CREATED", "AWAITING_FUNDS", "FUNDED", "PAYOUT_PENDING")


@pytest.fixture
async def stack(migrated_database_url: str, verifier: TokenVerifier) -> AsyncIterator[Stack]:
    async with running_stack(migrated_database_url, verifier) as s:
        yield s


async def scrape(stack: Stack) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the service's /metrics, keyed by name and labels."""
    response = await stack.client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def sample(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def new_remittance(stack: Stack, member: Member, admin: Member) -> dict[str, Any]:
    recipient = await ready_sender(stack.client, member, admin)
    q = await quote(stack.client, member, send="150000")
    body = await send(stack.client, member, q["id"], recipient["id"])
    sent: dict[str, Any] = body["data"]["sendRemittance"]
    await wait_for(stack, member, sent["id"], "AWAITING_FUNDS")
    return sent


async def backdate(stack: Stack, remittance_id: str, minutes: int) -> None:
    """As if the transfer had entered its state `minutes` ago."""
    async with stack.runtime.engine.begin() as conn:
        await conn.execute(
            t.transfers.update()
            .where(t.transfers.c.id == uuid.UUID(remittance_id))
            .values(updated_at=sa.text(f"now() - interval '{minutes} minutes'"))
        )


async def test_unfinished_transfers_are_counted_per_state_with_the_oldest_age(
    stack: Stack, issuer: TokenIssuer
) -> None:
    metrics = stack.runtime.transfer_metrics
    assert metrics.running  # the periodic task started with the app
    assert await metrics.refresh() == dict.fromkeys(OPEN, (0, 0.0))

    member, admin = Member(issuer), Member(issuer, roles=("member", "admin"))
    waiting = await new_remittance(stack, member, admin)
    paying = await new_remittance(stack, member, admin)
    await deliver(stack, "payin", paying, "PAYIN_COLLECTED")
    await wait_for(stack, member, paying["id"], "PAYOUT_PENDING")
    await backdate(stack, waiting["id"], 90)
    await backdate(stack, paying["id"], 45)

    figures = await metrics.refresh()
    assert {state: count for state, (count, _) in figures.items()} == {
        "CREATED": 0,
        "AWAITING_FUNDS": 1,
        "FUNDED": 0,
        "PAYOUT_PENDING": 1,
    }
    samples = await scrape(stack)
    assert sample(samples, "payments_transfers_open", state="PAYOUT_PENDING") == 1
    assert sample(samples, "payments_transfers_open", state="AWAITING_FUNDS") == 1
    assert sample(samples, "payments_transfers_open", state="FUNDED") == 0
    pending_age = sample(samples, "payments_transfers_oldest_age_seconds", state="PAYOUT_PENDING")
    awaiting_age = sample(samples, "payments_transfers_oldest_age_seconds", state="AWAITING_FUNDS")
    assert 45 * 60 <= pending_age < 90 * 60
    assert 90 * 60 <= awaiting_age < 135 * 60
    assert sample(samples, "payments_transfers_oldest_age_seconds", state="CREATED") == 0

    # Paid out: it leaves the open states and PAYOUT_PENDING reads 0 again.
    await deliver(stack, "mpesa", paying, "PAYOUT_CREDITED")
    await wait_for(stack, member, paying["id"], "PAID_OUT")
    await metrics.refresh()
    samples = await scrape(stack)
    assert sample(samples, "payments_transfers_open", state="PAYOUT_PENDING") == 0
    assert sample(samples, "payments_transfers_oldest_age_seconds", state="PAYOUT_PENDING") == 0
    assert sample(samples, "payments_transfers_open", state="AWAITING_FUNDS") == 1


async def test_the_transfer_query_reads_only_the_open_state_index(stack: Stack) -> None:
    query = stack.runtime.transfer_metrics.query
    sql = str(query.compile(stack.runtime.engine, compile_kwargs={"literal_binds": True}))
    async with stack.runtime.engine.connect() as conn:
        # With sequential scans priced out, the planner shows whether the partial index can
        # answer the query at all (its predicate must follow from the query's WHERE).
        await conn.execute(sa.text("SET enable_seqscan = off"))
        plan = (await conn.execute(sa.text(f"EXPLAIN (FORMAT JSON) {sql}"))).scalar_one()
    text = plan if isinstance(plan, str) else orjson.dumps(plan).decode()
    assert "ix_transfers_open_state" in text
    assert '"Seq Scan"' not in text


async def test_webhook_deliveries_are_counted_by_partner_and_outcome(
    stack: Stack, issuer: TokenIssuer
) -> None:
    before = await scrape(stack)
    member, admin = Member(issuer), Member(issuer, roles=("member", "admin"))
    a = await new_remittance(stack, member, admin)
    assert await deliver(stack, "payin", a, "PAYIN_COLLECTED", delivery_id="d-1", copies=2) == [
        200,
        200,
    ]
    body = orjson.dumps(
        {
            "transferId": a["id"],
            "outcome": "PAYIN_COLLECTED",
            "amount": a["totalCharged"]["amount"],
            "currency": "ZAR",
        }
    )

    async def post(partner: str, signature: str, content: bytes = body) -> httpx.Response:
        response: httpx.Response = await stack.client.post(
            f"/webhooks/{partner}",
            content=content,
            headers={SIGNATURE_HEADER: signature, DELIVERY_HEADER: uuid.uuid4().hex},
        )
        return response

    assert (await post("payin", sign(b"not the shared secret", body))).status_code == 401
    assert (await post("payin", sign(b"not the shared secret", body))).status_code == 401
    # A made-up partner in the URL: refused, and counted under `unknown`, not its own label.
    made_up = f"partner-{uuid.uuid4().hex[:8]}"
    assert (await post(made_up, sign(DEV_WEBHOOK_SECRET.encode(), body))).status_code == 400
    too_large = b"x" * (64 * 1024 + 1)
    assert (await post("mpesa", "t=0,v1=00", too_large)).status_code == 413

    after = await scrape(stack)
    name = "payments_webhook_deliveries_total"

    def delta(partner: str, outcome: str) -> float:
        return sample(after, name, partner=partner, outcome=outcome) - sample(
            before, name, partner=partner, outcome=outcome
        )

    assert delta("payin", "applied") == 1
    assert delta("payin", "duplicate") == 1
    assert delta("payin", "unauthentic") == 2
    assert delta("unknown", "rejected") == 1
    assert delta("mpesa", "too_large") == 1
    assert not any(made_up in str(labels) for _, labels in after)
