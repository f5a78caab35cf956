"""Identity at the gateway: the ten malformed-token cases are refused before any subgraph
call; a valid token is forwarded with the gateway's shared secret; client-sent internal
headers never reach a subgraph."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
import orjson
import pytest
from gw_hardening import Calls, Running, Subgraphs, start_gateway

from kopano.auth import SigningKey, StaticJwks, TokenIssuer, TokenVerifier

ISS, AUD = "kopano-members", "kopano"
KEY = SigningKey.generate()
OTHER = SigningKey.generate()
ISSUER = TokenIssuer(KEY, ISS, AUD)


def _claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    c: dict[str, Any] = {
        "iss": ISS,
        "aud": AUD,
        "sub": "m-1",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "j1",
        "roles": [],
        "scope": "",
    }
    c.update(over)
    return c


def _sign(claims: dict[str, Any], key: SigningKey = KEY, kid: str | None = None) -> str:
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": kid or key.kid})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _none_token() -> str:
    header = _b64(orjson.dumps({"alg": "none", "typ": "JWT", "kid": KEY.kid}))
    return f"{header}.{_b64(orjson.dumps(_claims()))}."


def _hs256_with_public_key() -> str:
    # Key confusion: HMAC "signed" with the issuer's public key as the secret.
    header = _b64(orjson.dumps({"alg": "HS256", "typ": "JWT", "kid": KEY.kid}))
    body = _b64(orjson.dumps(_claims()))
    secret = KEY.public_jwk()["x"].encode()
    sig = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(sig)}"


def _bad_signature() -> str:
    token = _sign(_claims())
    head, body, sig = token.split(".")
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    return f"{head}.{body}.{flipped}"


BAD_TOKENS = {
    "none algorithm": _none_token(),
    "key confusion": _hs256_with_public_key(),
    "expired": _sign(_claims(exp=int(time.time()) - 3600, nbf=int(time.time()) - 7200)),
    "not yet valid": _sign(_claims(nbf=int(time.time()) + 3600)),
    "wrong audience": _sign(_claims(aud="someone-else")),
    "wrong issuer": _sign(_claims(iss="https://evil.example")),
    "unknown kid": _sign(_claims(), key=OTHER),
    "bad signature": _bad_signature(),
    "truncated": _sign(_claims())[:-20],
    "oversized": _sign(_claims(pad="x" * 20_000)),
}


@pytest.fixture(scope="module")
async def gw(subgraphs: Subgraphs) -> AsyncIterator[Running]:
    verifier = TokenVerifier(StaticJwks(ISSUER.jwks()), ISS, AUD)
    running = await start_gateway(
        subgraphs,
        app_options={"verifier": verifier},
        gateway_token="internal-secret",
    )
    yield running
    await running.stop()


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
async def test_malformed_tokens_are_refused_without_subgraph_calls(
    gw: Running, calls: Calls, case: str
) -> None:
    r = await gw.post(
        {"query": "{ users { id } }"}, {"authorization": f"Bearer {BAD_TOKENS[case]}"}
    )
    assert r.status_code == 401, case
    body = r.json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "data" not in body
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert calls.count() == 0


async def test_not_a_bearer_credential_is_refused(gw: Running, calls: Calls) -> None:
    r = await gw.post({"query": "{ users { id } }"}, {"authorization": "Basic dTpw"})
    assert r.status_code == 401
    assert calls.count() == 0


async def test_valid_token_is_forwarded_with_the_gateway_secret(gw: Running, calls: Calls) -> None:
    token = ISSUER.issue_access_token("m-1", scopes=["profile:read"])
    r = await gw.post(
        {"query": "{ users { id name } }"},
        {
            "authorization": f"Bearer {token}",
            # a client trying to pass as the gateway, or to assert an identity
            "x-kopano-gateway-token": "forged",
            "x-kopano-principal": "admin",
        },
    )
    assert r.status_code == 200
    assert r.json()["data"]["users"][0] == {"id": "1", "name": "Thabo Mokoena"}
    seen = calls.seen["accounts"]
    assert len(seen) == 1
    assert seen[0]["authorization"] == f"Bearer {token}"
    assert seen[0]["x-kopano-gateway-token"] == "internal-secret"
    assert "x-kopano-principal" not in seen[0]


async def test_anonymous_requests_still_reach_public_fields(gw: Running, calls: Calls) -> None:
    r = await gw.post({"query": "{ users { id } }"})
    assert r.status_code == 200
    assert r.json() == {"data": {"users": [{"id": "1"}, {"id": "2"}]}}
    assert "authorization" not in calls.seen["accounts"][0]
