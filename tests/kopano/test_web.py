"""The service app over HTTP: GraphQL errors, auth context, probes, metrics, request ids."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import strawberry
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from strawberry.types import Info

from kopano.auth import SigningKey, StaticJwks, TokenIssuer, TokenVerifier
from kopano.errors import Conflict, Forbidden
from kopano.graphql import info_context, require_principal, require_role
from kopano.logging import configure_logging
from kopano.settings import BaseServiceSettings
from kopano.web import RequestContext, create_server, create_service_app

ISSUER, AUDIENCE = "kopano-members", "kopano"
KEY = SigningKey.generate()
TOKENS = TokenIssuer(KEY, ISSUER, AUDIENCE)
VERIFIER = TokenVerifier(StaticJwks(TOKENS.jwks()), ISSUER, AUDIENCE)


@strawberry.federation.type(keys=["id"])
class Thing:
    id: strawberry.ID
    name: str

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Thing:
        return Thing(id=id, name=f"thing {id}")


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "world"

    @strawberry.field
    def taken(self) -> str:
        raise Conflict("That email is already registered.", field="email")

    @strawberry.field
    def boom(self) -> str:
        raise RuntimeError(
            'relation "members" violates constraint: SELECT password_hash FROM members'
        )

    @strawberry.field
    def echo(self, n: int) -> int:
        return n

    @strawberry.field
    def me(self, info: Info[RequestContext, None]) -> str:
        return require_principal(info).subject

    @strawberry.field
    def admin_only(self, info: Info[RequestContext, None]) -> str:
        return require_role(info, "admin").subject

    @strawberry.field
    def request_id(self, info: Info[RequestContext, None]) -> str:
        return info_context(info).request_id

    @strawberry.field
    def greeting(self, info: Info[RequestContext, None]) -> str:
        return str(info.context.greeting)

    @strawberry.field
    def thing(self) -> Thing:
        return Thing(id=strawberry.ID("1"), name="one")


@strawberry.type
class Mutation:
    @strawberry.mutation
    def touch(self) -> bool:
        return True


def make_schema() -> strawberry.Schema:
    return strawberry.federation.Schema(query=Query, mutation=Mutation)


def settings(**overrides: Any) -> BaseServiceSettings:
    values: dict[str, Any] = {"service_name": "webtest", "environment": "test"}
    values.update(overrides)
    return BaseServiceSettings(**values)


@pytest.fixture(scope="module", autouse=True)
def _logging() -> None:
    configure_logging("webtest", "INFO", json_logs=True)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async def healthy() -> None:
        return None

    async def member_page(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.path_params["member_id"])

    app = create_service_app(
        settings=settings(),
        schema=make_schema(),
        context_getter=lambda base: {"greeting": "dumela"},
        readiness_checks={"database": healthy},
        routes=[Route("/members/{member_id}", member_page)],
        token_verifier=VERIFIER,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://service"
    ) as c:
        yield c


async def gql(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None, **kw: Any
) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables}, **kw)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


# --------------------------------------------------------------------------- errors over HTTP


async def test_query_works(client: httpx.AsyncClient) -> None:
    assert await gql(client, "{ hello }") == {"data": {"hello": "world"}}


async def test_domain_error_has_code_and_field(client: httpx.AsyncClient) -> None:
    body = await gql(client, "{ taken }")
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["message"] == "That email is already registered."
    assert error["extensions"] == {"code": "CONFLICT", "field": "email"}
    assert error["path"] == ["taken"]


async def test_unexpected_error_is_masked_and_logged(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="kopano.errors")
    response = await client.post(
        "/graphql", json={"query": "{ boom }"}, headers={"x-request-id": "req-boom-1"}
    )
    assert response.status_code == 200
    text = response.text
    (error,) = response.json()["errors"]
    assert error["message"] == "Internal server error"
    assert error["extensions"] == {"code": "INTERNAL"}
    for leak in ("SELECT", "password", "relation", "RuntimeError", "Traceback", "File "):
        assert leak not in text
    # The details are in the server log, with the request id.
    logged = [
        r.msg
        for r in caplog.records
        if isinstance(r.msg, dict) and r.msg.get("event") == "graphql.unexpected_error"
    ]
    assert logged
    assert logged[-1]["request_id"] == "req-boom-1"
    assert logged[-1]["error_type"] == "RuntimeError"
    assert logged[-1]["path"] == ["boom"]


async def test_validation_and_parse_errors(client: httpx.AsyncClient) -> None:
    (error,) = (await gql(client, "{ hello nope }"))["errors"]
    assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}
    assert "nope" in error["message"]
    (error,) = (await gql(client, "{ hello "))["errors"]
    assert error["extensions"] == {"code": "GRAPHQL_PARSE_FAILED"}
    assert error["message"].startswith("Syntax Error")


async def test_cached_documents_keep_their_error_codes(client: httpx.AsyncClient) -> None:
    # Parsing and validation are cached per document: repeats must answer the same.
    for _ in range(3):
        (error,) = (await gql(client, "{ hello alsoNope }"))["errors"]
        assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}
        assert await gql(client, "{ hello }") == {"data": {"hello": "world"}}
        (error,) = (await gql(client, "{ boom }"))["errors"]
        assert error["extensions"] == {"code": "INTERNAL"}


def test_kit_extensions_are_added_once() -> None:
    schema = make_schema()
    create_service_app(settings=settings(), schema=schema)
    create_service_app(settings=settings(), schema=schema)
    names = [getattr(ext, "__name__", "") for ext in schema.extensions]
    assert names.count("MaskErrors") == 1
    assert names.count("GatewayOnlyFederation") == 1
    assert names.count("_parser_cache") == 1
    assert names.count("_validation_cache") == 1


async def test_invalid_variable_is_bad_user_input(client: httpx.AsyncClient) -> None:
    body = await gql(client, "query Q($n: Int!) { echo(n: $n) }", {"n": "many"})
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    assert "$n" in error["message"]


async def test_get_queries_and_no_get_mutations(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": "{ hello }"})
    assert response.status_code == 200
    assert response.json() == {"data": {"hello": "world"}}
    response = await client.get("/graphql", params={"query": "mutation { touch }"})
    assert response.status_code == 400


async def test_malformed_json_body(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400


async def test_graphiql_only_in_dev() -> None:
    headers = {"accept": "text/html"}
    for environment, expected in (("dev", 200), ("test", 404)):
        app = create_service_app(settings=settings(environment=environment), schema=make_schema())
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://s"
        ) as c:
            response = await c.get("/graphql", headers=headers)
            assert response.status_code == expected
            if expected == 200:
                assert "graphiql" in response.text.lower()


# --------------------------------------------------------------------------- context and auth


async def test_principal_from_bearer_token(client: httpx.AsyncClient) -> None:
    token = TOKENS.issue_access_token("member-9", roles=["member"])
    body = await gql(client, "{ me }", headers={"authorization": f"Bearer {token}"})
    assert body == {"data": {"me": "member-9"}}

    (error,) = (await gql(client, "{ me }"))["errors"]
    assert error["extensions"] == {"code": "UNAUTHENTICATED"}
    assert error["message"] == "Authentication required."

    (error,) = (await gql(client, "{ adminOnly }", headers={"authorization": f"Bearer {token}"}))[
        "errors"
    ]
    assert error["extensions"] == {"code": "FORBIDDEN"}

    admin = TOKENS.issue_access_token("root", roles=["admin"])
    body = await gql(client, "{ adminOnly }", headers={"authorization": f"Bearer {admin}"})
    assert body == {"data": {"adminOnly": "root"}}


async def test_bad_token_reason_reaches_the_client(client: httpx.AsyncClient) -> None:
    expired = TokenIssuer(KEY, ISSUER, AUDIENCE, access_ttl=-3600).issue_access_token("m")
    headers = {"authorization": f"Bearer {expired}"}
    (error,) = (await gql(client, "{ me }", headers=headers))["errors"]
    assert error == {
        "message": "access token expired",
        "locations": [{"line": 1, "column": 3}],
        "path": ["me"],
        "extensions": {"code": "UNAUTHENTICATED"},
    }
    # Public fields still answer: a stale token does not break anonymous reads.
    assert await gql(client, "{ hello }", headers=headers) == {"data": {"hello": "world"}}


async def test_context_getter_mapping_is_reachable(client: httpx.AsyncClient) -> None:
    assert await gql(client, "{ greeting }") == {"data": {"greeting": "dumela"}}


async def test_context_getter_may_return_its_own_context() -> None:
    class Custom:
        def __init__(self, base: RequestContext) -> None:
            self.greeting = f"{base.request_id}!"
            self.request = base.request

    app = create_service_app(settings=settings(), schema=make_schema(), context_getter=Custom)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        body = await gql(c, "{ greeting }", headers={"x-request-id": "abc"})
    assert body == {"data": {"greeting": "abc!"}}


async def test_request_id_generated_echoed_and_in_context(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ requestId }"})
    generated = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert response.json() == {"data": {"requestId": generated}}

    response = await client.post(
        "/graphql", json={"query": "{ requestId }"}, headers={"x-request-id": "trace-42"}
    )
    assert response.headers["x-request-id"] == "trace-42"
    assert response.json() == {"data": {"requestId": "trace-42"}}

    # Something that is not a plain id is not echoed back.
    response = await client.get("/healthz", headers={"x-request-id": "x" * 300})
    assert response.headers["x-request-id"] != "x" * 300
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


# --------------------------------------------------------------------------- federation guard


ENTITIES = (
    '{ _entities(representations: [{__typename: "Thing", id: "7"}]) { ... on Thing { name } } }'
)


async def test_federation_fields_need_the_gateway_token() -> None:
    app = create_service_app(
        settings=settings(gateway_token=SecretStr("gw-secret")), schema=make_schema()
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        for query in (
            "{ _service { sdl } }",
            ENTITIES,
            "{ ... on Query { _service { sdl } } }",
            "query A { hello } query B { ...F } fragment F on Query { _service { sdl } }",
        ):
            payload: dict[str, Any] = {"query": query}
            if query.startswith("query A"):
                payload["operationName"] = "B"
            for headers in ({}, {"x-kopano-gateway-token": "wrong"}):
                response = await c.post("/graphql", json=payload, headers=headers)
                body = response.json()
                assert body["data"] is None, query
                assert body["errors"][0]["extensions"] == {"code": "FORBIDDEN"}

        ok = {"x-kopano-gateway-token": "gw-secret"}
        body = (await c.post("/graphql", json={"query": ENTITIES}, headers=ok)).json()
        assert body == {"data": {"_entities": [{"name": "thing 7"}]}}
        body = (await c.post("/graphql", json={"query": "{ _service { sdl } }"}, headers=ok)).json()
        assert "@key" in body["data"]["_service"]["sdl"]
        # Ordinary queries never need the token.
        assert (await gql(c, "{ thing { name } }")) == {"data": {"thing": {"name": "one"}}}


async def test_federation_fields_open_in_dev_without_token() -> None:
    app = create_service_app(settings=settings(environment="dev"), schema=make_schema())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        body = await gql(c, ENTITIES)
    assert body == {"data": {"_entities": [{"name": "thing 7"}]}}


# --------------------------------------------------------------------------- probes and metrics


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": "webtest"}


async def test_readyz() -> None:
    calls: list[str] = []

    async def database() -> None:
        calls.append("database")

    async def broker() -> None:
        raise ConnectionError("kafka at 10.0.0.7:9092 refused")

    async def slow() -> None:
        await asyncio.sleep(30)

    async def says_no() -> bool:
        return False

    async def probe(checks: dict[str, Any]) -> httpx.Response:
        app = create_service_app(settings=settings(readiness_timeout=0.05), readiness_checks=checks)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://s"
        ) as c:
            return await c.get("/readyz")

    ok = await probe({"database": database})
    assert ok.status_code == 200
    assert ok.json() == {"status": "ready", "checks": {"database": "ok"}}
    assert calls == ["database"]

    failing = await probe(
        {"database": database, "broker": broker, "cache": slow, "search": says_no}
    )
    assert failing.status_code == 503
    assert failing.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "broker": "failed", "cache": "timeout", "search": "failed"},
    }
    assert "10.0.0.7" not in failing.text


def metric_value(text: str, name: str, labels: dict[str, str]) -> float:
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line[: line.rindex("}")]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_by_route_template(client: httpx.AsyncClient) -> None:
    before = (await client.get("/metrics")).text
    labels = {"method": "POST", "route": "/graphql", "status": "200"}
    start = metric_value(before, "http_requests_total", labels)
    member_labels = {"method": "GET", "route": "/members/{member_id}", "status": "200"}
    member_start = metric_value(before, "http_requests_total", member_labels)

    await gql(client, "{ hello }")
    await gql(client, "{ hello }")
    assert (await client.get("/members/0f8fad5b")).text == "0f8fad5b"
    await client.get("/members/7c9e6679")
    assert (await client.get("/no/such/path")).status_code == 404

    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert metric_value(text, "http_requests_total", labels) == start + 2
    assert metric_value(text, "http_requests_total", member_labels) == member_start + 2
    assert metric_value(text, "http_requests_total", {"route": "unmatched", "status": "404"}) >= 1
    assert "0f8fad5b" not in text  # raw paths never become labels
    assert 'http_request_duration_seconds_bucket{le="0.005",method="POST",route="/graphql"}' in text
    assert (
        metric_value(
            text, "http_request_duration_seconds_count", {"method": "POST", "route": "/graphql"}
        )
        >= 2
    )
    # The kit's shared collectors are in the same registry.
    assert "# TYPE outbox_backlog gauge" in text
    assert "# TYPE consumer_lag gauge" in text


# --------------------------------------------------------------------------- a real server


async def test_lifespan_hooks_under_uvicorn() -> None:
    events: list[str] = []

    async def start_relay() -> None:
        events.append("startup")

    def stop_relay() -> None:
        events.append("shutdown")

    app = create_service_app(
        settings=settings(),
        schema=make_schema(),
        on_startup=[start_relay],
        on_shutdown=[stop_relay],
    )
    server = create_server(app, settings(), host="127.0.0.1", port=0, loop="none")
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 20
    while not server.started:
        assert not task.done(), "server stopped during start-up"
        assert time.monotonic() < deadline, "server did not start"
        await asyncio.sleep(0.02)
    assert events == ["startup"]
    port = server.servers[0].sockets[0].getsockname()[1]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
        response = await c.post("/graphql", json={"query": "{ hello }"})
        assert response.json() == {"data": {"hello": "world"}}
        assert response.headers["x-request-id"]
        assert "server" not in response.headers
    server.should_exit = True
    await task
    assert events == ["startup", "shutdown"]


def test_server_keeps_idle_connections_longer_than_clients_do() -> None:
    # Otherwise a client may send on a connection the server is closing at that instant,
    # and the request fails with a read error (seen under load with httpx's 5 s expiry).
    server = create_server(create_service_app(settings=settings()), settings())
    client_expiry = httpx.Limits().keepalive_expiry
    assert client_expiry is not None
    assert server.config.timeout_keep_alive > client_expiry
    tuned = create_server(create_service_app(settings=settings()), settings(keep_alive_seconds=9))
    assert tuned.config.timeout_keep_alive == 9


async def test_access_log_and_error_metrics(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kopano.web")
    conflicts = metric_value(
        (await client.get("/metrics")).text, "graphql_errors_total", {"code": "CONFLICT"}
    )
    response = await client.post(
        "/graphql",
        json={"query": "query TakenCheck { taken }", "operationName": "TakenCheck"},
        headers={"x-request-id": "op-log-1"},
    )
    assert response.status_code == 200
    text = (await client.get("/metrics")).text
    assert metric_value(text, "graphql_errors_total", {"code": "CONFLICT"}) == conflicts + 1
    (line,) = [
        r.msg
        for r in caplog.records
        if isinstance(r.msg, dict)
        and r.msg.get("event") == "http.request"
        and r.msg.get("request_id") == "op-log-1"
    ]
    assert line["operation"] == "TakenCheck"
    assert line["route"] == "/graphql"
    assert line["status"] == 200
    assert line["duration_ms"] >= 0


async def test_failed_startup_runs_shutdown_hooks() -> None:
    events: list[str] = []

    async def start_relay() -> None:
        events.append("relay started")

    async def start_consumer() -> None:
        raise ConnectionError("broker down")

    async def stop_everything() -> None:
        events.append("stopped")

    app = create_service_app(
        settings=settings(),
        on_startup=[start_relay, start_consumer],
        on_shutdown=[stop_everything],
    )
    with pytest.raises(ConnectionError):
        async with app.router.lifespan_context(app):
            pass
    assert events == ["relay started", "stopped"]


async def test_context_getter_refusal_becomes_http_status() -> None:
    def suspended(base: RequestContext) -> None:
        raise Forbidden("This account is suspended.")

    app = create_service_app(settings=settings(), schema=make_schema(), context_getter=suspended)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        response = await c.post("/graphql", json={"query": "{ hello }"})
    assert response.status_code == 403
    assert response.text == "This account is suspended."
