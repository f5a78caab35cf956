"""`Query.myPaymentsData`: the caller's copy of everything payments holds about them
(httpx against the ASGI app, real PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from payments_gql import (
    ADD_RECIPIENT,
    Member,
    data,
    error_code,
    gql,
    quote,
    ready_sender,
    send,
)
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette

from kopano.events import CloudEvent
from payments.adapters import tables as t
from payments.app import PaymentsRuntime
from payments.consumers import ERASED_NAME, handle_member_event
from payments.domain.compliance import SenderDetails
from payments.unit_of_work import UnitOfWorkFactory

MY_DATA = "{ myPaymentsData }"
CANCEL = "mutation C($id: ID!) { cancelRemittance(id: $id) { id state } }"
REMOVE = "mutation R($id: ID!) { removeRecipient(id: $id) }"
KINDS = ("senderDetails", "verification", "recipients", "quotes", "transfers", "idempotencyKeys")
# What the member typed in and the erasure must take away.
PERSONAL = (
    "Mathabo",
    "Mokoena",
    "50123456",
    "Palesa",
    "9876543210",
    "Thabo",
    "Nurse",
    "Long Street",
)


def runtime(app: Starlette) -> PaymentsRuntime:
    rt: PaymentsRuntime = app.state.payments
    return rt


async def my_data(client: httpx.AsyncClient, member: Member) -> dict[str, Any]:
    found: dict[str, Any] = data(await gql(client, MY_DATA, token=member.token))["myPaymentsData"]
    return found


async def add_recipient(
    client: httpx.AsyncClient, member: Member, payload: dict[str, Any]
) -> dict[str, Any]:
    found: dict[str, Any] = data(
        await gql(client, ADD_RECIPIENT, {"input": payload}, token=member.token)
    )["addRecipient"]
    return found


async def member_with_every_record(
    client: httpx.AsyncClient, member: Member, admin: Member
) -> dict[str, Any]:
    """Tier, sender details, three recipients (one removed), three quotes (one unused),
    two remittances (one cancelled) and their idempotency keys, all through the API."""
    mpesa = await ready_sender(client, member, admin)
    bank = await add_recipient(
        client,
        member,
        {
            "name": "Palesa Mohapi",
            "relationship": "SIBLING",
            "payoutMethod": "BANK_ACCOUNT",
            "bank": "FNB_LESOTHO",
            "accountNumber": "9876543210",
        },
    )
    pickup = await add_recipient(
        client,
        member,
        {
            "name": "Thabo Letsie",
            "relationship": "CHILD",
            "payoutMethod": "CASH_PICKUP",
            "pickupDistrict": "LS-J",
        },
    )
    assert data(await gql(client, REMOVE, {"id": bank["id"]}, token=member.token))
    q1 = await quote(client, member, send="30000")
    q2 = await quote(client, member, send="45000")
    unused = await quote(client, member, send="10000", method="CASH_PICKUP")
    keys = [f"export-{uuid.uuid4().hex}", f"export-{uuid.uuid4().hex}"]
    kept = data(await send(client, member, q1["id"], mpesa["id"], keys[0]))["sendRemittance"]
    cancelled = data(await send(client, member, q2["id"], mpesa["id"], keys[1], "EDUCATION"))[
        "sendRemittance"
    ]
    assert data(await gql(client, CANCEL, {"id": cancelled["id"]}, token=member.token))
    return {
        "recipients": {"mpesa": mpesa, "bank": bank, "pickup": pickup},
        "quotes": [q1, q2, unused],
        "keys": keys,
        "kept": kept,
        "cancelled": cancelled,
    }


def utc(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    assert value.utcoffset() == timedelta(0), text
    return value


async def test_sdl_marks_my_payments_data_authenticated_json(client: httpx.AsyncClient) -> None:
    sdl: str = data(await gql(client, "{ _service { sdl } }"))["_service"]["sdl"]
    line = next(line for line in sdl.splitlines() if line.strip().startswith("myPaymentsData"))
    assert line.strip().startswith("myPaymentsData: JSON!"), line
    assert "@authenticated" in line, line
    assert "Everything the payments service holds about you, as one JSON document." in sdl
    # Public operations stay public.
    quote_line = next(line for line in sdl.splitlines() if line.strip().startswith("quote("))
    assert "@authenticated" not in quote_line
    # Everything about a caller's money is for signed-in callers: the gateway refuses it
    # before planning, the resolvers check again.
    for name in (
        "remittance(",
        "myRemittances(",
        "recipient(",
        "senderDetails:",
        "sendingLimits:",
        "reconciliation(",
        "ledgerCheck:",
        "addRecipient(",
        "updateRecipient(",
        "removeRecipient(",
        "saveSenderDetails(",
        "sendRemittance(",
        "cancelRemittance(",
        "setVerificationTier(",
    ):
        found = [line for line in sdl.splitlines() if line.strip().startswith(name)]
        assert found, name
        assert all("@authenticated" in line for line in found), (name, found)


async def test_unauthenticated_callers_get_the_error_code(client: httpx.AsyncClient) -> None:
    body = await gql(client, MY_DATA)
    assert error_code(body) == "UNAUTHENTICATED"
    assert body.get("data") is None


async def test_the_caller_gets_every_kind_of_record_and_no_one_elses(
    client: httpx.AsyncClient, issuer: Any
) -> None:
    member, other = Member(issuer), Member(issuer)
    admin = Member(issuer, roles=("member", "admin"))
    mine = await member_with_every_record(client, member, admin)
    theirs = await member_with_every_record(client, other, admin)

    export = await my_data(client, member)

    assert export["service"] == "payments"
    assert export["memberId"] == str(member.id)
    assert utc(export["exportedAt"])
    assert list(export) == ["service", "memberId", "exportedAt", *KINDS]
    assert all(isinstance(export[kind], list) for kind in KINDS)

    [sender] = export["senderDetails"]
    assert sender["occupation"] == "Nurse"
    assert sender["address"] == "12 Long Street, Cape Town"
    assert sender["country"] == "ZA"
    utc(sender["updatedAt"])

    [verification] = export["verification"]
    assert verification["tier"] == "STANDARD"
    utc(verification["setAt"])
    assert verification["limits"]["perTransfer"] == {"amount": "2500000", "currency": "LSL"}
    assert verification["limits"]["monthly"] == {"amount": "15000000", "currency": "LSL"}

    by_id = {r["id"]: r for r in export["recipients"]}
    recipients = mine["recipients"]
    assert set(by_id) == {r["id"] for r in recipients.values()}
    mpesa = by_id[recipients["mpesa"]["id"]]
    assert mpesa["name"] == "'Mathabo Mokoena"
    assert mpesa["relationship"] == "PARENT"
    assert mpesa["payoutMethod"] == "MPESA"
    assert mpesa["mobileNumber"] == "+26650123456"
    assert mpesa["removedAt"] is None
    bank = by_id[recipients["bank"]["id"]]  # removed, still in the copy
    assert (bank["bank"], bank["accountNumber"]) == ("FNB_LESOTHO", "9876543210")
    assert utc(bank["removedAt"]) >= utc(bank["createdAt"])
    pickup = by_id[recipients["pickup"]["id"]]
    assert (pickup["pickupDistrict"], pickup["pickupDistrictName"]) == ("LS-J", "Mokhotlong")

    assert [q["id"] for q in export["quotes"]] == [q["id"] for q in mine["quotes"]]
    first_quote = export["quotes"][0]
    assert first_quote["sendAmount"] == {"amount": "30000", "currency": "ZAR"}
    assert first_quote["fee"] == {"amount": mine["quotes"][0]["fee"]["amount"], "currency": "ZAR"}
    assert first_quote["payoutMethod"] == "MPESA"
    utc(first_quote["expiresAt"])

    transfers = {tr["id"]: tr for tr in export["transfers"]}
    assert set(transfers) == {mine["kept"]["id"], mine["cancelled"]["id"]}
    kept = transfers[mine["kept"]["id"]]
    assert kept["reference"] == mine["kept"]["reference"]
    assert kept["state"] == "CREATED"
    assert kept["sendAmount"] == {"amount": "30000", "currency": "ZAR"}
    assert kept["fee"]["amount"] == mine["kept"]["fee"]["amount"]
    assert kept["receiveAmount"] == {"amount": "30000", "currency": "LSL"}
    assert kept["rate"] == "1"
    assert kept["purpose"] == "FAMILY_SUPPORT"
    assert kept["payoutMethod"] == "MPESA"
    assert kept["payoutPartner"] == "mpesa"
    assert kept["recipientId"] == recipients["mpesa"]["id"]
    assert kept["quoteId"] == mine["quotes"][0]["id"]
    assert kept["senderDetails"]["address"] == "12 Long Street, Cape Town"
    assert kept["history"] == []
    cancelled = transfers[mine["cancelled"]["id"]]
    assert cancelled["state"] == "CANCELLED"
    assert cancelled["purpose"] == "EDUCATION"
    [transition] = cancelled["history"]
    assert (transition["from"], transition["to"], transition["cause"]) == (
        "CREATED",
        "CANCELLED",
        "sender:cancelled",
    )
    assert utc(transition["at"]) >= utc(cancelled["createdAt"])

    assert {(k["key"], k["transferId"]) for k in export["idempotencyKeys"]} == {
        (mine["keys"][0], mine["kept"]["id"]),
        (mine["keys"][1], mine["cancelled"]["id"]),
    }

    # The other member's records are nowhere in the copy.
    text = orjson.dumps(export).decode()
    for foreign in (
        str(other.id),
        *(r["id"] for r in theirs["recipients"].values()),
        *(q["id"] for q in theirs["quotes"]),
        theirs["kept"]["id"],
        theirs["kept"]["reference"],
        *theirs["keys"],
    ):
        assert foreign not in text, foreign


async def test_a_member_with_nothing_gets_empty_lists(
    client: httpx.AsyncClient, member: Member
) -> None:
    export = await my_data(client, member)
    assert all(export[kind] == [] for kind in KINDS if kind != "verification")
    [verification] = export["verification"]
    assert verification["tier"] == "UNVERIFIED"
    assert verification["setAt"] is None


async def test_after_erasure_only_the_retained_transfer_records_remain(
    app: Starlette, client: httpx.AsyncClient, issuer: Any
) -> None:
    member, admin = Member(issuer), Member(issuer, roles=("member", "admin"))
    mine = await member_with_every_record(client, member, admin)
    before = orjson.dumps(await my_data(client, member)).decode()
    assert all(word in before for word in PERSONAL)

    event = CloudEvent.new(
        "member.erased",
        "/kopano/members",
        str(member.id),
        {"memberId": str(member.id), "erasedAt": "2026-11-27T10:00:00+00:00"},
    )
    async with runtime(app).engine.begin() as tx:
        await handle_member_event(event, tx)

    export = await my_data(client, member)
    assert export["senderDetails"] == []
    assert len(export["recipients"]) == 3
    for recipient in export["recipients"]:
        assert recipient["name"] == ERASED_NAME
        assert recipient["mobileNumber"] is None
        assert recipient["accountNumber"] is None
        assert recipient["bank"] is None
        assert recipient["pickupDistrict"] is None
        assert recipient["removedAt"] is not None
    # Remittance records are kept for the statutory period, with the sender fields recorded
    # at send time; the copy shows them because they are still held.
    assert {tr["reference"] for tr in export["transfers"]} == {
        mine["kept"]["reference"],
        mine["cancelled"]["reference"],
    }
    retained = [tr.pop("senderDetails") for tr in export["transfers"]]
    assert {r["address"] for r in retained} == {"12 Long Street, Cape Town"}
    # Nothing else the member typed in is left.
    text = orjson.dumps(export).decode()
    for word in PERSONAL:
        assert word not in text, word


async def test_the_export_reads_in_a_read_only_snapshot(payments_settings: Any) -> None:
    # One pooled connection: the unit after the snapshot reuses it and must be able to write.
    engine = create_async_engine(payments_settings.database_url, pool_size=1, max_overflow=0)
    uow = UnitOfWorkFactory(engine)
    try:
        await _snapshot_then_write(uow)
    finally:
        await engine.dispose()


async def _snapshot_then_write(uow: UnitOfWorkFactory) -> None:
    async with uow(snapshot=True) as unit:
        level = (await unit.conn.execute(sa.text("SHOW transaction_isolation"))).scalar_one()
        assert level == "repeatable read"
        with pytest.raises(sa.exc.DBAPIError, match="read-only"):
            await unit.conn.execute(
                t.sender_profiles.delete().where(t.sender_profiles.c.member_id == uuid.uuid4())
            )
        with pytest.raises(RuntimeError):
            unit.publish(CloudEvent.new("x", "/kopano/payments", "s", {}), "payments.remittance")
    member = uuid.uuid4()
    async with uow() as unit:
        level = (await unit.conn.execute(sa.text("SHOW transaction_isolation"))).scalar_one()
        assert level == "read committed"
        await unit.members.save_sender_details(
            member, SenderDetails("Teacher", "1 Main Road, Durban", "ZA"), datetime.now(UTC)
        )
        await unit.commit()
    async with uow(autocommit=True) as unit:
        assert await unit.members.sender_details(member) is not None
