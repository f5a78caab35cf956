"""Partner webhooks over HTTP: the sandbox partners and the payments service on real ports.

Duplicated, reordered and late deliveries must end where in-order delivery ends, with the same
ledger postings; bad signatures and stale timestamps are refused.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from payments_gql import REMITTANCE, Member, data, gql, quote, ready_sender, send
from payments_stack import Stack, deliver, running_stack, state_of, wait_for

from kopano.auth import TokenIssuer, TokenVerifier
from payments.adapters import tables as t
from payments.partners.signing import DELIVERY_HEADER, SIGNATURE_HEADER, sign
from payments.settings import DEV_WEBHOOK_SECRET

pytestmark = pytest.mark.integration


@pytest.fixture
async def stack(migrated_database_url: str, verifier: TokenVerifier) -> AsyncIterator[Stack]:
    async with running_stack(migrated_database_url, verifier) as s:
        yield s


async def new_remittance(stack: Stack, member: Member) -> dict[str, Any]:
    r = await ready_sender(stack.client, member, _ADMIN[0])
    q = await quote(stack.client, member, send="150000")
    sent: dict[str, Any] = data(await send(stack.client, member, q["id"], r["id"]))[
        "sendRemittance"
    ]
    await wait_for(stack, member, sent["id"], "AWAITING_FUNDS")
    return sent


_ADMIN: list[Member] = []


@pytest.fixture(autouse=True)
def _admin(issuer: TokenIssuer) -> None:
    _ADMIN[:] = [Member(issuer, roles=("member", "admin"))]


async def ledger_net(stack: Stack, remittance_id: str) -> dict[str, int]:
    """Per account, the net of every posting this transfer made."""
    e, tx = t.ledger_entries, t.ledger_transactions
    async with stack.runtime.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(e.c.account, sa.func.sum(e.c.amount))
            .select_from(e.join(tx))
            .where(tx.c.transfer_id == uuid.UUID(remittance_id))
            .group_by(e.c.account)
        )
        return {row[0]: int(row[1]) for row in rows if int(row[1]) != 0}


async def ledger_consistent(stack: Stack) -> bool:
    check = await stack.runtime.services.admin.ledger_check()
    consistent: bool = check.consistent
    return consistent


RECONCILIATION = """
query R($start: DateTime!, $end: DateTime!) {
  reconciliation(partner: "mpesa", periodStart: $start, periodEnd: $end) {
    ledgerOwed { amount } partnerReported { amount } difference { amount } matched
    ledgerTransfers reportedTransfers
  }
}
"""


async def reconcile(stack: Stack) -> dict[str, Any]:
    now = datetime.now(UTC)
    body = await gql(
        stack.client,
        RECONCILIATION,
        {
            "start": (now - timedelta(hours=1)).isoformat(),
            "end": (now + timedelta(hours=1)).isoformat(),
        },
        token=_ADMIN[0].token,
    )
    result: dict[str, Any] = data(body)["reconciliation"]
    return result


async def test_sandbox_drives_remittances_to_paid_out_over_http(
    migrated_database_url: str, verifier: TokenVerifier, issuer: TokenIssuer
) -> None:
    # Auto mode answers at once and twice per outcome: webhooks race the dispatcher.
    async with running_stack(
        migrated_database_url, verifier, sandbox_mode="auto", sandbox_copies=2
    ) as s:
        member = Member(issuer)
        r = await ready_sender(s.client, member, _ADMIN[0])
        sent = []
        for _ in range(5):
            q = await quote(s.client, member, send="50000")
            sent.append(data(await send(s.client, member, q["id"], r["id"]))["sendRemittance"])
        for remittance in sent:
            await wait_for(s, member, remittance["id"], "PAID_OUT")
        body = await gql(s.client, REMITTANCE, {"id": sent[0]["id"]}, token=member.token)
        history = [(h["from"], h["to"]) for h in data(body)["remittance"]["history"]]
        assert history == [
            ("CREATED", "AWAITING_FUNDS"),
            ("AWAITING_FUNDS", "FUNDED"),
            ("FUNDED", "PAYOUT_PENDING"),
            ("PAYOUT_PENDING", "PAID_OUT"),
        ]
        assert data(body)["remittance"]["receipt"]["paidOutAt"] is not None
        # Only the fee stays with Kopano; the partner is owed what the recipient got.
        for remittance in sent:
            assert await ledger_net(s, remittance["id"]) == {
                "payin_clearing:payin:ZAR": 51500,
                "fee_revenue:ZAR": -1500,
                "fx:ZAR": -50000,
                "fx:LSL": 50000,
                "partner_payable:mpesa:LSL": -50000,
            }
        assert await ledger_consistent(s)


async def test_duplicated_deliveries_end_as_in_order(stack: Stack, issuer: TokenIssuer) -> None:
    in_order, messy = Member(issuer), Member(issuer)
    a = await new_remittance(stack, in_order)
    b = await new_remittance(stack, messy)

    assert await deliver(stack, "payin", a, "PAYIN_COLLECTED") == [200]
    await wait_for(stack, in_order, a["id"], "PAYOUT_PENDING")
    assert await deliver(stack, "mpesa", a, "PAYOUT_CREDITED") == [200]

    # The same delivery three times, then the same outcome under a new delivery id.
    assert (
        await deliver(stack, "payin", b, "PAYIN_COLLECTED", delivery_id="d-1", copies=3)
        == [200] * 3
    )
    assert await deliver(stack, "payin", b, "PAYIN_COLLECTED") == [200]
    await wait_for(stack, messy, b["id"], "PAYOUT_PENDING")
    assert await deliver(stack, "mpesa", b, "PAYOUT_CREDITED", copies=2) == [200, 200]
    assert await deliver(stack, "mpesa", b, "PAYOUT_CREDITED") == [200]
    # A late pay-in report after the payout changes nothing.
    assert await deliver(stack, "payin", b, "PAYIN_COLLECTED") == [200]

    assert await state_of(stack, in_order, a["id"]) == "PAID_OUT"
    assert await state_of(stack, messy, b["id"]) == "PAID_OUT"
    assert await ledger_net(stack, b["id"]) == await ledger_net(stack, a["id"])
    assert await ledger_consistent(stack)
    # Repeated reports count once: the partner reported exactly what the ledger owes it.
    assert await reconcile(stack) == {
        "ledgerOwed": {"amount": "300000"},
        "partnerReported": {"amount": "300000"},
        "difference": {"amount": "0"},
        "matched": True,
        "ledgerTransfers": 2,
        "reportedTransfers": 2,
    }


async def test_reordered_and_late_bounce_end_as_in_order(stack: Stack, issuer: TokenIssuer) -> None:
    in_order, reordered = Member(issuer), Member(issuer)
    a = await new_remittance(stack, in_order)
    b = await new_remittance(stack, reordered)
    for remittance, member in ((a, in_order), (b, reordered)):
        await deliver(stack, "payin", remittance, "PAYIN_COLLECTED")
        await wait_for(stack, member, remittance["id"], "PAYOUT_PENDING")

    # In order: credited, then (late) the payout bounces back.
    await deliver(stack, "mpesa", a, "PAYOUT_CREDITED")
    await wait_for(stack, in_order, a["id"], "PAID_OUT")
    await deliver(stack, "mpesa", a, "PAYOUT_RETURNED")
    # Reordered: the bounce overtakes the credit confirmation, which arrives late and twice.
    await deliver(stack, "mpesa", b, "PAYOUT_RETURNED")
    await deliver(stack, "mpesa", b, "PAYOUT_CREDITED", copies=2)

    # Both reversed, and the dispatcher refunds the sender.
    await wait_for(stack, in_order, a["id"], "REFUNDED")
    await wait_for(stack, reordered, b["id"], "REFUNDED")
    net = await ledger_net(stack, a["id"])
    assert net == await ledger_net(stack, b["id"])
    # A reversed and refunded transfer nets to nothing anywhere.
    assert net == {}
    assert await ledger_consistent(stack)
    reconciled = await reconcile(stack)
    assert reconciled["ledgerOwed"] == reconciled["partnerReported"] == {"amount": "0"}
    assert reconciled["matched"] is True


async def test_money_arriving_after_cancel_is_refunded(stack: Stack, issuer: TokenIssuer) -> None:
    member = Member(issuer)
    a = await new_remittance(stack, member)
    cancel = "mutation C($id: ID!) { cancelRemittance(id: $id) { state } }"
    assert data(await gql(stack.client, cancel, {"id": a["id"]}, token=member.token)) == {
        "cancelRemittance": {"state": "CANCELLED"}
    }
    await deliver(stack, "payin", a, "PAYIN_COLLECTED")
    await wait_for(stack, member, a["id"], "REFUNDED")
    assert await ledger_net(stack, a["id"]) == {}
    async with httpx.AsyncClient(base_url=stack.sandbox_url) as sandbox:
        kinds = [
            (r["kind"], r["transferId"])
            for r in (await sandbox.get("/sandbox/requests")).json()["requests"]
        ]
    assert ("collection", a["id"]) in kinds


async def test_bad_signature_stale_timestamp_and_replay_are_refused(
    stack: Stack, issuer: TokenIssuer
) -> None:
    member = Member(issuer)
    a = await new_remittance(stack, member)
    body = orjson.dumps(
        {
            "transferId": a["id"],
            "outcome": "PAYIN_COLLECTED",
            "amount": a["totalCharged"]["amount"],
            "currency": "ZAR",
        }
    )

    async def post(signature: str, delivery_id: str, content: bytes = body) -> httpx.Response:
        response: httpx.Response = await stack.client.post(
            "/webhooks/payin",
            content=content,
            headers={SIGNATURE_HEADER: signature, DELIVERY_HEADER: delivery_id},
        )
        return response

    wrong_key = await post(sign(b"not the shared secret", body), "x-1")
    assert wrong_key.status_code == 401
    tampered = await post(
        sign(DEV_WEBHOOK_SECRET.encode(), body), "x-2", body.replace(b"PAYIN", b"PAYIN ")
    )
    assert tampered.status_code == 401
    assert (await post("", "x-3")).status_code == 401
    stale = await deliver(stack, "payin", a, "PAYIN_COLLECTED", timestamp=int(time.time()) - 3600)
    assert stale == [401]
    future = await post(sign(DEV_WEBHOOK_SECRET.encode(), body, int(time.time()) + 3600), "x-4")
    assert future.status_code == 401
    # The authentic delivery is applied.
    accepted = await post(sign(DEV_WEBHOOK_SECRET.encode(), body), "x-5")
    assert accepted.status_code == 200
    assert await state_of(stack, member, a["id"]) in ("FUNDED", "PAYOUT_PENDING")
    # A replay of a processed delivery (same id, freshly signed) is recognised and ignored.
    replay = await post(sign(DEV_WEBHOOK_SECRET.encode(), body), "x-5")
    assert replay.json()["status"] == "duplicate"
    async with stack.runtime.engine.connect() as conn:
        deliveries = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(t.webhook_deliveries)
                .where(t.webhook_deliveries.c.transfer_id == uuid.UUID(a["id"]))
            )
        ).scalar_one()
    assert deliveries == 1
    assert await ledger_consistent(stack)


async def test_outcomes_from_the_wrong_partner_are_refused(
    stack: Stack, issuer: TokenIssuer
) -> None:
    member = Member(issuer)
    a = await new_remittance(stack, member)
    assert await deliver(stack, "ecocash", a, "PAYOUT_CREDITED") == [400]
    assert await deliver(stack, "mpesa", a, "PAYIN_COLLECTED") == [400]
    assert await deliver(stack, "nobody", a, "PAYIN_COLLECTED") == [400]
    assert await state_of(stack, member, a["id"]) == "AWAITING_FUNDS"
