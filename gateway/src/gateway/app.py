"""ASGI application: `/graphql` (POST/GET, GraphiQL), `/healthz`, `/readyz`, `/metrics`.

`POST /graphql` is served by a raw ASGI handler (it is the hot path); everything else goes
through Starlette.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from gateway import telemetry
from gateway.executor import Document, Gateway, OperationError
from gateway.limits import LimitExceeded
from gateway.persisted import PersistedQueries
from gateway.planner import PlanningError
from gateway.ratelimit import RateLimiter
from gateway.telemetry import LATENCY, REQUESTS
from kopano.auth import Principal, TokenVerifier
from kopano.errors import Unauthenticated
from kopano.logging import get_logger

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = get_logger("gateway")

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
    """The ASGI entry point.

    Every hardening feature is an optional collaborator; when it is None the request path
    does not touch it.
    """

    def __init__(
        self,
        gateway: Gateway,
        *,
        explain: bool = True,
        graphiql: bool = True,
        verifier: TokenVerifier | None = None,
        rate_limiter: RateLimiter | None = None,
        persisted: PersistedQueries | None = None,
        max_body_bytes: int = 0,
        max_batch: int = 10,
        limits_measure: bool = False,
        tracer: Any = None,
        reload_source: Callable[[], Awaitable[str | None]] | None = None,
        reload_interval: float = 0.0,
        gateway_factory: Callable[[str], Gateway] | None = None,
    ) -> None:
        self.gateway = gateway
        self.allow_explain = explain
        self.graphiql = graphiql
        self.verifier = verifier
        self.rate_limiter = rate_limiter
        self.persisted = persisted
        self.max_body_bytes = max_body_bytes
        self.max_batch = max_batch
        self.limits_measure = limits_measure
        self.tracer = tracer
        self.reload_source = reload_source
        self.reload_interval = reload_interval
        self.gateway_factory = gateway_factory
        self._reload_task: asyncio.Task[None] | None = None
        # Decided once: the access line is skipped entirely when INFO is off.
        self.access_log = logging.getLogger("gateway").isEnabledFor(logging.INFO)
        # (body, credentials) -> (result, serialized result) of a query being executed
        self._inflight: dict[tuple[bytes, bytes], asyncio.Future[tuple[Any, bytes]]] = {}
        self.in_flight = 0
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
        self.start_reloader()
        yield
        if self._reload_task is not None:
            self._reload_task.cancel()
        # uvicorn has stopped accepting and waited for responses in flight; wait for any
        # execution still running (a shared in-flight query) before closing connections.
        for _ in range(100):
            if not self.in_flight:
                break
            await asyncio.sleep(0.05)
        await self.gateway.pool.aclose()
        if self.rate_limiter is not None:
            await self.rate_limiter.aclose()
        if self.tracer is not None:
            # the batch exporter's last spans (its HTTP post blocks: off the loop)
            await asyncio.to_thread(telemetry.shutdown_tracing)

    # -- hot reload ----------------------------------------------------------------------

    def start_reloader(self) -> None:
        if (
            self.reload_source is not None
            and self.reload_interval > 0
            and self._reload_task is None
        ):
            self._reload_task = asyncio.create_task(self._poll())

    async def _poll(self) -> None:
        assert self.reload_source is not None
        refused: str | None = None
        while True:
            await asyncio.sleep(self.reload_interval)
            try:
                sdl = await self.reload_source()
            except Exception as exc:
                log.warning("supergraph source unreadable", error=str(exc))
                continue
            if sdl is None or sdl == self.gateway.supergraph.sdl or sdl == refused:
                continue  # unchanged, or the same text already refused: no parse
            refused = None if self.apply_supergraph(sdl) else sdl

    def apply_supergraph(self, sdl: str) -> bool:
        """Swap in a new supergraph. Requests in flight keep the gateway they started with;
        an invalid supergraph is refused and the current one stays."""
        assert self.gateway_factory is not None
        try:
            new = self.gateway_factory(sdl)
        except Exception as exc:
            telemetry.SUPERGRAPH_RELOADS.labels("refused").inc()
            log.warning("supergraph refused; keeping the current one", error=str(exc))
            return False
        self.gateway = new  # one attribute store: atomic for every later request
        telemetry.SUPERGRAPH_RELOADS.labels("applied").inc()
        log.warning("supergraph reloaded", subgraphs=sorted(new.names.values()))
        return True

    # -- POST /graphql -------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] in ("/graphql", "/")
        ):
            self.in_flight += 1
            try:
                if self.tracer is not None:
                    parent = telemetry.incoming_context(scope["headers"])
                    with self.tracer.start_as_current_span("graphql request", context=parent):
                        status = await self.graphql_post(scope, receive, send)
                else:
                    status = await self.graphql_post(scope, receive, send)
            except Exception:
                telemetry.count_response("/graphql", 500)  # uvicorn answers 500
                raise
            finally:
                self.in_flight -= 1
            telemetry.count_response("/graphql", status)  # POST / is /graphql too
            return
        if scope["type"] != "http":
            await self.starlette(scope, receive, send)
            return
        await self._counted(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Starlette's routes with their answers counted (500 when a handler raised:
        Starlette's error middleware answers 500 and re-raises)."""
        status: int | None = None

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.starlette(scope, receive, counting_send)
        except Exception:
            telemetry.count_response(scope["path"], 500)
            raise
        # No response started: uvicorn answers 500 itself.
        telemetry.count_response(scope["path"], 500 if status is None else status)

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The body, or None when it is over `max_body_bytes` (reading stops there)."""
        chunks: list[bytes] = []
        size = 0
        limit = self.max_body_bytes
        while True:
            msg = await receive()
            body = msg.get("body", b"")
            if body:
                chunks.append(body)
                if limit:
                    size += len(body)
                    if size > limit:
                        return None
            if not msg.get("more_body"):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def graphql_post(self, scope: Scope, receive: Receive, send: Send) -> int:
        """Serve one POST; returns the status it answered."""
        t0 = time.perf_counter()
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
            request_id = _new_request_id()
        headers = [*_JSON_HEADERS, (b"x-request-id", request_id)]
        gw = self.gateway  # this request runs on this supergraph even if a reload happens
        status = 200
        out: bytes | None = None
        payload: Any = None
        result: Any
        raw = await self._read_body(receive)
        principal: Principal | None = None
        if raw is None:
            status, result = 413, _reject("REQUEST_TOO_LARGE", "Request body is too large.")
        elif self.verifier is not None and auth:
            try:
                principal = await self.verifier.verify(_bearer(auth))
            except Unauthenticated as exc:
                status, result = 401, _reject("UNAUTHENTICATED", str(exc))
                headers.append((b"www-authenticate", b'Bearer error="invalid_token"'))
        if status == 200 and self.rate_limiter is not None:
            client = principal.subject if principal is not None else _client_addr(scope)
            decision = await self.rate_limiter.hit(client)
            headers.extend(decision.headers())
            if not decision.allowed:
                status, result = 429, _reject("RATE_LIMITED", "Too many requests.")
        if status == 200:
            assert raw is not None
            try:
                payload = orjson.loads(raw)
            except orjson.JSONDecodeError:
                payload = None
            if isinstance(payload, list):
                status, result = await self._batch(gw, payload, auth, principal, explain)
            elif not isinstance(payload, dict):
                result = _reject(
                    "BAD_REQUEST", "Request body must be a JSON object with a 'query'."
                )
                status = 400
            else:
                status, result, out = await self._one(gw, payload, raw, auth, principal, explain)
        if status == 400 and isinstance(result, dict):
            _count_rejection(result, self.limits_measure)
        if out is None:
            out = orjson.dumps(result)
        (_ok if status == 200 else _err).inc()
        elapsed = time.perf_counter() - t0
        LATENCY.observe(elapsed)
        op_name = _operation_name(gw, payload) if gw.metrics or self.access_log else None
        if gw.metrics:
            m = _OP_METRICS.get((op_name, status))
            if m is None:
                m = _op_metrics(op_name, status, _valid_operation(gw, payload, status))
            m[0].inc()
            m[1].observe(elapsed)
        if self.access_log:
            errors = result.get("errors") if isinstance(result, dict) else None
            log.info(
                "graphql request",
                request_id=request_id.decode("latin-1"),
                operation=op_name,
                status=status,
                errors=len(errors) if errors else 0,
                duration_ms=round(elapsed * 1000, 2),
                subgraphs=_subgraphs(gw, payload),
                authenticated=principal is not None,
            )
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": out})
        return status

    async def _one(
        self,
        gw: Gateway,
        payload: dict[str, Any],
        raw: bytes,
        auth: bytes,
        principal: Principal | None,
        explain: bool,
    ) -> tuple[int, Any, bytes | None]:
        """One operation: (status, result, serialized result when already serialized)."""
        if self.persisted is not None:
            try:
                query = self.persisted.resolve(payload)
            except LimitExceeded as exc:
                return exc.status, {"errors": [exc.error()]}, None
            if query is not payload.get("query"):
                payload = {**payload, "query": query}
        elif not isinstance(payload.get("query"), str):
            return (
                400,
                _reject("BAD_REQUEST", "Request body must be a JSON object with a 'query'."),
                None,
            )
        if explain and self.allow_explain:
            return 200, self._explain(payload), None
        out: bytes | None = None
        if gw.dedup and gw.is_query(payload["query"], payload.get("operationName")):
            # Identical query requests (same body and credentials) in flight at the same
            # time share one execution.
            key = (raw, auth)
            fut = self._inflight.get(key)
            if fut is None:
                fut = asyncio.get_running_loop().create_future()
                self._inflight[key] = fut
                try:
                    result = await self._execute(gw, payload, auth, principal)
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
        else:
            result = await self._execute(gw, payload, auth, principal)
        return (200 if "data" in result else 400), result, out

    async def _batch(
        self,
        gw: Gateway,
        payloads: list[Any],
        auth: bytes,
        principal: Principal | None,
        explain: bool,
    ) -> tuple[int, Any]:
        if not payloads or len(payloads) > self.max_batch:
            code = "BATCH_TOO_LARGE" if payloads else "BAD_REQUEST"
            msg = f"A batch may hold at most {self.max_batch} operations."
            return 400, _reject(code, msg if payloads else "Empty batch.")

        async def one(p: Any) -> Any:
            if not isinstance(p, dict):
                return _reject("BAD_REQUEST", "Each batched operation must be a JSON object.")
            _, res, _ = await self._one(gw, p, orjson.dumps(p), auth, principal, explain)
            return res

        return 200, list(await asyncio.gather(*(one(p) for p in payloads)))

    def _execute(
        self, gw: Gateway, payload: dict[str, Any], auth: bytes, principal: Principal | None
    ) -> Awaitable[dict[str, Any]]:
        variables = payload.get("variables")
        if principal is None:
            return gw.execute(
                payload["query"],
                payload.get("operationName"),
                variables if isinstance(variables, dict) else None,
                auth,
            )
        return gw.execute(
            payload["query"],
            payload.get("operationName"),
            variables if isinstance(variables, dict) else None,
            auth,
            principal=principal,
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
            if not self.graphiql:
                return JSONResponse({"errors": [{"message": "GraphiQL is disabled"}]}, 404)
            return HTMLResponse(GRAPHIQL)
        qs = parse_qs(request.url.query)
        payload: dict[str, Any] = {}
        for k in ("query", "operationName", "documentId"):
            if qs.get(k):
                payload[k] = qs[k][0]
        for k in ("variables", "extensions"):
            if qs.get(k):
                try:
                    payload[k] = orjson.loads(qs[k][0])
                except orjson.JSONDecodeError:
                    return JSONResponse({"errors": [{"message": f"Invalid {k}"}]}, 400)
        if (
            not payload.get("query")
            and not payload.get("extensions")
            and "documentId" not in payload
        ):
            return JSONResponse({"errors": [{"message": "Missing query"}]}, status_code=400)
        headers: dict[str, str] = {}
        auth = request.headers.get("authorization", "").encode()
        principal: Principal | None = None
        if self.verifier is not None and auth:
            try:
                principal = await self.verifier.verify(_bearer(auth))
            except Unauthenticated as exc:
                return JSONResponse(
                    _reject("UNAUTHENTICATED", str(exc)),
                    status_code=401,
                    headers={"www-authenticate": 'Bearer error="invalid_token"'},
                )
        if self.rate_limiter is not None:
            client = principal.subject if principal is not None else _client_addr(request.scope)
            decision = await self.rate_limiter.hit(client)
            headers = {k.decode(): v.decode() for k, v in decision.headers()}
            if not decision.allowed:
                return JSONResponse(_reject("RATE_LIMITED", "Too many requests."), 429, headers)
        if self.persisted is not None:
            try:
                payload["query"] = self.persisted.resolve(payload)
            except LimitExceeded as exc:
                return JSONResponse({"errors": [exc.error()]}, exc.status, headers)
        query = payload.get("query")
        if not isinstance(query, str) or not query:
            return JSONResponse({"errors": [{"message": "Missing query"}]}, status_code=400)
        op_name = payload.get("operationName")
        variables = payload.get("variables")
        gw = self.gateway
        try:
            doc = gw.document(query, op_name)
            if doc.operation.operation.value != "query":
                return JSONResponse(
                    {"errors": [{"message": "Only queries are allowed over GET"}]},
                    status_code=405,
                )
        except OperationError as e:
            return JSONResponse({"errors": e.errors}, status_code=400, headers=headers)
        if "explain" in qs and self.allow_explain:
            return Response(
                orjson.dumps(
                    self._explain(
                        {"query": query, "operationName": op_name, "variables": variables}
                    )
                ),
                media_type="application/json",
            )
        result = await gw.execute(
            query,
            op_name,
            variables if isinstance(variables, dict) else None,
            auth,
            principal=principal,
        )
        return Response(
            orjson.dumps(result),
            status_code=200 if "data" in result else 400,
            media_type="application/json",
            headers=headers,
        )

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

        gw = self.gateway
        await asyncio.gather(*(check(gw.names[g], u) for g, u in gw.urls.items()))
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "supergraph": "loaded", "subgraphs": checks},
            status_code=200 if ok else 503,
        )

    async def metrics(self, request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _reject(code: str, message: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


def _bearer(auth: bytes) -> str:
    scheme, _, token = auth.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("expected 'Authorization: Bearer <token>'")
    return token.strip()


def _client_addr(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _count_rejection(result: dict[str, Any], measure: bool) -> None:
    errors = result.get("errors")
    if isinstance(errors, list) and errors and "data" not in result:
        code = (errors[0].get("extensions") or {}).get("code")
        if code in _REJECTION_CODES:
            telemetry.REJECTIONS.labels(code, "enforce").inc()


# Rejections counted here; the per-document limits are counted where they are checked.
_REJECTION_CODES = frozenset(
    {"REQUEST_TOO_LARGE", "TOO_MANY_TOKENS", "BATCH_TOO_LARGE", "PERSISTED_QUERY_NOT_IN_LIST"}
)


def _subgraphs(gw: Gateway, payload: Any) -> list[str]:
    """Subgraphs the cached plan touches (for the access log only)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return []
    doc = gw.documents.get((payload["query"], payload.get("operationName")))
    if not isinstance(doc, Document):
        return []
    graphs: set[str] = set()
    for p in doc.prepared.values():
        for stage in p.plan.stages:
            for level in stage:
                for u in level:
                    graphs.add(gw.names[u.graph])
    return sorted(graphs)


