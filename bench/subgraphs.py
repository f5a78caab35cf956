"""One HTTP process serving the four subgraphs and the monolith oracle.

Routes: ``POST /accounts /inventory /products /reviews`` (federation subgraphs), ``POST /monolith``
(the whole API without federation), ``GET /health`` and ``GET /stats`` (request counters, so the
runner can report subgraph requests per client request).

Run: ``python -m bench.subgraphs --port 4200 [--no-cache] [--delay-ms N]``.

The data never changes, so by default the serialized response is cached per (route, raw body): the
subgraphs then cost almost nothing and the gateway under test stays the bottleneck (as the reference
benchmark's Rust subgraphs do). ``--no-cache`` executes graphql-core on every request.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    execute_sync,
    parse,
    validate,
)

from bench.schemas import build_all

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON_HEADERS = [(b"content-type", b"application/json")]
_CACHE_MAX = 10_000


@dataclass
class Stats:
    requests: dict[str, int] = field(default_factory=dict)
    cache_hits: int = 0
    cache_misses: int = 0
    errors: int = 0

    def as_json(self, cache: bool, cached_entries: int) -> bytes:
        return orjson.dumps(
            {
                "requests": self.requests,
                "total": sum(self.requests.values()),
                "cacheHits": self.cache_hits,
                "cacheMisses": self.cache_misses,
                "errors": self.errors,
                "cache": cache,
                "cachedEntries": cached_entries,
            }
        )


class SubgraphServer:
    """ASGI app: executes GraphQL requests against the benchmark schemas."""

    def __init__(self, *, cache: bool = True, delay_ms: float = 0.0) -> None:
        self.schemas: dict[str, GraphQLSchema] = build_all()
        self.cache = cache
        self.delay = delay_ms / 1000
        self.stats = Stats()
        self._documents: dict[tuple[str, str], DocumentNode | list[GraphQLError]] = {}
        self._responses: dict[tuple[str, bytes], bytes] = {}

    def _document(self, name: str, query: str) -> DocumentNode | list[GraphQLError]:
        key = (name, query)
        entry = self._documents.get(key)
        if entry is None:
            try:
                doc = parse(query)
                errors = validate(self.schemas[name], doc)
                entry = errors or doc
            except GraphQLError as exc:
                entry = [exc]
            if len(self._documents) > 1000:
                self._documents.clear()
            self._documents[key] = entry
        return entry

    def execute(self, name: str, body: bytes) -> tuple[int, bytes, bool]:
        """Run one request body; returns (status, response bytes, cacheable)."""
        try:
            payload = orjson.loads(body)
            query = payload["query"]
            assert isinstance(query, str)
        except (orjson.JSONDecodeError, KeyError, TypeError, AssertionError):
            return 400, b'{"errors":[{"message":"expected a JSON body with a query"}]}', False
        doc = self._document(name, query)
        if isinstance(doc, list):
            self.stats.errors += 1
            return 200, orjson.dumps({"errors": [e.formatted for e in doc]}), False
        result = execute_sync(
            self.schemas[name],
            doc,
            variable_values=payload.get("variables"),
            operation_name=payload.get("operationName"),
        )
        assert isinstance(result, ExecutionResult)
        out: dict[str, Any] = {}
        if result.errors:
            self.stats.errors += 1
            out["errors"] = [e.formatted for e in result.errors]
        out["data"] = result.data
        return 200, orjson.dumps(out), not result.errors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        method: str = scope["method"]
        if method == "GET" and path == "/health":
            await _respond(send, 200, b"OK", [(b"content-type", b"text/plain")])
            return
        if method == "GET" and path == "/stats":
            body = self.stats.as_json(self.cache, len(self._responses))
            await _respond(send, 200, body, _JSON_HEADERS)
            return
        name = path.strip("/")
        if method != "POST" or name not in self.schemas:
            await _respond(send, 404, b"", [])
            return
        request_body = await _read_body(receive)
        self.stats.requests[name] = self.stats.requests.get(name, 0) + 1
        if self.delay:
            await asyncio.sleep(self.delay)
        key = (name, request_body)
        cached = self._responses.get(key) if self.cache else None
        if cached is not None:
            self.stats.cache_hits += 1
            await _respond(send, 200, cached, _JSON_HEADERS)
            return
        self.stats.cache_misses += 1
        status, body, cacheable = self.execute(name, request_body)
        if self.cache and cacheable:
            if len(self._responses) >= _CACHE_MAX:
                self._responses.clear()
            self._responses[key] = body
        await _respond(send, status, body, _JSON_HEADERS)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    # an explicit length: without it uvicorn sends chunked responses
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def serve(host: str, port: int, *, cache: bool = True, delay_ms: float = 0.0) -> None:
    import uvicorn

    uvicorn.run(
        SubgraphServer(cache=cache, delay_ms=delay_ms),
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        timeout_keep_alive=120,
        backlog=4096,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=4200)
    ap.add_argument("--no-cache", action="store_true", help="execute every request")
    ap.add_argument("--delay-ms", type=float, default=0.0, help="artificial delay per request")
    a = ap.parse_args()
    print(f"subgraphs on http://{a.host}:{a.port} (cache={not a.no_cache})", flush=True)
    serve(a.host, a.port, cache=not a.no_cache, delay_ms=a.delay_ms)


if __name__ == "__main__":
    main()
