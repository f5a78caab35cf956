"""The members GraphQL API over HTTP (httpx against the ASGI app, real PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest
import sqlalchemy as sa
from members_gql import (
    LOGIN,
    PASSWORD,
    REGISTER,
    error_code,
    error_field,
    gql,
    login,
    register,
    registration,
    signed_up,
    unique_email,
)
from starlette.applications import Starlette

from kopano.auth import SigningKey, TokenIssuer
from kopano.events import CloudEvent, EventSchemas, parse_time
from members.adapters import tables as t
from members.app import MembersRuntime

SCHEMAS = EventSchemas(Path(__file__).resolve().parents[2] / "docs" / "events")

ME = "query { me { id email fullName phone roles skills occupation city sector languages } }"
REFRESH = """
mutation R($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken memberId } }
"""
LOGOUT = "mutation L($t: String!) { logout(refreshToken: $t) }"
UPDATE = """
mutation U($input: UpdateProfileInput!) {
  updateProfile(input: $input) {
    id occupation skills languages city bio sector phone willingToMentor
  }
}
"""
CHANGE_PASSWORD = """
mutation C($current: String!, $new: String!) {
  changePassword(currentPassword: $current, newPassword: $new) { accessToken refreshToken }
}
"""


def runtime(app: Starlette) -> MembersRuntime:
    rt: MembersRuntime = app.state.members
    return rt


async def outbox_rows(app: Starlette, member_id: str) -> list[dict[str, Any]]:
    async with runtime(app).engine.connect() as conn:
        rows = await conn.execute(
            sa.select(t.outbox.c.type, t.outbox.c.headers, t.outbox.c.payload)
            .where(t.outbox.c.key == member_id)
            .order_by(t.outbox.c.id)
        )
        return [
            {"type": r.type, "headers": r.headers, "data": orjson.loads(r.payload)} for r in rows
        ]


async def count_members_with_email(app: Starlette, email: str) -> int:
    async with runtime(app).engine.connect() as conn:
        return int(
            await conn.scalar(
                sa.select(sa.func.count())
                .select_from(t.members)
                .where(sa.func.lower(t.members.c.email) == email.lower())
            )
            or 0
        )


# ---------------------------------------------------------------------------- register


async def test_register_normalises_input_and_records_consent(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    email = unique_email("Thabo").replace("example.org", "Example.ORG")
    member = await register(
        client, email=email, fullName="  Thabo   Letsie ", phone="+266 5012 3456"
    )
    assert member["email"] == email.split("@")[0] + "@example.org"
    assert member["fullName"] == "Thabo Letsie"
    assert member["phone"] == "+26650123456"
    assert member["countryOfResidence"] == "ZA"
    assert member["districtOfOrigin"] == {"code": "LS-A", "name": "Maseru"}
    assert member["roles"] == ["member"]
    async with runtime(app).engine.connect() as conn:
        consents = (
            await conn.execute(
                sa.select(t.consents.c.kind, t.consents.c.version).where(
                    t.consents.c.member_id == uuid.UUID(member["id"])
                )
            )
        ).all()
    assert sorted(consents) == [("data_processing", "2026-01"), ("terms", "2026-01")]


async def test_register_writes_exactly_one_registered_event_without_personal_data(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    member = await register(client)
    rows = await outbox_rows(app, member["id"])
    assert [r["type"] for r in rows] == ["member.registered"]
    data = rows[0]["data"]
    assert data["memberId"] == member["id"]
    assert data["countryOfResidence"] == "ZA"
    assert data["districtOfOrigin"] == "LS-A"
    flat = orjson.dumps(rows[0]).decode()
    for secret in (member["email"], "Lerato", "+2782", PASSWORD, "argon2"):
        assert secret not in flat
    headers = rows[0]["headers"]
    event = CloudEvent(
        id=headers["ce_id"],
        source=headers["ce_source"],
        type=headers["ce_type"],
        subject=headers["ce_subject"],
        time=parse_time(headers["ce_time"]),
        data=data,
    )
    SCHEMAS.validate(event)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "two@@example.org"}, "email"),
        ({"password": "short"}, "password"),
        ({"password": "x" * 129}, "password"),
        ({"countryOfResidence": "XX"}, "countryOfResidence"),
        ({"countryOfResidence": "Lesotho"}, "countryOfResidence"),
        ({"phone": "0821234567"}, "phone"),
        ({"phone": "+266 12"}, "phone"),
        ({"districtOfOrigin": "LS-Z"}, "districtOfOrigin"),
        ({"fullName": "   "}, "fullName"),
        ({"acceptTerms": False}, "acceptTerms"),
        ({"acceptDataProcessing": False}, "acceptDataProcessing"),
        ({"consentVersion": "1999-01"}, "consentVersion"),
    ],
)
async def test_register_rejects_bad_input_and_writes_nothing(
    client: httpx.AsyncClient, app: Starlette, overrides: dict[str, Any], field: str
) -> None:
    data = registration(**overrides)
    body = await gql(client, REGISTER, {"input": data})
    assert body["data"] is None
    assert error_code(body) == "BAD_USER_INPUT"
    assert error_field(body) == field
    assert body["errors"][0]["message"]
    if "@" in data["email"] and data["email"].count("@") == 1:
        assert await count_members_with_email(app, data["email"]) == 0


async def test_register_password_equal_to_email_is_refused(client: httpx.AsyncClient) -> None:
    email = unique_email("longlocalpart")
    body = await gql(client, REGISTER, {"input": registration(email=email, password=email)})
    assert error_code(body) == "BAD_USER_INPUT"
    assert error_field(body) == "password"


async def test_missing_required_consent_field_is_a_bad_user_input(
    client: httpx.AsyncClient,
) -> None:
    data = registration()
    del data["acceptTerms"]
    body = await gql(client, REGISTER, {"input": data})
    assert error_code(body) == "BAD_USER_INPUT"


async def test_duplicate_email_is_a_conflict_case_insensitively(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    member = await register(client)
    email = member["_input"]["email"]
    body = await gql(client, REGISTER, {"input": registration(email=email.upper())})
    assert error_code(body) == "CONFLICT"
    assert error_field(body) == "email"
    assert await count_members_with_email(app, email) == 1
    assert len(await outbox_rows(app, member["id"])) == 1


async def test_concurrent_duplicate_registrations_create_one_member(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    email = unique_email("race")
    bodies = await asyncio.gather(
        *(gql(client, REGISTER, {"input": registration(email=email)}) for _ in range(6))
    )
    ok = [b for b in bodies if not b.get("errors")]
    conflicts = [b for b in bodies if b.get("errors")]
    assert len(ok) == 1
    assert {error_code(b) for b in conflicts} == {"CONFLICT"}
    assert await count_members_with_email(app, email) == 1


# ---------------------------------------------------------------------------- sessions


async def test_login_issues_verifiable_tokens_and_jwks_serves_the_key(
    client: httpx.AsyncClient,
) -> None:
    member = await register(client)
    tokens = await login(client, member["_input"]["email"].upper())
    assert tokens["memberId"] == member["id"]
    assert tokens["member"]["id"] == member["id"]
    jwks = (await client.get("/.well-known/jwks.json")).json()
    header = jwt.get_unverified_header(tokens["accessToken"])
    assert header["alg"] == "EdDSA"
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    assert "d" not in key  # never the private part
    claims = jwt.decode(
        tokens["accessToken"],
        jwt.PyJWK(key).key,
        algorithms=["EdDSA"],
        audience="kopano",
        issuer="kopano-members",
    )
    assert claims["sub"] == member["id"]
    assert claims["roles"] == ["member"]
    assert claims["jti"]


async def test_wrong_password_and_unknown_email_look_the_same(
    client: httpx.AsyncClient,
) -> None:
    member = await register(client)
    wrong = await gql(
        client, LOGIN, {"email": member["_input"]["email"], "password": "not the password!"}
    )
    unknown = await gql(client, LOGIN, {"email": unique_email(), "password": PASSWORD})
    malformed = await gql(client, LOGIN, {"email": "nope", "password": PASSWORD})
    for body in (wrong, unknown, malformed):
        assert error_code(body) == "UNAUTHENTICATED"
    assert wrong["errors"][0]["message"] == unknown["errors"][0]["message"]
    assert wrong["errors"][0]["message"] == malformed["errors"][0]["message"]


async def test_me_requires_a_valid_token(client: httpx.AsyncClient, signing_key_pem: str) -> None:
    member, token = await signed_up(client)
    body = await gql(client, ME, token=token)
    assert body["data"]["me"]["id"] == member["id"]
    assert body["data"]["me"]["email"] == member["email"]

    assert error_code(await gql(client, ME)) == "UNAUTHENTICATED"
    assert error_code(await gql(client, ME, token="garbage")) == "UNAUTHENTICATED"
    expired = TokenIssuer(
        SigningKey.from_pem(signing_key_pem),
        issuer="kopano-members",
        audience="kopano",
        access_ttl=timedelta(minutes=-5),
    ).issue_access_token(member["id"], roles=["member"])
    body = await gql(client, ME, token=expired)
    assert error_code(body) == "UNAUTHENTICATED"
    assert "expired" in body["errors"][0]["message"]
    foreign = TokenIssuer(
        SigningKey.generate(), issuer="kopano-members", audience="kopano"
    ).issue_access_token(member["id"])
    assert error_code(await gql(client, ME, token=foreign)) == "UNAUTHENTICATED"


async def test_refresh_rotates_and_reuse_revokes_the_family(client: httpx.AsyncClient) -> None:
    member = await register(client)
    first = await login(client, member["_input"]["email"])
    body = await gql(client, REFRESH, {"t": first["refreshToken"]})
    second = body["data"]["refreshToken"]
    assert second["memberId"] == member["id"]
    assert second["refreshToken"] != first["refreshToken"]
    assert "errors" not in await gql(client, ME, token=second["accessToken"])

    # The spent token comes back (stolen copy): refused, and the live one dies with it.
    reused = await gql(client, REFRESH, {"t": first["refreshToken"]})
    assert error_code(reused) == "UNAUTHENTICATED"
    after = await gql(client, REFRESH, {"t": second["refreshToken"]})
    assert error_code(after) == "UNAUTHENTICATED"

    # Another login is a separate family and is unaffected.
    other = await login(client, member["_input"]["email"])
    assert "errors" not in await gql(client, REFRESH, {"t": other["refreshToken"]})


async def test_unknown_refresh_token_is_unauthenticated(client: httpx.AsyncClient) -> None:
    assert error_code(await gql(client, REFRESH, {"t": "made-up"})) == "UNAUTHENTICATED"


async def test_logout_revokes_the_refresh_token(client: httpx.AsyncClient) -> None:
    member = await register(client)
    tokens = await login(client, member["_input"]["email"])
    body = await gql(client, LOGOUT, {"t": tokens["refreshToken"]})
    assert body["data"]["logout"] is True
    assert error_code(await gql(client, REFRESH, {"t": tokens["refreshToken"]})) == (
        "UNAUTHENTICATED"
    )
    # Logging out twice (or with junk) is harmless.
    assert (await gql(client, LOGOUT, {"t": tokens["refreshToken"]}))["data"]["logout"] is True


# ---------------------------------------------------------------------------- profile


async def test_update_profile_normalises_and_publishes_non_sensitive_event(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    member, token = await signed_up(client)
    body = await gql(
        client,
        UPDATE,
        {
            "input": {
                "occupation": "  Mining engineer ",
                "skills": ["Mine Safety", "mine safety", "AutoCAD"],
                "languages": ["st", "EN"],
                "city": "Johannesburg",
                "bio": "Ke Mosotho.\nI build mines.",
                "sector": "MINING",
                "willingToMentor": True,
            }
        },
        token=token,
    )
    assert "errors" not in body, body
    updated = body["data"]["updateProfile"]
    assert updated["occupation"] == "Mining engineer"
    assert updated["skills"] == ["mine-safety", "autocad"]
    assert updated["languages"] == ["st", "en"]
    assert updated["sector"] == "MINING"
    assert updated["phone"] == "+27825550101"  # untouched
    assert updated["willingToMentor"] is True

    rows = await outbox_rows(app, member["id"])
    assert [r["type"] for r in rows] == ["member.registered", "member.profile_updated"]
    data = rows[1]["data"]
    assert data["skills"] == ["mine-safety", "autocad"]
    assert data["sector"] == "MINING"
    assert data["willingToMentor"] is True
    flat = orjson.dumps(data).decode()
    for secret in ("Johannesburg", "Ke Mosotho", "Mining engineer", member["email"], "+2782"):
        assert secret not in flat
    headers = rows[1]["headers"]
    SCHEMAS.validate(
        CloudEvent(
            id=headers["ce_id"],
            source=headers["ce_source"],
            type=headers["ce_type"],
            subject=headers["ce_subject"],
            time=parse_time(headers["ce_time"]),
            data=data,
        )
    )

    # Clearing a private field, editing the bio and a no-op: nothing other services keep
    # changed, so nothing is published.
    body = await gql(client, UPDATE, {"input": {"phone": None}}, token=token)
    assert body["data"]["updateProfile"]["phone"] is None
    body = await gql(client, UPDATE, {"input": {"bio": "Ke mohlankana."}}, token=token)
    assert body["data"]["updateProfile"]["bio"] == "Ke mohlankana."
    body = await gql(client, UPDATE, {"input": {}}, token=token)
    assert "errors" not in body
    assert len(await outbox_rows(app, member["id"])) == 2
    # A new skill is news for matching.
    await gql(client, UPDATE, {"input": {"skills": ["geology"]}}, token=token)
    rows = await outbox_rows(app, member["id"])
    assert len(rows) == 3
    assert rows[-1]["data"]["skills"] == ["geology"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"languages": ["klingon"]}, "languages"),
        ({"skills": ["!!!"]}, "skills"),
        ({"bio": "x" * 2001}, "bio"),
        ({"fullName": None}, "fullName"),
        ({"countryOfResidence": "QQ"}, "countryOfResidence"),
        ({"photoUrl": "javascript:alert(1)"}, "photoUrl"),
        ({"yearsAbroad": 400}, "yearsAbroad"),
    ],
)
async def test_update_profile_rejects_bad_input_atomically(
    client: httpx.AsyncClient, changes: dict[str, Any], field: str
) -> None:
    _, token = await signed_up(client)
    body = await gql(client, UPDATE, {"input": {"city": "Leeds", **changes}}, token=token)
    assert error_code(body) == "BAD_USER_INPUT"
    assert error_field(body) == field
    me = await gql(client, ME, token=token)
    assert me["data"]["me"]["city"] is None  # the valid part was not written either


async def test_update_profile_unknown_enum_and_anonymous(client: httpx.AsyncClient) -> None:
    _, token = await signed_up(client)
    body = await gql(client, UPDATE, {"input": {"sector": "ASTROLOGY"}}, token=token)
    assert error_code(body) == "BAD_USER_INPUT"
    assert error_code(await gql(client, UPDATE, {"input": {"city": "X"}})) == "UNAUTHENTICATED"


async def test_change_password(client: httpx.AsyncClient) -> None:
    member = await register(client)
    email = member["_input"]["email"]
    first = await login(client, email)
    token = first["accessToken"]
    new = "an even sturdier passphrase 43"

    wrong = await gql(
        client, CHANGE_PASSWORD, {"current": "nope nope nope", "new": new}, token=token
    )
    assert error_code(wrong) == "BAD_USER_INPUT"
    assert error_field(wrong) == "currentPassword"
    weak = await gql(client, CHANGE_PASSWORD, {"current": PASSWORD, "new": "short"}, token=token)
    assert error_field(weak) == "newPassword"
    same = await gql(client, CHANGE_PASSWORD, {"current": PASSWORD, "new": PASSWORD}, token=token)
    assert error_field(same) == "newPassword"
    anonymous = await gql(client, CHANGE_PASSWORD, {"current": PASSWORD, "new": new})
    assert error_code(anonymous) == "UNAUTHENTICATED"

    body = await gql(client, CHANGE_PASSWORD, {"current": PASSWORD, "new": new}, token=token)
    assert "errors" not in body, body
    fresh = body["data"]["changePassword"]
    # Other sessions end; the new one works.
    assert error_code(await gql(client, REFRESH, {"t": first["refreshToken"]})) == (
        "UNAUTHENTICATED"
    )
    assert "errors" not in await gql(client, REFRESH, {"t": fresh["refreshToken"]})
    old = await gql(client, LOGIN, {"email": email, "password": PASSWORD})
    assert error_code(old) == "UNAUTHENTICATED"
    await login(client, email, new)


# ---------------------------------------------------------------------------- other members


MEMBER = "query M($id: ID!) { member(id: $id) { id fullName email phone city roles } }"


async def test_other_members_see_only_what_visibility_allows(client: httpx.AsyncClient) -> None:
    target, target_token = await signed_up(client)
    await gql(client, UPDATE, {"input": {"city": "Durban"}}, token=target_token)
    _, viewer_token = await signed_up(client)

    anonymous = (await gql(client, MEMBER, {"id": target["id"]}))["data"]["member"]
    assert anonymous == {
        "id": target["id"],
        "fullName": None,
        "email": None,
        "phone": None,
        "city": None,
        "roles": None,
    }
    member_view = (await gql(client, MEMBER, {"id": target["id"]}, token=viewer_token))["data"][
        "member"
    ]
    assert member_view["fullName"] == "Lerato Mokhele"
    assert member_view["email"] is None
    assert member_view["city"] is None  # CONNECTIONS by default
    own = (await gql(client, MEMBER, {"id": target["id"]}, token=target_token))["data"]["member"]
    assert own["email"] == target["email"]
    assert own["city"] == "Durban"
    assert (await gql(client, MEMBER, {"id": str(uuid.uuid4())}))["data"]["member"] is None


async def test_districts_lists_lesothos_ten_districts(client: httpx.AsyncClient) -> None:
    body = await gql(client, "{ districts { code name } }")
    districts = body["data"]["districts"]
    assert len(districts) == 10
    assert districts[0] == {"code": "LS-A", "name": "Maseru"}
    assert "LS-I" not in {d["code"] for d in districts}