def _operation_name(gw: Gateway, payload: Any) -> str | None:
    """The operation's name: as sent, else from the cached document."""
    if not isinstance(payload, dict):
        return None
    name = payload.get("operationName")
    if isinstance(name, str) or not isinstance(payload.get("query"), str):
        return name if isinstance(name, str) else None
    doc = gw.documents.get((payload["query"], None))
    if isinstance(doc, Document) and doc.operation.name is not None:
        return doc.operation.name.value
    return None


def _valid_operation(gw: Gateway, payload: Any, status: int) -> bool:
    """Whether the operation name belongs to an operation that exists: served (200), or in a
    cached valid document. Names of unknown operations never get a label of their own."""
    if status == 200:
        return True
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return False
    doc = gw.documents.get((payload["query"], payload.get("operationName")))
    return isinstance(doc, Document)


# (operation name, status) -> labelled children, for names that have a label of their own
# (at most MAX_OPERATION_LABELS of them, times a handful of statuses)
_OP_METRICS: dict[tuple[str | None, int], tuple[Any, Any]] = {}
# (label, status) -> labelled children: `other` and `invalid` are shared by every name
_BY_LABEL: dict[tuple[str, int], tuple[Any, Any]] = {}


def _op_metrics(op_name: str | None, status: int, valid: bool) -> tuple[Any, Any]:
    """Children for a name not yet cached. A name past the label bound (`other`) or of an
    unknown operation (`invalid`) is not cached itself: it costs two dict lookups, never
    a `labels()` call, so invented names cannot grow memory or slow requests down."""
    label = telemetry.operation_label(op_name) if valid else "invalid"
    m = _BY_LABEL.get((label, status))
    if m is None:
        m = (
            telemetry.OPERATIONS.labels(label, str(status)),
            telemetry.OPERATION_LATENCY.labels(label),
        )
        _BY_LABEL[(label, status)] = m
    if label not in ("other", "invalid") and len(_OP_METRICS) < 16 * (
        telemetry.MAX_OPERATION_LABELS + 1
    ):
        _OP_METRICS[(op_name, status)] = m
    return m


# Request ids when the client sends none: unique per process (a random prefix per start),
# a counter after it; much cheaper than a UUID (no system call, no object) per request.
_REQUEST_ID_PREFIX = os.urandom(6).hex()
_request_numbers = itertools.count(1)


def _new_request_id() -> bytes:
    return f"{_REQUEST_ID_PREFIX}-{next(_request_numbers):x}".encode()
