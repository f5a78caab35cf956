"""Connections, blocking and the per-field visibility matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from members_gql import error_code, error_field, gql, outbox_event, signed_up
from starlette.applications import Starlette

from kopano.events import EventSchemas
from members.adapters import tables as t

SCHEMAS = EventSchemas(Path(__file__).resolve().parents[2] / "docs" / "events")

REQUEST = """
mutation R($id: ID!) { requestConnection(memberId: $id) { id accepted requestedByMe member { id } } }
"""
ACCEPT = "mutation A($id: ID!) { acceptConnection(memberId: $id) { id accepted } }"
DECLINE = "mutation D($id: ID!) { declineConnection(memberId: $id) }"
CANCEL = "mutation C($id: ID!) { cancelConnectionRequest(memberId: $id) }"
REMOVE = "mutation R($id: ID!) { removeConnection(memberId: $id) }"
BLOCK = "mutation B($id: ID!) { blockMember(memberId: $id) }"
UNBLOCK = "mutation U($id: ID!) { unblockMember(memberId: $id) }"
MINE = """
{ me {
    connections { member { id } accepted }
    incomingRequests { member { id } requestedByMe }
    outgoingRequests { member { id } requestedByMe }
    blockedMembers
} }
"""
MEMBER = "query M($id: ID!) { member(id: $id) { id fullName city } }"
VISIBILITY = """
mutation V($s: [FieldVisibilityInput!]!) {
  setFieldVisibility(settings: $s) { id fieldVisibility { field visibility } }
}
"""
UPDATE_CITY = 'mutation { updateProfile(input: {city: "Bloemfontein"}) { id } }'


async def connect(
    client: httpx.AsyncClient, a: tuple[dict[str, Any], str], b: tuple[dict[str, Any], str]
) -> None:
    assert "errors" not in await gql(client, REQUEST, {"id": b[0]["id"]}, token=a[1])
    body = await gql(client, ACCEPT, {"id": a[0]["id"]}, token=b[1])
    assert body["data"]["acceptConnection"]["accepted"] is True


async def connection_events(app: Starlette) -> list[Any]:
    async with app.state.members.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(t.outbox.c.headers, t.outbox.c.payload)
            .where(t.outbox.c.topic == "members.connection")
            .order_by(t.outbox.c.id)
        )
        return [outbox_event(r) for r in rows]


async def test_request_accept_remove(client: httpx.AsyncClient, app: Starlette) -> None:
    alice = await signed_up(client)
    bongani = await signed_up(client)
    body = await gql(client, REQUEST, {"id": bongani[0]["id"]}, token=alice[1])
    sent = body["data"]["requestConnection"]
    assert sent["accepted"] is False
    assert sent["requestedByMe"] is True
    assert sent["member"]["id"] == bongani[0]["id"]

    again = await gql(client, REQUEST, {"id": bongani[0]["id"]}, token=alice[1])
    assert error_code(again) == "CONFLICT"
    # Only the addressee accepts.
    assert error_code(await gql(client, ACCEPT, {"id": bongani[0]["id"]}, token=alice[1])) == (
        "NOT_FOUND"
    )
    mine = (await gql(client, MINE, token=bongani[1]))["data"]["me"]
    assert [r["member"]["id"] for r in mine["incomingRequests"]] == [alice[0]["id"]]
    assert mine["outgoingRequests"] == []

    accepted = await gql(client, ACCEPT, {"id": alice[0]["id"]}, token=bongani[1])
    connection_id = accepted["data"]["acceptConnection"]["id"]
    mine = (await gql(client, MINE, token=alice[1]))["data"]["me"]
    assert mine["connections"] == [{"member": {"id": bongani[0]["id"]}, "accepted": True}]
    assert error_code(await gql(client, REQUEST, {"id": alice[0]["id"]}, token=bongani[1])) == (
        "CONFLICT"
    )

    assert (await gql(client, REMOVE, {"id": alice[0]["id"]}, token=bongani[1]))["data"][
        "removeConnection"
    ]
    assert error_code(await gql(client, REMOVE, {"id": alice[0]["id"]}, token=bongani[1])) == (
        "NOT_FOUND"
    )
    mine = (await gql(client, MINE, token=alice[1]))["data"]["me"]
    assert mine["connections"] == []

    events = [e for e in await connection_events(app) if e.subject == connection_id]
    assert [e.type for e in events] == ["connection.accepted", "connection.removed"]
    assert sorted(events[0].data["memberIds"]) == sorted([alice[0]["id"], bongani[0]["id"]])
    for event in events:
        SCHEMAS.validate(event)


async def test_crossing_requests_connect(client: httpx.AsyncClient) -> None:
    a = await signed_up(client)
    b = await signed_up(client)
    await gql(client, REQUEST, {"id": b[0]["id"]}, token=a[1])
    body = await gql(client, REQUEST, {"id": a[0]["id"]}, token=b[1])
    assert body["data"]["requestConnection"]["accepted"] is True


async def test_decline_and_cancel(client: httpx.AsyncClient) -> None:
    a = await signed_up(client)
    b = await signed_up(client)
    await gql(client, REQUEST, {"id": b[0]["id"]}, token=a[1])
    assert (await gql(client, DECLINE, {"id": a[0]["id"]}, token=b[1]))["data"]["declineConnection"]
    assert error_code(await gql(client, DECLINE, {"id": a[0]["id"]}, token=b[1])) == "NOT_FOUND"
    await gql(client, REQUEST, {"id": b[0]["id"]}, token=a[1])
    assert error_code(await gql(client, CANCEL, {"id": a[0]["id"]}, token=b[1])) == "NOT_FOUND"
    assert (await gql(client, CANCEL, {"id": b[0]["id"]}, token=a[1]))["data"][
        "cancelConnectionRequest"
    ]
    mine = (await gql(client, MINE, token=b[1]))["data"]["me"]
    assert mine["incomingRequests"] == []


async def test_bad_connection_input(client: httpx.AsyncClient) -> None:
    me, token = await signed_up(client)
    assert error_field(await gql(client, REQUEST, {"id": me["id"]}, token=token)) == "memberId"
    unknown = "00000000-0000-0000-0000-000000000000"
    assert error_code(await gql(client, REQUEST, {"id": unknown}, token=token)) == "NOT_FOUND"
    assert error_code(await gql(client, REQUEST, {"id": "nope"}, token=token)) == "NOT_FOUND"
    assert error_code(await gql(client, REQUEST, {"id": me["id"]})) == "UNAUTHENTICATED"


async def test_blocking_hides_members_from_each_other(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    a = await signed_up(client)
    b = await signed_up(client)
    await connect(client, a, b)
    assert (await gql(client, MEMBER, {"id": b[0]["id"]}, token=a[1]))["data"]["member"]

    assert (await gql(client, BLOCK, {"id": b[0]["id"]}, token=a[1]))["data"]["blockMember"]
    assert (await gql(client, BLOCK, {"id": b[0]["id"]}, token=a[1]))["data"]["blockMember"]
    for viewer, target in ((a, b), (b, a)):
        body = await gql(client, MEMBER, {"id": target[0]["id"]}, token=viewer[1])
        assert body["data"]["member"] is None
        assert (
            error_code(await gql(client, REQUEST, {"id": target[0]["id"]}, token=viewer[1]))
            == "NOT_FOUND"
        )
    mine = (await gql(client, MINE, token=a[1]))["data"]["me"]
    assert mine["connections"] == []
    assert mine["blockedMembers"] == [b[0]["id"]]
    removed = [e for e in await connection_events(app) if e.type == "connection.removed"]
    assert any(e.data["reason"] == "blocked" and b[0]["id"] in e.data["memberIds"] for e in removed)

    # Only the blocker can lift it.
    assert error_code(await gql(client, UNBLOCK, {"id": a[0]["id"]}, token=b[1])) == "NOT_FOUND"
    assert (await gql(client, UNBLOCK, {"id": b[0]["id"]}, token=a[1]))["data"]["unblockMember"]
    assert (await gql(client, MEMBER, {"id": b[0]["id"]}, token=a[1]))["data"]["member"]


async def test_visibility_settings_validation(client: httpx.AsyncClient) -> None:
    _, token = await signed_up(client)
    body = await gql(
        client, VISIBILITY, {"s": [{"field": "shoeSize", "visibility": "PUBLIC"}]}, token=token
    )
    assert error_field(body) == "visibility"
    body = await gql(
        client, VISIBILITY, {"s": [{"field": "city", "visibility": "EVERYONE"}]}, token=token
    )
    assert error_code(body) == "BAD_USER_INPUT"
    body = await gql(client, VISIBILITY, {"s": [{"field": "city", "visibility": "PUBLIC"}]})
    assert error_code(body) == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("PUBLIC", {"anonymous": True, "member": True, "connection": True, "self": True}),
        ("MEMBERS", {"anonymous": False, "member": True, "connection": True, "self": True}),
        ("CONNECTIONS", {"anonymous": False, "member": False, "connection": True, "self": True}),
        ("PRIVATE", {"anonymous": False, "member": False, "connection": False, "self": True}),
    ],
)
async def test_visibility_matrix(
    client: httpx.AsyncClient, level: str, expected: dict[str, bool]
) -> None:
    """Each visibility level against each viewer relation, on a field and on the name."""
    owner = await signed_up(client)
    stranger = await signed_up(client)
    friend = await signed_up(client)
    await connect(client, owner, friend)
    assert "errors" not in await gql(client, UPDATE_CITY, token=owner[1])
    body = await gql(
        client,
        VISIBILITY,
        {"s": [{"field": "city", "visibility": level}, {"field": "fullName", "visibility": level}]},
        token=owner[1],
    )
    settings = {
        s["field"]: s["visibility"] for s in body["data"]["setFieldVisibility"]["fieldVisibility"]
    }
    assert settings["city"] == level
    assert settings["fullName"] == level

    tokens = {"anonymous": None, "member": stranger[1], "connection": friend[1], "self": owner[1]}
    for viewer, token in tokens.items():
        seen = (await gql(client, MEMBER, {"id": owner[0]["id"]}, token=token))["data"]["member"]
        assert seen["id"] == owner[0]["id"]
        assert (seen["city"] == "Bloemfontein") is expected[viewer], (viewer, seen)
        assert (seen["fullName"] == "Lerato Mokhele") is expected[viewer], (viewer, seen)
        if not expected[viewer]:
            assert seen["city"] is None
            assert seen["fullName"] is None
