"""ASGI application: `/graphql` (POST/GET, GraphiQL), `/healthz`, `/readyz`, `/metrics`.

`POST /graphql` is served by a raw ASGI handler (it is the hot path); everything else goes
through Starlette.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import orjson
import structlog
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from gateway.executor import Gateway, OperationError
from gateway.planner import PlanningError
from kopano.logging import get_logger

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = get_logger("gateway")

REQUESTS = Counter("gateway_requests_total", "GraphQL requests", ["status"])
LATENCY = Histogram(
    "gateway_request_duration_seconds",
    "GraphQL request latency",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
_ok = REQUESTS.labels("ok")
_err = REQUESTS.labels("error")

GRAPHIQL = """<!doctype html><html><head><meta charset="utf-8"><title>Kopano GraphiQL</title>
<link rel="stylesheet" href="https://unpkg.com/graphiql@3/graphiql.min.css"/></head>
<body style="margin:0"><div id="g" style="height:100vh"></div>
<script src="https://unpkg.com/react@18/umd/react.production.min.js"></script>
<script src="https://unpkg.com/react-dom@18/umd/react-dom.production.min.js"></script>
<script src="https://unpkg.com/graphiql@3/graphiql.min.js"></script>
<script>ReactDOM.createRoot(document.getElementById('g')).render(React.createElement(GraphiQL,
{fetcher: GraphiQL.createFetcher({url: location.pathname})}));</script></body></html>"""

_JSON_HEADERS = [(b"content-type", b"application/json")]


class GatewayApp:
    """The ASGI entry point."""

    def __init__(self, gateway: Gateway, *, explain: bool = True) -> None:
        self.gateway = gateway
        self.allow_explain = explain
        # Decided once: the access line is skipped entirely when INFO is off.
        self.access_log = logging.getLogger("gateway").isEnabledFor(logging.INFO)
        # (body, credentials) -> (result, serialized result) of a query being executed
        self._inflight: dict[tuple[bytes, bytes], asyncio.Future[tuple[Any, bytes]]] = {}
        self.started = time.time()
        self.starlette = Starlette(
            routes=[
                Route("/graphql", self.graphql_get, methods=["GET"]),
                Route("/healthz", self.healthz),
                Route("/readyz", self.readyz),
                Route("/metrics", self.metrics),
            ],
            lifespan=self._lifespan,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        yield
        await self.gateway.pool.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] in ("/graphql", "/")
        ):
            await self.graphql_post(scope, receive, send)
            return
        await self.starlette(scope, receive, send)

    async def graphql_post(self, scope: Scope, receive: Receive, send: Send) -> None:
        t0 = time.perf_counter()
        chunks: list[bytes] = []
        while True:
            msg = await receive()
            body = msg.get("body", b"")
            if body:
                chunks.append(body)
            if not msg.get("more_body"):
                break
        raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        auth = b""
        explain = False
        request_id = b""
        for k, v in scope["headers"]:
            if k == b"authorization":
                auth = v
            elif k == b"x-kopano-explain":
                explain = v == b"plan"
            elif k == b"x-request-id":
                request_id = v
        if not explain and scope.get("query_string") and b"explain" in scope["query_string"]:
            explain = True
        if not request_id:
            request_id = uuid.uuid4().hex.encode()
        status = 200
        out: bytes | None = None
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            result: Any = {
                "errors": [{"message": "Request body must be a JSON object with a 'query'."}]
            }
            status = 400
        elif explain and self.allow_explain:
            result = self._explain(payload)
        elif self.gateway.dedup and self.gateway.is_query(
            payload["query"], payload.get("operationName")
        ):
            # Identical query requests (same body and credentials) in flight at the same
            # time share one execution.
            key = (raw, auth)
            fut = self._inflight.get(key)
            if fut is None:
                fut = asyncio.get_running_loop().create_future()
                self._inflight[key] = fut
                try:
                    result = await self._execute(payload, auth)
                    out = orjson.dumps(result)
                    fut.set_result((result, out))
                except BaseException as exc:
                    fut.set_exception(exc)
                    fut.exception()  # mark retrieved; sharers re-raise it
                    raise
                finally:
                    del self._inflight[key]
            else:
                result, out = await asyncio.shield(fut)
            if "data" not in result:
                status = 400
        else:
            result = await self._execute(payload, auth)
            if "data" not in result:
                status = 400
        if out is None:
            out = orjson.dumps(result)
        (_ok if status == 200 else _err).inc()
        elapsed = time.perf_counter() - t0
        LATENCY.observe(elapsed)
        if self.access_log:
            errors = result.get("errors") if isinstance(result, dict) else None
            with structlog.contextvars.bound_contextvars(request_id=request_id.decode()):
                log.info(
                    "graphql request",
                    operation=payload.get("operationName") if isinstance(payload, dict) else None,
                    status=status,
                    errors=len(errors) if errors else 0,
                    duration_ms=round(elapsed * 1000, 2),
                )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*_JSON_HEADERS, (b"x-request-id", request_id)],
            }
        )
        await send({"type": "http.response.body", "body": out})

    def _execute(self, payload: dict[str, Any], auth: bytes) -> Awaitable[dict[str, Any]]:
        variables = payload.get("variables")
        return self.gateway.execute(
            payload["query"],
            payload.get("operationName"),
            variables if isinstance(variables, dict) else None,
            auth,
        )

    def _explain(self, payload: dict[str, Any]) -> Any:
        try:
            variables = payload.get("variables") or {}
            return {
                "plan": self.gateway.explain(
                    payload["query"], payload.get("operationName"), variables
                )
            }
        except OperationError as e:
            return {"errors": e.errors}
        except PlanningError as e:
            return {"errors": [{"message": str(e)}]}

    async def graphql_get(self, request: Request) -> Response:
        if "text/html" in request.headers.get("accept", "") and "query" not in request.query_params:
            return HTMLResponse(GRAPHIQL)
        qs = parse_qs(request.url.query)
        query = (qs.get("query") or [""])[0]
        if not query:
            return JSONResponse({"errors": [{"message": "Missing query"}]}, status_code=400)
        op_names = qs.get("operationName")
        op_name = op_names[0] if op_names else None
        variables: Any = None
        if qs.get("variables"):
            try:
                variables = orjson.loads(qs["variables"][0])
            except orjson.JSONDecodeError:
                return JSONResponse({"errors": [{"message": "Invalid variables"}]}, status_code=400)
        try:
            doc = self.gateway.document(query, op_name)
            if doc.operation.operation.value != "query":
                return JSONResponse(
                    {"errors": [{"message": "Only queries are allowed over GET"}]},
                    status_code=405,
                )
        except OperationError as e:
            return JSONResponse({"errors": e.errors}, status_code=400)
        if "explain" in qs and self.allow_explain:
            return Response(
                orjson.dumps(
                    self._explain(
                        {"query": query, "operationName": op_name, "variables": variables}
                    )
                ),
                media_type="application/json",
            )
        auth = request.headers.get("authorization", "").encode()
        result = await self.gateway.execute(query, op_name, variables, auth)
        return Response(orjson.dumps(result), media_type="application/json")

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        checks: dict[str, str] = {}

        async def check(name: str, url: str) -> None:
            try:
                body = orjson.dumps({"query": "{__typename}"})
                status, _ = await self.gateway.pool.post(url, body)
                checks[name] = "ok" if status < 500 else f"HTTP {status}"
            except Exception as exc:
                checks[name] = f"unreachable: {exc}"

        await asyncio.gather(
            *(check(self.gateway.names[g], u) for g, u in self.gateway.urls.items())
        )
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "supergraph": "loaded", "subgraphs": checks},
            status_code=200 if ok else 503,
        )

    async def metrics(self, request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
