"""`@authenticated`, `@requiresScopes` and `@policy` enforced before any subgraph fetch:
a denied field is never fetched, reads as null and is reported at its path."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from gw_hardening import Calls, Running, Subgraphs, start_gateway

from kopano.auth import SigningKey, StaticJwks, TokenIssuer, TokenVerifier

ISSUER = TokenIssuer(SigningKey.generate(), "kopano-members", "kopano")


def bearer(*, scopes: tuple[str, ...] = (), roles: tuple[str, ...] = ()) -> dict[str, str]:
    token = ISSUER.issue_access_token("m-1", roles=roles, scopes=scopes)
    return {"authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
async def gw(subgraphs: Subgraphs) -> AsyncIterator[Running]:
    verifier = TokenVerifier(StaticJwks(ISSUER.jwks()), "kopano-members", "kopano")
    running = await start_gateway(
        subgraphs, app_options={"verifier": verifier}, policies={"staff": ["staff", "admin"]}
    )
    yield running
    await running.stop()


async def test_authenticated_field_is_removed_for_anonymous_callers(
    gw: Running, calls: Calls
) -> None:
    r = await gw.post({"query": "{ whoami users { id } }"})
    assert r.json() == {
        "errors": [
            {
                "message": "Unauthorized field or type: Query.whoami",
                "path": ["whoami"],
                "extensions": {"code": "UNAUTHENTICATED"},
            }
        ],
        "data": {"whoami": None, "users": [{"id": "1"}, {"id": "2"}]},
    }
    # whoami and users both live in accounts: one fetch, without whoami in it
    assert calls.count("accounts") == 1
    assert calls.count() == 1


async def test_a_query_of_only_protected_fields_calls_no_subgraph(
    gw: Running, calls: Calls
) -> None:
    r = await gw.post({"query": "{ whoami warehouseName }"})
    body = r.json()
    assert body["data"] == {"whoami": None, "warehouseName": None}
    assert {e["path"][0] for e in body["errors"]} == {"whoami", "warehouseName"}
    assert calls.count() == 0


async def test_signed_in_caller_sees_authenticated_field(gw: Running, calls: Calls) -> None:
    headers = bearer()
    r = await gw.post({"query": "{ whoami }"}, headers)
    assert r.json() == {"data": {"whoami": headers["authorization"]}}


async def test_missing_scope_is_forbidden_and_nested_field_not_fetched(
    gw: Running, calls: Calls
) -> None:
    q = "{ topProducts { upc inStock } }"
    r = await gw.post({"query": q}, bearer())
    body = r.json()
    assert body["data"] == {
        "topProducts": [{"upc": "p1", "inStock": None}, {"upc": "p2", "inStock": None}]
    }
    assert body["errors"] == [
        {
            "message": "Unauthorized field or type: Product.inStock",
            "path": ["topProducts", "inStock"],
            "extensions": {"code": "FORBIDDEN"},
        }
    ]
    assert calls.count("inventory") == 0
    calls.clear()
    r = await gw.post({"query": q}, bearer(scopes=("stock",)))
    assert r.json() == {
        "data": {"topProducts": [{"upc": "p1", "inStock": True}, {"upc": "p2", "inStock": False}]}
    }
    assert calls.count("inventory") == 1


async def test_scope_denial_inside_a_fragment_and_alias(gw: Running, calls: Calls) -> None:
    q = "query { users { ...U } } fragment U on User { id nick: name }"
    r = await gw.post({"query": q}, bearer())
    body = r.json()
    assert body["data"] == {"users": [{"id": "1", "nick": None}, {"id": "2", "nick": None}]}
    assert body["errors"][0]["path"] == ["users", "nick"]
    r = await gw.post({"query": q}, bearer(scopes=("profile:read",)))
    assert r.json()["data"]["users"][0] == {"id": "1", "nick": "Thabo Mokoena"}


async def test_policy_maps_to_roles(gw: Running, calls: Calls) -> None:
    q = "{ warehouseName }"
    r = await gw.post({"query": q}, bearer(roles=("member",)))
    assert r.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert calls.count() == 0
    r = await gw.post({"query": q}, bearer(roles=("staff",)))
    assert r.json() == {"data": {"warehouseName": "Maseru"}}
    assert calls.count("inventory") == 1


async def test_measure_mode_serves_but_off_mode_ignores_directives(
    subgraphs: Subgraphs, calls: Calls
) -> None:
    for mode in ("measure", "off"):
        running = await start_gateway(subgraphs, authz=mode)
        try:
            r = await running.post({"query": "{ warehouseName }"})
            assert "errors" not in r.json(), mode
            assert calls.count("inventory") == 1
            calls.clear()
        finally:
            await running.stop()
