"""Helpers for the hardening tests: subgraphs behind a counting wrapper, a supergraph with
access-control and cost directives, and a gateway started with chosen options."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from gw_stack import start_server
from gw_subgraphs import SUPERGRAPH_TEMPLATE, apps, supergraph_sdl

from gateway.app import GatewayApp
from gateway.executor import Gateway
from gateway.supergraph import Supergraph

DIRECTIVES = """
directive @authenticated on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM
directive @requiresScopes(scopes: [[String!]!]!) on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM
directive @policy(policies: [[String!]!]!) on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM
directive @cost(weight: Int!) on ARGUMENT_DEFINITION | ENUM | FIELD_DEFINITION | INPUT_FIELD_DEFINITION | OBJECT | SCALAR
directive @listSize(assumedSize: Int, slicingArguments: [String!], sizedFields: [String!], requireOneSlicingArgument: Boolean = true) on FIELD_DEFINITION
"""

# whoami needs a signed-in caller; User.name the `profile:read` scope; warehouseName the
# `staff` policy; inStock is nullable here so a denied one reads as null without bubbling.
PATCHES = {
    "  whoami: String @join__field(graph: ACCOUNTS)": (
        "  whoami: String @join__field(graph: ACCOUNTS) @authenticated"
    ),
    "  name: String! @join__field(graph: ACCOUNTS)": (
        '  name: String @join__field(graph: ACCOUNTS) @requiresScopes(scopes: [["profile:read"]])'
    ),
    "  warehouseName: String! @join__field(graph: INVENTORY)": (
        '  warehouseName: String @join__field(graph: INVENTORY) @policy(policies: [["staff"]])'
    ),
    "  inStock: Boolean! @join__field(graph: INVENTORY)": (
        '  inStock: Boolean @join__field(graph: INVENTORY) @requiresScopes(scopes: [["stock"]])'
    ),
    "  topProducts(first: Int! = 2): [Product!]! @join__field(graph: PRODUCTS)": (
        "  topProducts(first: Int! = 2): [Product!]! @join__field(graph: PRODUCTS)"
        ' @listSize(slicingArguments: ["first"])'
    ),
    "  reviews: [Review!]! @join__field(graph: REVIEWS)\n}\n\ntype Query": (
        "  reviews: [Review!]! @join__field(graph: REVIEWS) @listSize(assumedSize: 3)\n}\n\n"
        "type Query"
    ),
}


def hardened_sdl(urls: dict[str, str]) -> str:
    sdl: str = SUPERGRAPH_TEMPLATE
    for old, new in PATCHES.items():
        assert old in sdl, old
        sdl = sdl.replace(old, new)
    sdl = sdl.replace("scalar join__FieldSet", DIRECTIVES + "\nscalar join__FieldSet")
    for name, url in urls.items():
        sdl = sdl.replace("{" + name + "}", url)
    return sdl


@dataclass
class Calls:
    """Requests each subgraph received, with their headers."""

    seen: dict[str, list[dict[str, str]]] = field(default_factory=dict)

    def count(self, name: str | None = None) -> int:
        if name is None:
            return sum(len(v) for v in self.seen.values())
        return len(self.seen.get(name, []))

    def clear(self) -> None:
        for v in self.seen.values():
            v.clear()


def counting(name: str, app: Any, calls: Calls, before: dict[str, Any]) -> Any:
    calls.seen[name] = []

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            calls.seen[name].append({k.decode(): v.decode() for k, v in scope["headers"]})
            hook = before.get(name)
            if hook is not None:
                handled = await hook(scope, receive, send)
                if handled:
                    return
        await app(scope, receive, send)

    return wrapped


@dataclass
class Subgraphs:
    urls: dict[str, str]
    calls: Calls
    # name -> async hook(scope, receive, send) -> True when it answered itself
    hooks: dict[str, Callable[[Any, Any, Any], Awaitable[bool]]]
    servers: list[tuple[uvicorn.Server, asyncio.Task[None]]]


@dataclass
class Running:
    url: str
    app: GatewayApp
    client: httpx.AsyncClient
    server: uvicorn.Server
    task: asyncio.Task[None]

    async def post(self, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.post(self.url + "/graphql", json=body, headers=headers or {})

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task


async def start_subgraphs() -> Subgraphs:
    calls = Calls()
    hooks: dict[str, Any] = {}
    servers = []
    urls: dict[str, str] = {}
    for name, app in apps().items():
        server, task, port = await start_server(counting(name, app, calls, hooks))
        servers.append((server, task))
        urls[name] = f"http://127.0.0.1:{port}/graphql"
    return Subgraphs(urls, calls, hooks, servers)


async def start_gateway(
    subgraphs: Subgraphs,
    *,
    hardened: bool = True,
    app_options: dict[str, Any] | None = None,
    **gateway_options: Any,
) -> Running:
    sdl = hardened_sdl(subgraphs.urls) if hardened else supergraph_sdl(subgraphs.urls)
    gateway_options.setdefault("dedup", False)
    gw = Gateway(Supergraph(sdl), **gateway_options)
    app = GatewayApp(gw, **(app_options or {}))
    server, task, port = await start_server(app)
    client = httpx.AsyncClient(timeout=20)
    return Running(f"http://127.0.0.1:{port}", app, client, server, task)
