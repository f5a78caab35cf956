"""Organisations over HTTP: life cycle, membership, roles, verification, directory, federation."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from members_gql import error_code, error_field, gql, make_admin, outbox_event, signed_up
from starlette.applications import Starlette

from kopano.events import EventSchemas
from members.adapters import tables as t

SCHEMAS = EventSchemas(Path(__file__).resolve().parents[2] / "docs" / "events")

CREATE = """
mutation C($input: CreateOrganisationInput!) {
  createOrganisation(input: $input) {
    id name type country city verified joinPolicy memberCount
    myMembership { role status }
  }
}
"""
UPDATE = """
mutation U($id: ID!, $input: UpdateOrganisationInput!) {
  updateOrganisation(id: $id, input: $input) { id name city verified description }
}
"""
JOIN = "mutation J($id: ID!) { joinOrganisation(id: $id) { role status joinedAt } }"
APPROVE = """
mutation A($o: ID!, $m: ID!) { approveMembership(organisationId: $o, memberId: $m) { status } }
"""
DECLINE = "mutation D($o: ID!, $m: ID!) { declineMembership(organisationId: $o, memberId: $m) }"
LEAVE = "mutation L($id: ID!) { leaveOrganisation(id: $id) }"
REMOVE_MEMBER = """
mutation R($o: ID!, $m: ID!) { removeOrganisationMember(organisationId: $o, memberId: $m) }
"""
SET_ROLE = """
mutation S($o: ID!, $m: ID!, $r: OrganisationRole!) {
  setOrganisationRole(organisationId: $o, memberId: $m, role: $r) { role }
}
"""
REMOVE = "mutation R($id: ID!) { removeOrganisation(id: $id) }"
VERIFY = """
mutation V($id: ID!, $v: Boolean!) { verifyOrganisation(id: $id, verified: $v) { id verified verifiedAt } }
"""
ORG = """
query O($id: ID!) {
  organisation(id: $id) {
    id name verified memberCount myMembership { role status }
    members { member { id } role }
  }
}
"""
PENDING = "query P($id: ID!) { organisation(id: $id) { pendingRequests { member { id } } } }"
DIRECTORY = """
query D($filter: OrganisationFilter, $first: Int!, $after: String) {
  organisations(filter: $filter, first: $first, after: $after) {
    edges { cursor node { id name type country city verified } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
MY_ORGS = "{ me { organisations { organisation { id name } role status } } }"


def org_input(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": f"Basotho Burial Society {uuid.uuid4().hex[:8]}",
        "type": "BURIAL_SOCIETY",
        "country": "za",
        "city": "Johannesburg",
        "joinPolicy": "OPEN",
        "description": "Re thusana ka nako ea mahlomola.",
    }
    data.update(overrides)
    return data


async def create_org(client: httpx.AsyncClient, token: str, **overrides: Any) -> dict[str, Any]:
    body = await gql(client, CREATE, {"input": org_input(**overrides)}, token=token)
    assert "errors" not in body, body
    org: dict[str, Any] = body["data"]["createOrganisation"]
    return org


async def org_events(app: Starlette, org_id: str) -> list[Any]:
    async with app.state.members.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(t.outbox.c.headers, t.outbox.c.payload)
            .where(t.outbox.c.key == org_id)
            .order_by(t.outbox.c.id)
        )
        return [outbox_event(r) for r in rows]


async def test_create_makes_the_creator_owner_and_publishes(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    owner, token = await signed_up(client)
    org = await create_org(client, token)
    assert org["country"] == "ZA"
    assert org["verified"] is False
    assert org["memberCount"] == 1
    assert org["myMembership"] == {"role": "OWNER", "status": "ACTIVE"}
    events = await org_events(app, org["id"])
    assert [e.type for e in events] == ["organisation.created", "organisation.member_joined"]
    assert events[1].data["memberId"] == owner["id"]
    for event in events:
        SCHEMAS.validate(event)
    me = await gql(client, MY_ORGS, token=token)
    assert me["data"]["me"]["organisations"][0]["organisation"]["id"] == org["id"]


async def test_create_bad_input_and_duplicate_names(client: httpx.AsyncClient) -> None:
    _, token = await signed_up(client)
    for overrides, field in (
        ({"name": "X"}, "name"),
        ({"country": "XX"}, "country"),
        ({"website": "http://insecure.example"}, "website"),
        ({"description": "x" * 5000}, "description"),
    ):
        body = await gql(client, CREATE, {"input": org_input(**overrides)}, token=token)
        assert error_code(body) == "BAD_USER_INPUT", body
        assert error_field(body) == field
    bad_enum = await gql(client, CREATE, {"input": org_input(type="CHURCH")}, token=token)
    assert error_code(bad_enum) == "BAD_USER_INPUT"
    org = await create_org(client, token)
    again = await gql(client, CREATE, {"input": org_input(name=org["name"].upper())}, token=token)
    assert error_code(again) == "CONFLICT"
    assert error_code(await gql(client, CREATE, {"input": org_input()})) == "UNAUTHENTICATED"


async def test_open_join_leave_and_last_owner_rule(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    _, owner_token = await signed_up(client)
    joiner, joiner_token = await signed_up(client)
    org = await create_org(client, owner_token)

    joined = await gql(client, JOIN, {"id": org["id"]}, token=joiner_token)
    assert joined["data"]["joinOrganisation"]["status"] == "ACTIVE"
    twice = await gql(client, JOIN, {"id": org["id"]}, token=joiner_token)
    assert error_code(twice) == "CONFLICT"
    view = (await gql(client, ORG, {"id": org["id"]}, token=joiner_token))["data"]["organisation"]
    assert view["memberCount"] == 2
    assert {m["member"]["id"] for m in view["members"]} >= {joiner["id"]}

    # Outsiders do not see the member list.
    _, outsider_token = await signed_up(client)
    hidden = await gql(client, ORG, {"id": org["id"]}, token=outsider_token)
    assert error_code(hidden) == "FORBIDDEN"

    assert (await gql(client, LEAVE, {"id": org["id"]}, token=joiner_token))["data"][
        "leaveOrganisation"
    ]
    alone = await gql(client, LEAVE, {"id": org["id"]}, token=owner_token)
    assert error_code(alone) == "BAD_USER_INPUT"
    types = [e.type for e in await org_events(app, org["id"])]
    assert types == [
        "organisation.created",
        "organisation.member_joined",
        "organisation.member_joined",
        "organisation.member_left",
    ]
    for event in await org_events(app, org["id"]):
        SCHEMAS.validate(event)


async def test_join_by_approval(client: httpx.AsyncClient) -> None:
    _, owner_token = await signed_up(client)
    first, first_token = await signed_up(client)
    second, second_token = await signed_up(client)
    org = await create_org(client, owner_token, joinPolicy="APPROVAL", type="BDA_CHAPTER")

    for token in (first_token, second_token):
        body = await gql(client, JOIN, {"id": org["id"]}, token=token)
        assert body["data"]["joinOrganisation"] == {
            "role": "MEMBER",
            "status": "PENDING",
            "joinedAt": None,
        }
    pending = await gql(client, JOIN, {"id": org["id"]}, token=first_token)
    assert error_code(pending) == "CONFLICT"
    # A pending member is not a member yet, and cannot approve anyone.
    assert error_code(await gql(client, PENDING, {"id": org["id"]}, token=first_token)) == (
        "FORBIDDEN"
    )
    body = await gql(client, APPROVE, {"o": org["id"], "m": second["id"]}, token=first_token)
    assert error_code(body) == "FORBIDDEN"

    requests = await gql(client, PENDING, {"id": org["id"]}, token=owner_token)
    assert {r["member"]["id"] for r in requests["data"]["organisation"]["pendingRequests"]} == {
        first["id"],
        second["id"],
    }
    approved = await gql(client, APPROVE, {"o": org["id"], "m": first["id"]}, token=owner_token)
    assert approved["data"]["approveMembership"]["status"] == "ACTIVE"
    declined = await gql(client, DECLINE, {"o": org["id"], "m": second["id"]}, token=owner_token)
    assert declined["data"]["declineMembership"] is True
    again = await gql(client, APPROVE, {"o": org["id"], "m": second["id"]}, token=owner_token)
    assert error_code(again) == "NOT_FOUND"
    view = await gql(client, ORG, {"id": org["id"]}, token=first_token)
    assert view["data"]["organisation"]["myMembership"] == {"role": "MEMBER", "status": "ACTIVE"}
    assert view["data"]["organisation"]["memberCount"] == 2


async def test_roles_inside_an_organisation(client: httpx.AsyncClient, app: Starlette) -> None:
    owner, owner_token = await signed_up(client)
    admin, admin_token = await signed_up(client)
    plain, plain_token = await signed_up(client)
    org = await create_org(client, owner_token)
    for token in (admin_token, plain_token):
        await gql(client, JOIN, {"id": org["id"]}, token=token)

    # Only owners hand out roles.
    body = await gql(
        client, SET_ROLE, {"o": org["id"], "m": plain["id"], "r": "ADMIN"}, token=plain_token
    )
    assert error_code(body) == "FORBIDDEN"
    body = await gql(
        client, SET_ROLE, {"o": org["id"], "m": admin["id"], "r": "ADMIN"}, token=owner_token
    )
    assert body["data"]["setOrganisationRole"]["role"] == "ADMIN"

    # Admins manage details and plain members, not owners.
    body = await gql(
        client, UPDATE, {"id": org["id"], "input": {"city": "Pretoria"}}, token=admin_token
    )
    assert body["data"]["updateOrganisation"]["city"] == "Pretoria"
    body = await gql(client, UPDATE, {"id": org["id"], "input": {"city": "X"}}, token=plain_token)
    assert error_code(body) == "FORBIDDEN"
    body = await gql(client, REMOVE_MEMBER, {"o": org["id"], "m": owner["id"]}, token=admin_token)
    assert error_code(body) == "FORBIDDEN"
    body = await gql(client, REMOVE_MEMBER, {"o": org["id"], "m": plain["id"]}, token=admin_token)
    assert body["data"]["removeOrganisationMember"] is True

    # The last owner cannot step down.
    body = await gql(
        client, SET_ROLE, {"o": org["id"], "m": owner["id"], "r": "MEMBER"}, token=owner_token
    )
    assert error_field(body) == "role"
    # A second owner makes it possible.
    await gql(client, SET_ROLE, {"o": org["id"], "m": admin["id"], "r": "OWNER"}, token=owner_token)
    body = await gql(
        client, SET_ROLE, {"o": org["id"], "m": owner["id"], "r": "MEMBER"}, token=owner_token
    )
    assert body["data"]["setOrganisationRole"]["role"] == "MEMBER"

    events = await org_events(app, org["id"])
    left = [e for e in events if e.type == "organisation.member_left"]
    assert [(e.data["memberId"], e.data["reason"]) for e in left] == [(plain["id"], "removed")]
    for event in events:
        SCHEMAS.validate(event)


async def test_verification_is_admin_only_audited_and_dropped_on_rename(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    _, owner_token = await signed_up(client)
    _, admin_token = await make_admin(client, app)
    org = await create_org(
        client,
        owner_token,
        name=f"Ministry of Foreign Affairs {uuid.uuid4().hex[:6]}",
        type="GOVERNMENT_AGENCY",
        country="LS",
        city="Maseru",
    )
    body = await gql(client, VERIFY, {"id": org["id"], "v": True}, token=owner_token)
    assert error_code(body) == "FORBIDDEN"
    body = await gql(client, VERIFY, {"id": org["id"], "v": True}, token=admin_token)
    assert body["data"]["verifyOrganisation"]["verified"] is True
    assert body["data"]["verifyOrganisation"]["verifiedAt"]

    # Editing the description keeps the badge; renaming drops it.
    body = await gql(
        client,
        UPDATE,
        {"id": org["id"], "input": {"description": "Consular services"}},
        token=owner_token,
    )
    assert body["data"]["updateOrganisation"]["verified"] is True
    body = await gql(
        client,
        UPDATE,
        {"id": org["id"], "input": {"name": f"Totally Official {uuid.uuid4().hex[:6]}"}},
        token=owner_token,
    )
    assert body["data"]["updateOrganisation"]["verified"] is False

    events = await org_events(app, org["id"])
    verified = [e.data["verified"] for e in events if e.type == "organisation.verified"]
    assert verified == [True, False]
    for event in events:
        SCHEMAS.validate(event)
    async with app.state.members.engine.connect() as conn:
        actions = (
            await conn.scalars(
                sa.select(t.audit_log.c.action).where(t.audit_log.c.target_id == org["id"])
            )
        ).all()
    assert actions == ["organisation.verified"]


async def test_remove_organisation(client: httpx.AsyncClient, app: Starlette) -> None:
    _, owner_token = await signed_up(client)
    _, member_token = await signed_up(client)
    _, admin_token = await make_admin(client, app)
    org = await create_org(client, owner_token)
    await gql(client, JOIN, {"id": org["id"]}, token=member_token)
    assert error_code(await gql(client, REMOVE, {"id": org["id"]}, token=member_token)) == (
        "FORBIDDEN"
    )
    assert (await gql(client, REMOVE, {"id": org["id"]}, token=owner_token))["data"][
        "removeOrganisation"
    ]
    gone = await gql(client, ORG, {"id": org["id"]}, token=owner_token)
    assert gone["data"]["organisation"] is None
    assert error_code(await gql(client, JOIN, {"id": org["id"]}, token=member_token)) == (
        "NOT_FOUND"
    )
    # A platform admin can remove one too (and it is audited).
    other = await create_org(client, owner_token)
    assert (await gql(client, REMOVE, {"id": other["id"]}, token=admin_token))["data"][
        "removeOrganisation"
    ]
    types = [e.type for e in await org_events(app, other["id"])]
    assert types[-1] == "organisation.removed"


async def test_directory_filters_and_cursor_pagination(client: httpx.AsyncClient) -> None:
    _, token = await signed_up(client)
    tag = uuid.uuid4().hex[:6]
    names = [f"{tag} Student Union {c}" for c in "edcba"]
    for i, name in enumerate(names):
        await create_org(
            client,
            token,
            name=name,
            type="STUDENT_ASSOCIATION",
            country="GB" if i % 2 else "ZA",
            city="Leeds" if i % 2 else "Durban",
        )
    await create_org(client, token, name=f"{tag} Business Forum", type="BUSINESS", country="GB")

    seen: list[str] = []
    after = None
    while True:
        body = await gql(
            client,
            DIRECTORY,
            {"filter": {"search": tag, "type": "STUDENT_ASSOCIATION"}, "first": 2, "after": after},
        )
        page = body["data"]["organisations"]
        seen.extend(edge["node"]["name"] for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == sorted(names, key=str.casefold)

    body = await gql(
        client,
        DIRECTORY,
        {"filter": {"search": tag, "country": "gb", "city": "leeds"}, "first": 10},
    )
    assert [e["node"]["name"] for e in body["data"]["organisations"]["edges"]] == [
        f"{tag} Student Union b",
        f"{tag} Student Union d",
    ]
    body = await gql(client, DIRECTORY, {"filter": {"search": tag, "verified": True}, "first": 10})
    assert body["data"]["organisations"]["edges"] == []
    bad = await gql(client, DIRECTORY, {"first": 10, "after": "not-a-cursor"})
    assert error_field(bad) == "after"
    assert error_field(await gql(client, DIRECTORY, {"first": 0})) == "first"
    # Wildcards in a search are literal.
    body = await gql(client, DIRECTORY, {"filter": {"search": "%"}, "first": 10})
    assert body["data"]["organisations"]["edges"] == []


ENTITIES = """
query E($r: [_Any!]!) { _entities(representations: $r) { ... on Organisation { id name verified } } }
"""


async def test_organisation_entities_resolve_in_one_batch(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    _, token = await signed_up(client)
    orgs = [await create_org(client, token) for _ in range(3)]
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM organisations" in statement:
            statements.append(statement)

    engine = app.state.members.engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        body = await gql(
            client, ENTITIES, {"r": [{"__typename": "Organisation", "id": o["id"]} for o in orgs]}
        )
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert [e["id"] for e in body["data"]["_entities"]] == [o["id"] for o in orgs]
    assert len(statements) == 1
