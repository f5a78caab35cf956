"""GraphQL helpers shared by the members tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from members.settings import MembersSettings

PASSWORD = "a sturdy passphrase 42"

REGISTER = """
mutation Register($input: RegisterInput!) {
  register(input: $input) {
    id fullName email phone countryOfResidence districtOfOrigin { code name } roles
  }
}
"""

LOGIN = """
mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) {
    accessToken refreshToken accessTokenExpiresAt refreshTokenExpiresAt memberId
    member { id email }
  }
}
"""


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=sent
    )
    assert response.status_code in (200, 400), response.text
    body: dict[str, Any] = response.json()
    return body


def error_code(body: dict[str, Any]) -> str:
    assert body.get("errors"), body
    code: str = body["errors"][0]["extensions"]["code"]
    return code


def error_field(body: dict[str, Any]) -> str | None:
    field: str | None = body["errors"][0]["extensions"].get("field")
    return field


def unique_email(prefix: str = "member") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:12]}@example.org"


def registration(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "email": unique_email(),
        "password": PASSWORD,
        "fullName": "Lerato Mokhele",
        "countryOfResidence": "ZA",
        "phone": "+27 82 555 0101",
        "districtOfOrigin": "LS-A",
        "acceptTerms": True,
        "acceptDataProcessing": True,
    }
    data.update(overrides)
    return data


async def register(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    data = registration(**overrides)
    body = await gql(client, REGISTER, {"input": data})
    assert "errors" not in body, body
    member: dict[str, Any] = body["data"]["register"]
    member["_input"] = data
    return member


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    body = await gql(client, LOGIN, {"email": email, "password": password})
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["login"]
    return payload


async def signed_up(client: httpx.AsyncClient, **overrides: Any) -> tuple[dict[str, Any], str]:
    """Register and log in; returns (member, access token)."""
    member = await register(client, **overrides)
    tokens = await login(client, member["_input"]["email"])
    return member, tokens["accessToken"]


def make_settings(database_url: str, signing_key_pem: str, **overrides: Any) -> MembersSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "environment": "test",
        "signing_key_pem": signing_key_pem,
        "relay_enabled": False,
        "consumers_enabled": False,
        # Cheap argon2 parameters: the suite hashes hundreds of passwords.
        "password_hash_memory_kib": 1024,
        "password_hash_time_cost": 1,
        "database_pool_size": 3,
    }
    values.update(overrides)
    return MembersSettings(**values)


def outbox_event(row: Any) -> Any:
    """Rebuild the CloudEvent of an outbox row (headers + payload) for schema checks."""
    import orjson

    from kopano.events import CloudEvent, parse_time

    headers = row.headers
    return CloudEvent(
        id=headers["ce_id"],
        source=headers["ce_source"],
        type=headers["ce_type"],
        subject=headers["ce_subject"],
        time=parse_time(headers["ce_time"]),
        data=orjson.loads(row.payload),
    )


async def make_admin(client: httpx.AsyncClient, app: Any) -> tuple[dict[str, Any], str]:
    """A member promoted through the operator command path, then logged in (token has the role)."""
    from members.service.admin import grant_role_from_cli

    member = await register(client, fullName="Ntate Admin")
    await grant_role_from_cli(app.state.members.services.config, member["_input"]["email"], "admin")
    tokens = await login(client, member["_input"]["email"])
    return member, tokens["accessToken"]
