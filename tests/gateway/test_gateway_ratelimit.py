"""Per-client rate limiting with RateLimit headers and 429, in memory and in Redis."""

from __future__ import annotations

import uuid

import pytest
from gw_hardening import Calls, Subgraphs, start_gateway

from gateway.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from kopano.auth import SigningKey, StaticJwks, TokenIssuer, TokenVerifier

REDIS_URL = "redis://127.0.0.1:6379/0"


def _limiter(kind: str) -> RateLimiter:
    # hour-long windows: a test never straddles a window boundary in practice
    if kind == "memory":
        return MemoryRateLimiter(3, 3600)
    return RedisRateLimiter(REDIS_URL, 3, 3600, prefix=f"gw-test:{uuid.uuid4().hex}:")


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_limit_headers_and_429(subgraphs: Subgraphs, calls: Calls, kind: str) -> None:
    running = await start_gateway(subgraphs, app_options={"rate_limiter": _limiter(kind)})
    try:
        remaining = []
        for _ in range(3):
            r = await running.post({"query": "{ users { id } }"})
            assert r.status_code == 200
            assert r.headers["ratelimit-policy"] == '"default";q=3;w=3600'
            remaining.append(r.headers["ratelimit"].split(";")[1])
        assert remaining == ["r=2", "r=1", "r=0"]
        calls.clear()
        r = await running.post({"query": "{ users { id } }"})
        assert r.status_code == 429
        # GET shares the budget
        r = await running.client.get(running.url + "/graphql", params={"query": "{ users { id } }"})
        assert r.status_code == 429
        assert r.headers["ratelimit"].startswith('"default";r=0;')
        assert r.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        assert int(r.headers["retry-after"]) >= 1
        assert calls.count() == 0
    finally:
        await running.stop()
        assert running.app.rate_limiter is not None
        await running.app.rate_limiter.aclose()


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_signed_in_callers_are_counted_by_subject(
    subgraphs: Subgraphs, calls: Calls, kind: str
) -> None:
    issuer = TokenIssuer(SigningKey.generate(), "kopano-members", "kopano")
    verifier = TokenVerifier(StaticJwks(issuer.jwks()), "kopano-members", "kopano")
    running = await start_gateway(
        subgraphs, app_options={"rate_limiter": _limiter(kind), "verifier": verifier}
    )
    try:
        a = {"authorization": "Bearer " + issuer.issue_access_token("member-a")}
        b = {"authorization": "Bearer " + issuer.issue_access_token("member-b")}
        for _ in range(3):
            assert (await running.post({"query": "{ users { id } }"}, a)).status_code == 200
        assert (await running.post({"query": "{ users { id } }"}, a)).status_code == 429
        # same address, another member: a fresh budget
        r = await running.post({"query": "{ users { id } }"}, b)
        assert r.status_code == 200
        assert r.headers["ratelimit"].startswith('"default";r=2;t=')
    finally:
        await running.stop()
        assert running.app.rate_limiter is not None
        await running.app.rate_limiter.aclose()
