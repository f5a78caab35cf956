"""The payments GraphQL API over HTTP (httpx against the ASGI app, real PostgreSQL)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from payments_gql import (
    ADD_RECIPIENT,
    QUOTE,
    REMITTANCE,
    SENDER,
    SET_TIER,
    Member,
    add_mpesa_recipient,
    data,
    error_code,
    error_field,
    gql,
    quote,
    ready_sender,
    send,
)
from starlette.applications import Starlette

from kopano.auth import TokenIssuer
from payments.adapters import tables as t
from payments.app import PaymentsRuntime


def runtime(app: Starlette) -> PaymentsRuntime:
    rt: PaymentsRuntime = app.state.payments
    return rt


# ------------------------------------------------------------------ quotes


async def test_quote_by_send_amount_shows_fee_rate_total_and_payout(
    client: httpx.AsyncClient,
) -> None:
    q = await quote(client, None, send="100000", currency="ZAR", method="MPESA")
    # 1000.00 ZAR at 1:1, fee 10.00 + 1 % = 20.00, recipient gets exactly 1000.00 LSL.
    assert q["sendAmount"] == {"amount": "100000", "currency": "ZAR", "formatted": "1000.00 ZAR"}
    assert q["fee"]["amount"] == "2000"
    assert q["totalCharged"]["amount"] == "102000"
    assert q["receiveAmount"] == {"amount": "100000", "currency": "LSL", "formatted": "1000.00 LSL"}
    assert q["rate"] == "1"
    assert q["feePercentage"] == "1.00"


async def test_quote_by_receive_amount_pays_at_least_that(client: httpx.AsyncClient) -> None:
    q = await quote(client, None, send=None, receive="500000", currency="GBP", method="ECOCASH")
    assert q["receiveAmount"]["currency"] == "LSL"
    assert int(q["receiveAmount"]["amount"]) >= 500_000
    assert q["sendAmount"]["currency"] == "GBP"


async def test_amounts_beyond_32_bits_are_exact(client: httpx.AsyncClient) -> None:
    q = await quote(client, None, send="987654321012", currency="ZAR")
    assert q["sendAmount"]["amount"] == "987654321012"
    assert q["receiveAmount"]["amount"] == "987654321012"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"sendCurrency": "ZAR", "payoutMethod": "MPESA"}, "sendAmount"),
        (
            {
                "sendCurrency": "ZAR",
                "payoutMethod": "MPESA",
                "sendAmount": "1",
                "receiveAmount": "1",
            },
            "sendAmount",
        ),
        ({"sendCurrency": "ZAR", "payoutMethod": "MPESA", "sendAmount": "12.50"}, "sendAmount"),
        ({"sendCurrency": "ZAR", "payoutMethod": "MPESA", "sendAmount": "-5"}, "sendAmount"),
        ({"sendCurrency": "ZAR", "payoutMethod": "MPESA", "sendAmount": "0"}, "sendAmount"),
        ({"sendCurrency": "XYZ", "payoutMethod": "MPESA", "sendAmount": "100"}, "currency"),
        ({"sendCurrency": "LSL", "payoutMethod": "MPESA", "sendAmount": "100"}, "currency"),
        (
            {"sendCurrency": "ZAR", "payoutMethod": "MPESA", "sendAmount": "99999999999999999"},
            "sendAmount",
        ),
    ],
)
async def test_bad_quote_input_is_refused(
    client: httpx.AsyncClient, payload: dict[str, Any], field: str
) -> None:
    body = await gql(client, QUOTE, {"input": payload})
    assert error_code(body) == "BAD_USER_INPUT"
    assert error_field(body) == field


async def test_unknown_payout_method_is_a_graphql_input_error(client: httpx.AsyncClient) -> None:
    body = await gql(
        client,
        QUOTE,
        {"input": {"sendCurrency": "ZAR", "payoutMethod": "PIGEON", "sendAmount": "1"}},
    )
    assert error_code(body) == "BAD_USER_INPUT"


# ------------------------------------------------------------------ recipients

RECIPIENTS = "query { recipients { id name mobileNumber } }"
UPDATE = """
mutation U($id: ID!, $input: RecipientInput!) { updateRecipient(id: $id, input: $input) {
  id name payoutMethod mobileNumber bank accountNumber } }
