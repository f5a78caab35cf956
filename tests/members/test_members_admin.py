"""Roles, suspension and the append-only audit log."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from members_gql import (
    LOGIN,
    PASSWORD,
    error_code,
    error_field,
    gql,
    login,
    make_admin,
    outbox_event,
    register,
    signed_up,
)
from sqlalchemy.exc import DBAPIError
from starlette.applications import Starlette

from kopano.events import EventSchemas
from members.adapters import tables as t

SCHEMAS = EventSchemas(Path(__file__).resolve().parents[2] / "docs" / "events")

GRANT = """
mutation G($id: ID!, $role: Role!) { grantRole(memberId: $id, role: $role) { id } }
"""
REVOKE = """
mutation R($id: ID!, $role: Role!) { revokeRole(memberId: $id, role: $role) { id } }
"""
SUSPEND = """
mutation S($id: ID!, $reason: String!) {
  suspendMember(memberId: $id, reason: $reason) { id accountStatus }
}
"""
RESTORE = "mutation R($id: ID!) { restoreMember(memberId: $id) { id accountStatus } }"
AUDIT = """
query A($first: Int!, $before: ID, $targetId: String) {
  auditLog(first: $first, before: $before, targetId: $targetId) {
    entries { id actorId action targetType targetId details requestId clientAddress occurredAt }
    nextBefore
  }
}
"""
ME_ROLES = "{ me { roles accountStatus } }"


async def audit_rows(app: Starlette, target_id: str) -> list[sa.Row[tuple[object, ...]]]:
    async with app.state.members.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(t.audit_log)
            .where(t.audit_log.c.target_id == target_id)
            .order_by(t.audit_log.c.id)
        )
        return list(rows)


async def test_admin_grants_and_revokes_roles_with_audit(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    admin, admin_token = await make_admin(client, app)
    member, _ = await signed_up(client)
    request_id = uuid.uuid4().hex
    body = await gql(
        client,
        GRANT,
        {"id": member["id"], "role": "MODERATOR"},
        token=admin_token,
        headers={"X-Request-Id": request_id},
    )
    assert "errors" not in body, body
    # The role shows in the member's next token and profile.
    tokens = await login(client, member["_input"]["email"])
    me = await gql(client, ME_ROLES, token=tokens["accessToken"])
    assert me["data"]["me"]["roles"] == ["member", "moderator"]

    body = await gql(client, REVOKE, {"id": member["id"], "role": "MODERATOR"}, token=admin_token)
    assert "errors" not in body, body
    me = await gql(client, ME_ROLES, token=tokens["accessToken"])
    assert me["data"]["me"]["roles"] == ["member"]

    rows = await audit_rows(app, member["id"])
    assert [(r.action, r.details["role"]) for r in rows] == [
        ("role.granted", "moderator"),
        ("role.revoked", "moderator"),
    ]
    assert rows[0].actor_id == uuid.UUID(admin["id"])
    assert rows[0].request_id == request_id
    assert rows[0].client_address  # the ASGI client address
    assert rows[0].target_type == "member"

    # The member role cannot be taken away.
    body = await gql(client, REVOKE, {"id": member["id"], "role": "MEMBER"}, token=admin_token)
    assert error_code(body) == "BAD_USER_INPUT"
    assert error_field(body) == "role"


async def test_non_admins_cannot_administer(client: httpx.AsyncClient, app: Starlette) -> None:
    member, token = await signed_up(client)
    other, _ = await signed_up(client)
    for query, variables in (
        (GRANT, {"id": other["id"], "role": "ADMIN"}),
        (GRANT, {"id": member["id"], "role": "ADMIN"}),
        (SUSPEND, {"id": other["id"], "reason": "spam"}),
        (RESTORE, {"id": other["id"]}),
        (AUDIT, {"first": 10}),
    ):
        assert error_code(await gql(client, query, variables, token=token)) == "FORBIDDEN"
        assert error_code(await gql(client, query, variables)) == "UNAUTHENTICATED"
    assert await audit_rows(app, other["id"]) == []


async def test_a_revoked_admin_token_no_longer_works(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    admin_a, token_a = await make_admin(client, app)
    admin_b, token_b = await make_admin(client, app)
    body = await gql(client, REVOKE, {"id": admin_a["id"], "role": "ADMIN"}, token=token_b)
    assert "errors" not in body, body
    # admin_a's token still says "admin", but the database decides.
    target, _ = await signed_up(client)
    body = await gql(client, GRANT, {"id": target["id"], "role": "MODERATOR"}, token=token_a)
    assert error_code(body) == "FORBIDDEN"
    # Nobody removes their own admin role by accident.
    body = await gql(client, REVOKE, {"id": admin_b["id"], "role": "ADMIN"}, token=token_b)
    assert error_field(body) == "memberId"


async def test_suspension_ends_sessions_publishes_and_can_be_lifted(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    _, admin_token = await make_admin(client, app)
    member = await register(client)
    tokens = await login(client, member["_input"]["email"])

    body = await gql(
        client,
        SUSPEND,
        {"id": member["id"], "reason": "impersonation report #12"},
        token=admin_token,
    )
    assert body["data"]["suspendMember"]["accountStatus"] == "SUSPENDED"

    denied = await gql(client, LOGIN, {"email": member["_input"]["email"], "password": PASSWORD})
    assert error_code(denied) == "FORBIDDEN"
    refresh = await gql(
        client,
        "mutation R($t: String!) { refreshToken(refreshToken: $t) { accessToken } }",
        {"t": tokens["refreshToken"]},
    )
    assert error_code(refresh) == "UNAUTHENTICATED"
    update = await gql(
        client,
        'mutation { updateProfile(input: {city: "Cape Town"}) { id } }',
        token=tokens["accessToken"],
    )
    assert error_code(update) == "FORBIDDEN"

    body = await gql(client, RESTORE, {"id": member["id"]}, token=admin_token)
    assert body["data"]["restoreMember"]["accountStatus"] == "ACTIVE"
    await login(client, member["_input"]["email"])

    async with app.state.members.engine.connect() as conn:
        rows = list(
            await conn.execute(
                sa.select(t.outbox.c.headers, t.outbox.c.payload)
                .where(t.outbox.c.key == member["id"])
                .order_by(t.outbox.c.id)
            )
        )
    events = [outbox_event(r) for r in rows]
    assert [e.type for e in events] == ["member.registered", "member.suspended", "member.restored"]
    for event in events:
        SCHEMAS.validate(event)
    assert "impersonation" not in repr(events)

    audit = await audit_rows(app, member["id"])
    assert [r.action for r in audit] == ["member.suspended", "member.restored"]
    assert audit[0].details["reason"] == "impersonation report #12"


async def test_suspend_bad_input(client: httpx.AsyncClient, app: Starlette) -> None:
    admin, admin_token = await make_admin(client, app)
    assert (
        error_field(
            await gql(client, SUSPEND, {"id": admin["id"], "reason": "x"}, token=admin_token)
        )
        == "memberId"
    )
    member, _ = await signed_up(client)
    assert (
        error_field(
            await gql(client, SUSPEND, {"id": member["id"], "reason": "  "}, token=admin_token)
        )
        == "reason"
    )
    body = await gql(client, SUSPEND, {"id": str(uuid.uuid4()), "reason": "x"}, token=admin_token)
    assert error_code(body) == "NOT_FOUND"
    body = await gql(client, SUSPEND, {"id": "not-a-uuid", "reason": "x"}, token=admin_token)
    assert error_code(body) == "NOT_FOUND"


async def test_audit_log_query_pages_newest_first(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    _, admin_token = await make_admin(client, app)
    member, _ = await signed_up(client)
    for role in ("MODERATOR", "OFFICIAL", "ADMIN"):
        await gql(client, GRANT, {"id": member["id"], "role": role}, token=admin_token)
    first = await gql(client, AUDIT, {"first": 2, "targetId": member["id"]}, token=admin_token)
    page = first["data"]["auditLog"]
    assert [e["details"]["role"] for e in page["entries"]] == ["admin", "official"]
    second = await gql(
        client,
        AUDIT,
        {"first": 2, "targetId": member["id"], "before": page["nextBefore"]},
        token=admin_token,
    )
    page2 = second["data"]["auditLog"]
    assert [e["details"]["role"] for e in page2["entries"]] == ["moderator"]
    assert page2["nextBefore"] is None
    bad = await gql(client, AUDIT, {"first": 1000}, token=admin_token)
    assert error_field(bad) == "first"


async def test_audit_log_is_append_only_in_the_database(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    _, admin_token = await make_admin(client, app)
    member, _ = await signed_up(client)
    await gql(client, GRANT, {"id": member["id"], "role": "MODERATOR"}, token=admin_token)
    engine = app.state.members.engine
    for statement in (
        sa.update(t.audit_log).values(action="nothing happened"),
        sa.delete(t.audit_log),
        sa.text("TRUNCATE audit_log"),
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(statement)
    assert len(await audit_rows(app, member["id"])) == 1
