"""Benchmark (not a test): how long the gateway takes to reject a ~2 MB, >100,000-token
query, by the body limit and by the token limit, through the ASGI app in-process.

    .tools/bin/uv run --no-sync python tests/gateway/bench_rejection.py
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import MutableMapping
from typing import Any

import orjson
from gw_subgraphs import supergraph_sdl

from gateway.app import GatewayApp
from gateway.executor import Gateway
from gateway.supergraph import Supergraph


async def _call(app: GatewayApp, body: bytes) -> tuple[int, bytes]:
    # delivered in 64 KiB chunks, as a server would
    chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]
    msgs = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    msgs.reverse()
    out: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return msgs.pop()

    async def send(m: MutableMapping[str, Any]) -> None:
        out.append(m)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/graphql",
        "headers": [],
        "query_string": b"",
        "client": ("127.0.0.1", 1),
    }
    await app(scope, receive, send)
    return out[0]["status"], out[1]["body"]


async def main() -> None:
    sdl = supergraph_sdl(
        {n: "http://127.0.0.1:9/" + n for n in ("accounts", "products", "inventory", "reviews")}
    )
    fields = " ".join(f"f{i}" for i in range(270_000))
    query = "{ users { " + fields + " } }"
    body = orjson.dumps({"query": query})
    print(f"query: {len(query):,} characters, {len(fields.split()) + 6:,} tokens")
    for label, max_body in (("body limit 1 MB", 1_000_000), ("token limit 15,000", 0)):
        times = []
        for i in range(7):
            # a fresh gateway each time: nothing cached
            app = GatewayApp(Gateway(Supergraph(sdl)), max_body_bytes=max_body)
            t = time.perf_counter()
            status, out = await _call(app, body)
            times.append((time.perf_counter() - t) * 1000)
            if i == 0:
                print(f"  {label}: HTTP {status} {out[:90].decode()}")
        print(f"  {label}: median {statistics.median(times):.1f} ms, max {max(times):.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
