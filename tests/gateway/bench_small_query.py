"""Benchmark (not a test): gateway CPU per small one-fetch query through the ASGI app
in-process, the subgraph's answer replayed from memory (only gateway work is timed), with
the default features on (metrics, breaker, retries, token limit). Variants: one named
operation; a fresh operation name per request (what a client inventing names costs); a
client-sent X-Request-Id instead of a generated one.

    .tools/bin/uv run --no-sync python tests/gateway/bench_small_query.py
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import MutableMapping
from typing import Any

import orjson
from gw_subgraphs import supergraph_sdl

from gateway.app import GatewayApp
from gateway.executor import Gateway
from gateway.supergraph import Supergraph

ANSWER = orjson.dumps({"data": {"users": [{"id": "1"}, {"id": "2"}]}})


async def _replay(
    url: str, body: bytes, extra_headers: bytes = b"", time_limit: float | None = None
) -> tuple[int, bytes]:
    return 200, ANSWER


async def _call(app: GatewayApp, body: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    msgs = [{"type": "http.request", "body": body, "more_body": False}]
    status = 0

    async def receive() -> dict[str, Any]:
        return msgs.pop()

    async def send(m: MutableMapping[str, Any]) -> None:
        nonlocal status
        if m["type"] == "http.response.start":
            status = m["status"]

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/graphql",
        "headers": headers,
        "query_string": b"",
        "client": ("127.0.0.1", 1),
    }
    await app(scope, receive, send)
    return status


async def _cpu_per_request(
    app: GatewayApp, bodies: list[bytes], headers: list[tuple[bytes, bytes]]
) -> float:
    for b in bodies[:200]:  # warm the caches
        assert await _call(app, b, headers) == 200
    best = float("inf")
    for _ in range(5):
        t0 = time.process_time()
        for b in bodies:
            await _call(app, b, headers)
        best = min(best, (time.process_time() - t0) / len(bodies))
    return best


async def main() -> None:
    urls = {
        n: "http://127.0.0.1:9/graphql" for n in ("accounts", "products", "inventory", "reviews")
    }
    gw = Gateway(Supergraph(supergraph_sdl(urls)), dedup=False, retries=1, breaker=(5, 10.0))
    gw.pool.post = _replay  # type: ignore[method-assign]
    app = GatewayApp(gw, max_body_bytes=1_000_000)
    n = 20_000
    named = [orjson.dumps({"query": "query Users { users { id } }"})] * n
    # the same document under a new operation name each time (valid, so it is served)
    fresh = [orjson.dumps({"query": f"query Op{i} {{ users {{ id }} }}"}) for i in range(n)]
    print(f"load average {os.getloadavg()[0]:.2f}; best of 5 x {n} requests, CPU per request")
    us = 1e6
    print(
        f"  named operation, generated request id: {await _cpu_per_request(app, named, []) * us:.1f} µs"
    )
    rid = [(b"x-request-id", b"req-1")]
    print(
        f"  named operation, client request id:    {await _cpu_per_request(app, named, rid) * us:.1f} µs"
    )
    gw.cache_size = 4 * n  # keep every fresh document cached: time the metrics, not parsing
    await _cpu_per_request(app, fresh, [])  # parse and cache them once
    print(
        f"  a new operation name per request:      {await _cpu_per_request(app, fresh, []) * us:.1f} µs"
    )


if __name__ == "__main__":
    asyncio.run(main())
