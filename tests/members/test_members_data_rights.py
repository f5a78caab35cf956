"""myData and eraseMe: the erased member's name, email and phone are nowhere afterwards."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from members_gql import (
    LOGIN,
    PASSWORD,
    error_code,
    error_field,
    gql,
    login,
    make_settings,
    outbox_event,
    register,
)
from starlette.applications import Starlette

from kopano.events import EventSchemas
from members.adapters import tables as t
from members.app import create_app

SCHEMAS = EventSchemas(Path(__file__).resolve().parents[2] / "docs" / "events")

MY_DATA = "{ myData }"
ERASE = "mutation E($p: String!) { eraseMe(password: $p) }"
UPDATE = "mutation U($input: UpdateProfileInput!) { updateProfile(input: $input) { id } }"
CREATE_ORG = """
mutation C($input: CreateOrganisationInput!) { createOrganisation(input: $input) { id } }
"""
JOIN = "mutation J($id: ID!) { joinOrganisation(id: $id) { status } }"
REQUEST = "mutation R($id: ID!) { requestConnection(memberId: $id) { id } }"
ACCEPT = "mutation A($id: ID!) { acceptConnection(memberId: $id) { id } }"
SEARCH = """
query S($f: MemberFilter) { members(filter: $f, first: 50) { edges { node { id fullName } } } }
"""


@pytest.fixture
async def own_app(migrated_database_url: str, signing_key_pem: str) -> AsyncIterator[Starlette]:
    """A database of its own, so the whole of it can be searched for the erased data."""
    app = create_app(make_settings(migrated_database_url, signing_key_pem))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def own_client(own_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=own_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://members.test") as c:
        yield c


async def everything_in_the_database(app: Starlette) -> str:
    """Every row of every table of the service, as text (outbox payloads decoded)."""
    chunks: list[str] = []
    async with app.state.members.engine.connect() as conn:
        names = (
            await conn.scalars(
                sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            )
        ).all()
        for name in names:
            rows = await conn.scalars(sa.text(f'SELECT t::text FROM "{name}" t'))
            chunks.extend(rows)
        payloads = await conn.scalars(sa.select(t.outbox.c.payload))
        chunks.extend(p.decode() for p in payloads)
    return "\n".join(chunks)


async def test_my_data_returns_everything_about_the_caller(client: httpx.AsyncClient) -> None:
    member = await register(client)
    tokens = await login(client, member["_input"]["email"])
    token = tokens["accessToken"]
    await gql(client, UPDATE, {"input": {"city": "Leeds", "skills": ["Welding"]}}, token=token)
    body = await gql(client, MY_DATA, token=token)
    data = body["data"]["myData"]
    assert (data["service"], data["memberId"]) == ("members", member["id"])
    assert data["account"]["email"] == member["email"]
    assert data["account"]["fullName"] == "Lerato Mokhele"
    assert data["account"]["phone"] == "+27825550101"
    assert data["profile"]["city"] == "Leeds"
    assert data["profile"]["skills"] == ["welding"]
    assert {c["kind"] for c in data["consents"]} == {"terms", "data_processing"}
    assert len(data["sessions"]) == 1
    assert "token_hash" not in orjson.dumps(data).decode()
    assert error_code(await gql(client, MY_DATA)) == "UNAUTHENTICATED"


async def test_erase_me_leaves_no_trace_of_the_person(
    own_app: Starlette, own_client: httpx.AsyncClient
) -> None:
    client = own_client
    marker = uuid.uuid4().hex[:10]
    name = f"Nthabiseng Qx{marker}"
    email = f"nthabiseng.{marker}@example.org"
    phone_local = f"82{random.randint(1000000, 9999999)}"
    member = await register(
        client, email=email, fullName=name, phone=f"+27{phone_local}", districtOfOrigin="LS-E"
    )
    tokens = await login(client, email)
    token = tokens["accessToken"]
    bio = f"Ke rata ho pheha {marker}"
    await gql(
        client,
        UPDATE,
        {"input": {"bio": bio, "preferredName": f"Thabi{marker}", "occupation": "Chef"}},
        token=token,
    )

    # Connections and memberships to be removed with the account.
    friend = await register(client)
    friend_token = (await login(client, friend["_input"]["email"]))["accessToken"]
    await gql(client, REQUEST, {"id": friend["id"]}, token=token)
    await gql(client, ACCEPT, {"id": member["id"]}, token=friend_token)
    org = await gql(
        client,
        CREATE_ORG,
        {"input": {"name": f"Chefs {marker}", "type": "PROFESSIONAL_NETWORK", "country": "ZA"}},
        token=friend_token,
    )
    org_id = org["data"]["createOrganisation"]["id"]
    await gql(client, JOIN, {"id": org_id}, token=token)

    wrong = await gql(client, ERASE, {"p": "not my password!"}, token=token)
    assert error_field(wrong) == "password"
    assert name in await everything_in_the_database(own_app)  # nothing changed yet

    body = await gql(client, ERASE, {"p": PASSWORD}, token=token)
    assert body["data"]["eraseMe"] is True

    dump = await everything_in_the_database(own_app)
    for secret in (name, email, email.split("@")[0], phone_local, bio, f"Thabi{marker}"):
        assert secret not in dump, secret

    # Over the API: gone for everyone, and no way back in.
    for t_ in (token, friend_token, None):
        seen = await gql(
            client, "query M($id: ID!) { member(id: $id) { id } }", {"id": member["id"]}, token=t_
        )
        assert seen["data"]["member"] is None
    assert error_code(await gql(client, "{ me { id } }", token=token)) == "UNAUTHENTICATED"
    denied = await gql(client, LOGIN, {"email": email, "password": PASSWORD})
    assert error_code(denied) == "UNAUTHENTICATED"
    refresh = await gql(
        client,
        "mutation R($t: String!) { refreshToken(refreshToken: $t) { accessToken } }",
        {"t": tokens["refreshToken"]},
    )
    assert error_code(refresh) == "UNAUTHENTICATED"
    results = await gql(client, SEARCH, {"f": {"name": marker}}, token=friend_token)
    assert results["data"]["members"]["edges"] == []
    friend_view = await gql(client, "{ me { connections { member { id } } } }", token=friend_token)
    assert friend_view["data"]["me"]["connections"] == []

    # Other services are told, with ids only.
    async with own_app.state.members.engine.connect() as conn:
        rows = list(
            await conn.execute(
                sa.select(t.outbox.c.headers, t.outbox.c.payload).order_by(t.outbox.c.id)
            )
        )
    events = [outbox_event(r) for r in rows]
    types = [e.type for e in events]
    assert types.count("member.erased") == 1
    erased = next(e for e in events if e.type == "member.erased")
    assert erased.data["memberId"] == member["id"]
    left = [e for e in events if e.type == "organisation.member_left"]
    assert [e.data["reason"] for e in left] == ["erased"]
    removed = [e for e in events if e.type == "connection.removed"]
    assert [e.data["reason"] for e in removed] == ["erased"]
    for event in events:
        SCHEMAS.validate(event)


async def test_erased_members_leave_the_statistics(
    own_app: Starlette, own_client: httpx.AsyncClient
) -> None:
    members: list[dict[str, Any]] = [
        await register(own_client, countryOfResidence="NZ") for _ in range(5)
    ]
    stats = "{ diasporaStatistics { byCountry { cells { key count } } } }"
    body = await gql(own_client, stats)
    assert {"key": "NZ", "count": 5} in body["data"]["diasporaStatistics"]["byCountry"]["cells"]
    token = (await login(own_client, members[0]["_input"]["email"]))["accessToken"]
    await gql(own_client, ERASE, {"p": PASSWORD}, token=token)
    body = await gql(own_client, stats)
    assert body["data"]["diasporaStatistics"]["byCountry"]["cells"] == []