"""
REMOVE = "mutation X($id: ID!) { removeRecipient(id: $id) }"


async def test_recipient_crud_with_normalised_lesotho_mobile(
    client: httpx.AsyncClient, member: Member
) -> None:
    r = await add_mpesa_recipient(client, member)
    assert r["mobileNumber"] == "+26650123456"
    assert r["name"] == "'Mathabo Mokoena"
    listed = data(await gql(client, RECIPIENTS, token=member.token))["recipients"]
    assert [x["id"] for x in listed] == [r["id"]]

    updated = data(
        await gql(
            client,
            UPDATE,
            {
                "id": r["id"],
                "input": {
                    "name": "Mathabo Mokoena",
                    "relationship": "PARENT",
                    "payoutMethod": "BANK_ACCOUNT",
                    "bank": "STANDARD_LESOTHO_BANK",
                    "accountNumber": "9080 1234 567",
                },
            },
            token=member.token,
        )
    )["updateRecipient"]
    assert updated["payoutMethod"] == "BANK_ACCOUNT"
    assert updated["accountNumber"] == "90801234567"
    assert updated["mobileNumber"] is None

    assert data(await gql(client, REMOVE, {"id": r["id"]}, token=member.token))["removeRecipient"]
    assert data(await gql(client, RECIPIENTS, token=member.token))["recipients"] == []


async def test_cash_pickup_recipient_names_the_district(
    client: httpx.AsyncClient, member: Member
) -> None:
    body = await gql(
        client,
        ADD_RECIPIENT,
        {
            "input": {
                "name": "Thabo Letsie",
                "relationship": "SIBLING",
                "payoutMethod": "CASH_PICKUP",
                "pickupDistrict": "LS-J",
            }
        },
        token=member.token,
    )
    assert data(body)["addRecipient"]["pickupDistrictName"] == "Mokhotlong"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"mobileNumber": "+27 82 555 0101"}, "mobileNumber"),  # South African, not Lesotho
        ({"mobileNumber": "+266 5012 345"}, "mobileNumber"),  # 7 digits
        ({"mobileNumber": "+266 2231 2345"}, "mobileNumber"),  # a landline
        ({"mobileNumber": None}, "mobileNumber"),
        ({"name": "X"}, "name"),
        ({"name": "Robert'); DROP TABLE recipients;--"}, "name"),
        ({"payoutMethod": "BANK_ACCOUNT"}, "accountNumber"),
        (
            {"payoutMethod": "CASH_PICKUP", "mobileNumber": None, "pickupDistrict": "LS-Z"},
            "pickupDistrict",
        ),
        ({"payoutMethod": "CASH_PICKUP"}, "pickupDistrict"),
    ],
)
async def test_bad_recipients_are_refused(
    client: httpx.AsyncClient, member: Member, overrides: dict[str, Any], field: str
) -> None:
    payload: dict[str, Any] = {
        "name": "Palesa Ramakatane",
        "relationship": "CHILD",
        "payoutMethod": "MPESA",
        "mobileNumber": "+266 6212 3456",
    }
    payload.update(overrides)
    body = await gql(client, ADD_RECIPIENT, {"input": payload}, token=member.token)
    assert error_code(body) == "BAD_USER_INPUT"
    assert error_field(body) == field


async def test_recipients_are_private(
    client: httpx.AsyncClient, member: Member, issuer: TokenIssuer
) -> None:
    r = await add_mpesa_recipient(client, member)
    other = Member(issuer)
    body = await gql(
        client,
        "query Q($id: ID!) { recipient(id: $id) { id } }",
        {"id": r["id"]},
        token=other.token,
    )
    assert error_code(body) == "NOT_FOUND"
    assert error_code(await gql(client, REMOVE, {"id": r["id"]}, token=other.token)) == "NOT_FOUND"
    assert error_code(await gql(client, RECIPIENTS)) == "UNAUTHENTICATED"
    assert error_code(await gql(client, RECIPIENTS, token="not-a-token")) == "UNAUTHENTICATED"


# ------------------------------------------------------------------ sender details and tiers


async def test_sender_details_are_validated(client: httpx.AsyncClient, member: Member) -> None:
    bad = await gql(
        client,
        SENDER,
        {"input": {"occupation": "Nurse", "address": "x", "country": "ZA"}},
        token=member.token,
    )
    assert error_field(bad) == "address"
    good = await gql(
        client,
        SENDER,
        {
            "input": {
                "occupation": " Civil  engineer ",
                "address": "4 Kloof St, Cape Town",
                "country": "za",
            }
        },
        token=member.token,
    )
    assert data(good)["saveSenderDetails"] == {
        "occupation": "Civil engineer",
        "address": "4 Kloof St, Cape Town",
        "country": "ZA",
    }


async def test_only_admins_set_tiers(client: httpx.AsyncClient, member: Member) -> None:
    body = await gql(client, SET_TIER, {"m": str(member.id), "t": "ENHANCED"}, token=member.token)
    assert error_code(body) == "FORBIDDEN"


# ------------------------------------------------------------------ sending


async def test_unverified_members_cannot_send(client: httpx.AsyncClient, member: Member) -> None:
    await gql(
        client,
        SENDER,
        {"input": {"occupation": "Nurse", "address": "12 Long Street, Cape Town", "country": "ZA"}},
        token=member.token,
    )
    r = await add_mpesa_recipient(client, member)
    q = await quote(client, member)
    body = await send(client, member, q["id"], r["id"])
    assert error_code(body) == "FORBIDDEN"
    assert error_field(body) == "verificationTier"


async def test_send_records_a_remittance_with_receipt_and_event(
    app: Starlette, client: httpx.AsyncClient, member: Member, admin: Member
) -> None:
    r = await ready_sender(client, member, admin)
    q = await quote(client, member, send="250000")
    sent = data(await send(client, member, q["id"], r["id"], purpose="EDUCATION"))["sendRemittance"]
    assert sent["state"] == "CREATED"
    assert sent["purpose"] == "EDUCATION"
    assert sent["cancellable"] is True
    assert sent["totalCharged"]["amount"] == str(250000 + 1000 + 2500)
    receipt = sent["receipt"]
    assert receipt["reference"] == sent["reference"]
    assert sent["reference"].startswith("KP")
    assert receipt["recipientName"] == "'Mathabo Mokoena"
    assert receipt["recipientDestination"] == "+266 •••• 3456"
    assert receipt["rate"] == "1"

    async with runtime(app).engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(t.transfers).where(t.transfers.c.id == uuid.UUID(sent["id"]))
            )
        ).one()
        events = (await conn.execute(sa.select(t.outbox).where(t.outbox.c.key == sent["id"]))).all()
    assert (row.sender_occupation, row.sender_country) == ("Nurse", "ZA")
    assert [e.type for e in events] == ["remittance.created"]
    payload = events[0].payload.decode()
    assert "Mathabo" not in payload
    assert "5012" not in payload
    assert "Long Street" not in payload


async def test_idempotency_same_request_same_transfer_different_request_conflict(
    client: httpx.AsyncClient, member: Member, admin: Member
) -> None:
    r = await ready_sender(client, member, admin)
    q = await quote(client, member)
    key = f"idem-{uuid.uuid4().hex}"
    first = data(await send(client, member, q["id"], r["id"], key))["sendRemittance"]
    again = data(await send(client, member, q["id"], r["id"], key))["sendRemittance"]
    assert again["id"] == first["id"]
    changed = await send(client, member, q["id"], r["id"], key, purpose="GIFT")
    assert error_code(changed) == "CONFLICT"
    assert error_field(changed) == "idempotencyKey"
    # A quote is single use: a new key for the same quote is refused too.
    reused = await send(client, member, q["id"], r["id"])
    assert error_code(reused) == "CONFLICT"
    assert error_field(reused) == "quoteId"


async def test_bad_sends_are_refused(
    app: Starlette, client: httpx.AsyncClient, member: Member, admin: Member, issuer: TokenIssuer
) -> None:
    r = await ready_sender(client, member, admin)
    q = await quote(client, member)
    assert error_code(await send(client, member, q["id"], r["id"], key="short")) == "BAD_USER_INPUT"
    assert error_code(await send(client, member, str(uuid.uuid4()), r["id"])) == "NOT_FOUND"
    assert error_code(await send(client, member, "not-an-id", r["id"])) == "NOT_FOUND"
    assert error_code(await send(client, member, q["id"], str(uuid.uuid4()))) == "NOT_FOUND"
    # Another member's quote is not found for this member.
    other = Member(issuer)
    other_quote = await quote(client, other)
    assert error_code(await send(client, member, other_quote["id"], r["id"])) == "NOT_FOUND"
    # Payout method of quote and recipient must agree.
    cash = await quote(client, member, method="CASH_PICKUP")
    mismatch = await send(client, member, cash["id"], r["id"])
    assert error_code(mismatch) == "BAD_USER_INPUT"
    # An expired quote.
    async with runtime(app).engine.begin() as conn:
        await conn.execute(
            t.quotes.update()
            .where(t.quotes.c.id == uuid.UUID(q["id"]))
            .values(expires_at=sa.func.now() - sa.text("interval '1 second'"))
        )
    expired = await send(client, member, q["id"], r["id"])
    assert error_code(expired) == "CONFLICT"
    assert error_field(expired) == "quoteId"
    assert error_code(await send(client, Member(issuer), q["id"], r["id"])) in (
        "FORBIDDEN",
        "NOT_FOUND",
    )


async def test_per_transfer_limit_by_tier(
    client: httpx.AsyncClient, member: Member, admin: Member
) -> None:
    r = await ready_sender(client, member, admin, tier="BASIC")
    big = await quote(client, member, send="600000")  # 6000 LSL > BASIC's 5000 per transfer
    body = await send(client, member, big["id"], r["id"])
    assert error_code(body) == "FORBIDDEN"
    assert "per-transfer" in body["errors"][0]["message"]
    await gql(client, SET_TIER, {"m": str(member.id), "t": "STANDARD"}, token=admin.token)
    big2 = await quote(client, member, send="600000")
    assert (
        data(await send(client, member, big2["id"], r["id"]))["sendRemittance"]["state"]
        == "CREATED"
    )
    limits = data(
        await gql(
            client,
            "query { sendingLimits { tier perTransfer { amount } usedToday { amount } } }",
            token=member.token,
        )
    )["sendingLimits"]
    assert limits == {
        "tier": "STANDARD",
        "perTransfer": {"amount": "2500000"},
        "usedToday": {"amount": "600000"},
    }


CANCEL = "mutation C($id: ID!) { cancelRemittance(id: $id) { id state cancellable history { from to cause } } }"


async def test_cancel_until_payout_starts(
    client: httpx.AsyncClient, member: Member, admin: Member, issuer: TokenIssuer
) -> None:
    r = await ready_sender(client, member, admin)
    sent = data(await send(client, member, (await quote(client, member))["id"], r["id"]))[
        "sendRemittance"
    ]
    assert (
        error_code(await gql(client, CANCEL, {"id": sent["id"]}, token=Member(issuer).token))
        == "NOT_FOUND"
    )
    cancelled = data(await gql(client, CANCEL, {"id": sent["id"]}, token=member.token))[
        "cancelRemittance"
    ]
    assert cancelled["state"] == "CANCELLED"
    assert cancelled["history"] == [
        {"from": "CREATED", "to": "CANCELLED", "cause": "sender:cancelled"}
    ]
    again = await gql(client, CANCEL, {"id": sent["id"]}, token=member.token)
    assert error_code(again) == "CONFLICT"


async def test_remittance_is_visible_to_its_sender_and_admins_only(
    client: httpx.AsyncClient, member: Member, admin: Member, issuer: TokenIssuer
) -> None:
    r = await ready_sender(client, member, admin)
    sent = data(await send(client, member, (await quote(client, member))["id"], r["id"]))[
        "sendRemittance"
    ]
    mine = data(await gql(client, REMITTANCE, {"id": sent["id"]}, token=member.token))["remittance"]
    assert mine["reference"] == sent["reference"]
    assert data(await gql(client, REMITTANCE, {"id": sent["id"]}, token=admin.token))["remittance"]
    assert (
        error_code(await gql(client, REMITTANCE, {"id": sent["id"]}, token=Member(issuer).token))
        == "NOT_FOUND"
    )
    assert error_code(await gql(client, REMITTANCE, {"id": sent["id"]})) == "UNAUTHENTICATED"


async def test_my_remittances_pages_newest_first(
    client: httpx.AsyncClient, member: Member, admin: Member
) -> None:
    r = await ready_sender(client, member, admin)
    ids = []
    for _ in range(3):
        q = await quote(client, member, send="1000")
        ids.append(data(await send(client, member, q["id"], r["id"]))["sendRemittance"]["id"])
    page = "query P($after: ID) { myRemittances(first: 2, after: $after) { id } }"
    first = data(await gql(client, page, {}, token=member.token))["myRemittances"]
    rest = data(await gql(client, page, {"after": first[-1]["id"]}, token=member.token))[
        "myRemittances"
    ]
    assert [x["id"] for x in first + rest] == list(reversed(ids))


ENTITIES = """
query E($reps: [_Any!]!) { _entities(representations: $reps) {
  ... on Member { id remittances { id reference } recipients { id } } } }
