"""The HTTP side of every service: one factory, the same endpoints everywhere.

``create_service_app`` returns a Starlette app serving

- ``POST/GET /graphql``: the service's strawberry schema (GraphiQL only in dev),
  errors masked by :mod:`kopano.errors`;
- ``/healthz``: the process is alive;
- ``/readyz``: every readiness check passes within its timeout (503 otherwise);
- ``/metrics``: the default Prometheus registry (request count and latency by
  route, plus the kit's outbox and consumer collectors);

behind a request-id middleware and a metrics / access-log middleware that writes
one structured line per request. ``serve`` runs it under uvicorn.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import orjson
import strawberry
import uvicorn
from cross_web import HTTPException
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http import process_result as strawberry_process_result
from strawberry.types import ExecutionResult

# kopano.metrics is imported for its side effect: the outbox/consumer collectors register.
import kopano.metrics  # noqa: F401
from kopano.auth import HttpJwksProvider, Principal, TokenVerifier, bearer_token
from kopano.errors import DomainError, ErrorCode, MaskErrors, Unauthenticated, mask_errors
from kopano.logging import RequestIdMiddleware, configure_logging, current_request_id, get_logger
from kopano.settings import BaseServiceSettings

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "GATEWAY_TOKEN_HEADER",
    "GRAPHQL_ERRORS",
    "HTTP_REQUESTS",
    "HTTP_REQUEST_DURATION",
    "GatewayOnlyFederation",
    "ReadinessCheck",
    "RequestContext",
    "create_server",
    "create_service_app",
    "database_check",
    "kafka_check",
    "mongo_check",
    "serve",
    "serve_async",
]

GATEWAY_TOKEN_HEADER = "x-kopano-gateway-token"  # noqa: S105 - a header name
FEDERATION_ROOT_FIELDS = frozenset({"_service", "_entities"})
# Probes and scrapes every few seconds: logged at debug level only.
_QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
_KNOWN_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})

_log = get_logger("kopano.web")

HTTP_REQUESTS = Counter(
    "http_requests",
    "HTTP requests served, by route template (never the raw path).",
    ["method", "route", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from request start to response end, by route template.",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

GRAPHQL_ERRORS = Counter(
    "graphql_errors",
    "GraphQL errors returned to clients, by extensions.code.",
    ["code"],
)

ReadinessCheck = Callable[[], Awaitable[object]]
Hook = Callable[[], Awaitable[object] | object]

# Set by the GraphQL view for the operation it runs (same task as the execution).
_from_gateway: ContextVar[bool] = ContextVar("kopano_from_gateway", default=False)


# --------------------------------------------------------------------------- context


@dataclass
class RequestContext:
    """What every resolver finds in ``info.context``.

    ``principal`` is the verified caller (None when anonymous or when the token was
    refused; ``auth_error`` then says why, and ``kopano.graphql.require_principal``
    raises it). Values a service's ``context_getter`` returns as a mapping are
    reachable as attributes or items (``info.context.loaders`` / ``["loaders"]``).
    """

    request: Request
    response: Response
    request_id: str
    principal: Principal | None = None
    auth_error: Unauthenticated | None = None
    from_gateway: bool = False
    settings: BaseServiceSettings | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: fall back to the service's extras.
        extras = self.__dict__.get("extras")
        if extras is not None and name in extras:
            return extras[name]
        raise AttributeError(name)

    def __getitem__(self, name: str) -> Any:
        try:
            return getattr(self, name)
        except AttributeError:
            raise KeyError(name) from None

    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self, name, default)


ContextGetter = Callable[[RequestContext], Awaitable[Any] | Any]


# --------------------------------------------------------------------------- federation guard


def _root_field_names(
    selection_set: SelectionSetNode, document: DocumentNode, seen: set[str]
) -> Iterable[str]:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection.name.value
        elif isinstance(selection, InlineFragmentNode):
            yield from _root_field_names(selection.selection_set, document, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in seen:
                continue
            seen.add(name)
            for definition in document.definitions:
                if getattr(definition, "name", None) is not None and (
                    definition.name.value == name  # type: ignore[attr-defined]
                ):
                    yield from _root_field_names(
                        definition.selection_set,  # type: ignore[attr-defined]
                        document,
                        seen,
                    )


def _selected_operation(
    document: DocumentNode, operation_name: str | None
) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        return operations[0] if len(operations) == 1 else None
    for operation in operations:
        if operation.name is not None and operation.name.value == operation_name:
            return operation
    return None


def uses_federation_fields(document: DocumentNode, operation_name: str | None) -> bool:
    operation = _selected_operation(document, operation_name)
    if operation is None:
        # Ambiguous: let graphql-core report it, but check every operation to be safe.
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    else:
        operations = [operation]
    return any(
        name in FEDERATION_ROOT_FIELDS
        for op in operations
        for name in _root_field_names(op.selection_set, document, set())
    )


class GatewayOnlyFederation(SchemaExtension):
    """Refuse ``_service`` / ``_entities`` unless the caller presented the gateway token.

    The view decides per request whether the caller is the gateway; this extension
    only answers with a FORBIDDEN error instead of running such an operation.
    """

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        document = ctx.graphql_document
        if (
            not _from_gateway.get()
            and document is not None
            and uses_federation_fields(document, ctx.operation_name)
        ):
            ctx.result = GraphQLExecutionResult(
                data=None,
                errors=[
                    GraphQLError(
                        "Federation fields are served to the gateway only.",
                        extensions={"code": ErrorCode.FORBIDDEN.value},
                    )
                ],
            )
        yield


# Distinct documents kept parsed and validated; clients send a handful of operations.
DOCUMENT_CACHE_SIZE = 512


def _parser_cache() -> SchemaExtension:
    return ParserCache(maxsize=DOCUMENT_CACHE_SIZE)


def _validation_cache() -> SchemaExtension:
    return ValidationCache(maxsize=DOCUMENT_CACHE_SIZE)


def _ensure_extensions(
    schema: strawberry.Schema, *, guard_federation: bool, cache_documents: bool
) -> None:
    # The schema is the service's; the kit only appends what every service needs.
    present = tuple(schema.extensions)
    wanted: list[Any] = []
    if MaskErrors not in present:
        wanted.append(MaskErrors)
    if guard_federation and GatewayOnlyFederation not in present:
        wanted.append(GatewayOnlyFederation)
    caching = (ParserCache, ValidationCache, _parser_cache, _validation_cache)
    if cache_documents and not any(
        ext in caching or isinstance(ext, ParserCache | ValidationCache) for ext in present
    ):
        # Parsing and validating dominate a small query's cost; both depend only
        # on the document text and the schema, so they are cached (bounded LRU).
        wanted.extend([_parser_cache, _validation_cache])
    if wanted:
        schema.extensions = (*present, *wanted)


# --------------------------------------------------------------------------- GraphQL view

_HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.BAD_USER_INPUT: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
}


class _GraphQLView(GraphQL[Any, None]):
    def __init__(
        self,
        schema: strawberry.Schema,
        *,
        build_context: Callable[[Request, Response], Awaitable[Any]],
        graphiql: bool,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql else None,
            allow_queries_via_get=True,
            multipart_uploads_enabled=False,
        )
        self._build_context = build_context

    async def get_context(self, request: Any, response: Any) -> Any:
        try:
            return await self._build_context(request, response)
        except DomainError as exc:
            # A service's context_getter refused the request before any execution.
            raise HTTPException(_HTTP_STATUS.get(exc.code, 400), exc.message) from exc

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)

    async def execute_operation(
        self,
        request: Any,
        request_adapter: Any,
        request_data: GraphQLRequestData | list[GraphQLRequestData],
        context: Any,
        root_value: Any,
        sub_response: Any,
    ) -> Any:
        # The access log line names the operation (client-chosen: bounded, never a label).
        if isinstance(request_data, GraphQLRequestData) and request_data.operation_name:
            request.scope.setdefault("state", {})["graphql_operation"] = (
                request_data.operation_name[:100]
            )
        return await super().execute_operation(
            request, request_adapter, request_data, context, root_value, sub_response
        )

    async def process_result(self, request: Any, result: ExecutionResult) -> GraphQLHTTPResponse:
        # Last line of defence: errors raised outside the MaskErrors hook.
        if result.errors:
            result.errors = mask_errors(result.errors)
            for error in result.errors:
                GRAPHQL_ERRORS.labels(str((error.extensions or {}).get("code", "INTERNAL"))).inc()
        return strawberry_process_result(result)


# --------------------------------------------------------------------------- middleware


def _route_templates(routes: Sequence[BaseRoute], prefix: str = "") -> dict[int, str]:
    templates: dict[int, str] = {}
    for route in routes:
        if isinstance(route, Route):
            templates[id(route.endpoint)] = prefix + route.path
        elif isinstance(route, Mount):
            inner = getattr(route, "routes", None)
            if inner:
                templates.update(_route_templates(inner, prefix + route.path))
            else:
                templates[id(route.app)] = prefix + route.path + "/{path}"
    return templates


class RequestMetricsMiddleware:
    """Pure ASGI: request count and latency by route template, one log line each."""

    def __init__(self, app: ASGIApp, templates: Callable[[], Mapping[int, str]]) -> None:
        self.app = app
        self._templates = templates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            elapsed = time.perf_counter() - start
            endpoint = scope.get("endpoint")
            route = self._templates().get(id(endpoint), "unmatched") if endpoint else "unmatched"
            method = scope["method"] if scope["method"] in _KNOWN_METHODS else "OTHER"
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_REQUEST_DURATION.labels(method, route).observe(elapsed)
            log = _log.debug if route in _QUIET_ROUTES and status < 500 else _log.info
            fields: dict[str, Any] = {
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
            }
            operation = scope.get("state", {}).get("graphql_operation")
            if operation:
                fields["operation"] = operation
            log("http.request", **fields)


# --------------------------------------------------------------------------- checks


async def _run_check(name: str, check: ReadinessCheck, limit: float) -> tuple[str, str]:
    try:
        async with asyncio.timeout(limit):
            outcome = await check()
    except TimeoutError:
        _log.warning("readiness.timeout", check=name, timeout_s=limit)
        return name, "timeout"
    except Exception as exc:  # a failing dependency must not crash the probe
        _log.warning("readiness.failed", check=name, error=repr(exc))
        return name, "failed"
    if outcome is False:
        _log.warning("readiness.failed", check=name, error="returned False")
        return name, "failed"
    return name, "ok"


def database_check(engine: Any) -> ReadinessCheck:
    """Readiness: ``SELECT 1`` on a SQLAlchemy ``AsyncEngine``."""
    from sqlalchemy import text

    async def check() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    return check


def mongo_check(client: Any) -> ReadinessCheck:
    """Readiness: ``ping`` on a PyMongo ``AsyncMongoClient``."""

    async def check() -> None:
        await client.admin.command("ping")

    return check


def kafka_check(bootstrap_servers: str) -> ReadinessCheck:
    """Readiness: a broker answers a metadata request (the Kafka protocol, not just TCP)."""

    async def check() -> None:
        from aiokafka.client import AIOKafkaClient

        client = AIOKafkaClient(
            bootstrap_servers=bootstrap_servers,
            client_id="kopano-readiness",
            request_timeout_ms=5000,
            retry_backoff_ms=50,
        )
        try:
            await client.bootstrap()
        finally:
            await client.close()

    return check


# --------------------------------------------------------------------------- the factory


async def _call_hook(hook: Hook) -> None:
    outcome = hook()
    if inspect.isawaitable(outcome):
        await outcome


def create_service_app(
    *,
    settings: BaseServiceSettings,
    schema: strawberry.Schema | None = None,
    context_getter: ContextGetter | None = None,
    readiness_checks: Mapping[str, ReadinessCheck] | None = None,
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
    routes: Sequence[BaseRoute] = (),
    token_verifier: TokenVerifier | None = None,
    guard_federation: bool = True,
    cache_documents: bool = True,
    graphql_path: str = "/graphql",
) -> Starlette:
    """Build a service's Starlette app (see the module docstring).

    ``context_getter(base)`` receives the kit's :class:`RequestContext` and may
    return it (after changes), a replacement object (the service's own context
    class), a mapping (merged into ``base.extras``) or None (keep ``base``).

    ``token_verifier`` defaults to one that reads ``settings.jwks_url``. With
    ``guard_federation`` the subgraph answers ``_service``/``_entities`` only to
    callers presenting ``X-Kopano-Gateway-Token`` (anyone in dev/test when
    ``gateway_token`` is unset). With ``cache_documents`` parsed and validated
    documents are kept in a bounded LRU cache.
    """
    checks = dict(readiness_checks or {})
    jwks_provider: HttpJwksProvider | None = None
    verifier = token_verifier

    def get_verifier() -> TokenVerifier:
        nonlocal verifier, jwks_provider
        if verifier is None:
            jwks_provider = HttpJwksProvider(settings.jwks_url, ttl=settings.jwks_cache_seconds)
            verifier = TokenVerifier(
                jwks_provider, issuer=settings.jwt_issuer, audience=settings.jwt_audience
            )
        return verifier

    expected_gateway_token = (
        settings.gateway_token.get_secret_value().encode() if settings.gateway_token else None
    )

    def is_gateway(request: Request) -> bool:
        if expected_gateway_token is None:
            return settings.is_relaxed
        presented = request.headers.get(GATEWAY_TOKEN_HEADER)
        return presented is not None and hmac.compare_digest(
            presented.encode(), expected_gateway_token
        )

    async def build_context(request: Request, response: Response) -> Any:
        principal: Principal | None = None
        auth_error: Unauthenticated | None = None
        try:
            token = bearer_token(request)
            if token is not None:
                principal = await get_verifier().verify(token)
        except Unauthenticated as exc:
            auth_error = exc
        from_gateway = is_gateway(request)
        _from_gateway.set(from_gateway)
        base = RequestContext(
            request=request,
            response=response,
            request_id=current_request_id() or "",
            principal=principal,
            auth_error=auth_error,
            from_gateway=from_gateway,
            settings=settings,
        )
        if context_getter is None:
            return base
        produced = context_getter(base)
        if inspect.isawaitable(produced):
            produced = await produced
        if produced is None:
            return base
        if isinstance(produced, Mapping):
            base.extras.update(produced)
            return base
        return produced

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "service": settings.service_name})

    async def readyz(request: Request) -> Response:
        results = dict(
            await asyncio.gather(
                *(
                    _run_check(name, check, settings.readiness_timeout)
                    for name, check in checks.items()
                )
            )
        )
        ready = all(outcome == "ok" for outcome in results.values())
        return JSONResponse(
            {"status": "ready" if ready else "unavailable", "checks": results},
            status_code=200 if ready else 503,
        )

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    all_routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/readyz", readyz, methods=["GET", "HEAD"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    if schema is not None:
        _ensure_extensions(
            schema, guard_federation=guard_federation, cache_documents=cache_documents
        )
        view = _GraphQLView(schema, build_context=build_context, graphiql=settings.graphiql_enabled)
        all_routes.append(Route(graphql_path, cast(Any, view), methods=["GET", "POST"]))
    all_routes.extend(routes)

    async def shut_down() -> None:
        for hook in reversed(on_shutdown):
            try:
                await _call_hook(hook)
            except Exception:  # one failing hook must not skip the others
                _log.exception("service.shutdown_hook_failed", hook=repr(hook))
        if jwks_provider is not None:
            await jwks_provider.aclose()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            for hook in on_startup:
                await _call_hook(hook)
        except BaseException:
            # Stop what already started (a relay, a consumer) before failing start-up.
            _log.exception("service.startup_failed")
            await shut_down()
            raise
        _log.info("service.started", host=settings.host, port=settings.port)
        try:
            yield
        finally:
            await shut_down()
            _log.info("service.stopped")

    templates: dict[int, str] = {}

    def route_templates() -> Mapping[int, str]:
        if not templates:
            templates.update(_route_templates(app.routes))
        return templates

    app = Starlette(
        routes=all_routes,
        lifespan=lifespan,
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(RequestMetricsMiddleware, templates=route_templates),
        ],
    )
    app.state.settings = settings
    return app


# --------------------------------------------------------------------------- running


def create_server(app: ASGIApp, settings: BaseServiceSettings, **overrides: Any) -> uvicorn.Server:
    """A uvicorn server for ``app`` (uvloop, httptools, no access log)."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "timeout_keep_alive": settings.keep_alive_seconds,
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,
        "log_config": None,
        "server_header": False,
        "proxy_headers": True,
        "timeout_graceful_shutdown": 10,
        "lifespan": "on",
    }
    options.update(overrides)
    return uvicorn.Server(uvicorn.Config(app, **options))


def serve(app: ASGIApp, settings: BaseServiceSettings, **overrides: Any) -> None:
    """Configure logging from ``settings`` and run ``app`` until SIGINT/SIGTERM."""
    configure_logging(settings.service_name, settings.log_level, settings.json_logs)
    create_server(app, settings, **overrides).run()


async def serve_async(app: ASGIApp, settings: BaseServiceSettings, **overrides: Any) -> None:
    """Like :func:`serve` inside a running event loop (the loop is the caller's)."""
    overrides.setdefault("loop", "none")
    await create_server(app, settings, **overrides).serve()