"""


async def test_member_entity_shows_remittances_to_the_member_only(
    client: httpx.AsyncClient, member: Member, admin: Member, issuer: TokenIssuer
) -> None:
    r = await ready_sender(client, member, admin)
    sent = data(await send(client, member, (await quote(client, member))["id"], r["id"]))[
        "sendRemittance"
    ]
    reps = {"reps": [{"__typename": "Member", "id": str(member.id)}]}
    own = data(await gql(client, ENTITIES, reps, token=member.token))["_entities"][0]
    assert [x["id"] for x in own["remittances"]] == [sent["id"]]
    assert [x["id"] for x in own["recipients"]] == [r["id"]]
    other = data(await gql(client, ENTITIES, reps, token=Member(issuer).token))["_entities"][0]
    assert other["remittances"] is None
    assert other["recipients"] is None


async def test_admin_queries_need_the_admin_role(
    client: httpx.AsyncClient, member: Member, admin: Member
) -> None:
    rec = """query { reconciliation(partner: "mpesa", periodStart: "2026-01-01T00:00:00Z",
      periodEnd: "2026-02-01T00:00:00Z") { ledgerOwed { amount } partnerReported { amount } matched } }"""
    assert error_code(await gql(client, rec, token=member.token)) == "FORBIDDEN"
    result = data(await gql(client, rec, token=admin.token))["reconciliation"]
    assert result == {
        "ledgerOwed": {"amount": "0"},
        "partnerReported": {"amount": "0"},
        "matched": True,
    }
    bad = rec.replace('"mpesa"', '"nobody"')
    assert error_field(await gql(client, bad, token=admin.token)) == "partner"
    check = "query { ledgerCheck { consistent mismatchedAccounts } }"
    assert error_code(await gql(client, check, token=member.token)) == "FORBIDDEN"
    assert data(await gql(client, check, token=admin.token))["ledgerCheck"]["consistent"] is True
