"""Gateway test stack: four strawberry subgraphs and the gateway, each on a free port."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from gw_subgraphs import apps, supergraph_sdl

from gateway.app import GatewayApp
from gateway.executor import Gateway
from gateway.supergraph import Supergraph


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_server(app: Any) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    return server, task, port


@dataclass
class Stack:
    url: str
    gateway: Gateway
    subgraph_urls: dict[str, str]
    client: httpx.AsyncClient

    async def query(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        operation_name: str | None = None,
    ) -> Any:
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        if operation_name is not None:
            body["operationName"] = operation_name
        r = await self.client.post(self.url + "/graphql", json=body, headers=headers or {})
        return r.json()


@pytest.fixture(scope="session")
async def stack() -> AsyncIterator[Stack]:
    servers = []
    urls: dict[str, str] = {}
    for name, app in apps().items():
        server, task, port = await start_server(app)
        servers.append((server, task))
        urls[name] = f"http://127.0.0.1:{port}/graphql"
    gw = Gateway(Supergraph(supergraph_sdl(urls)), dedup=False)
    server, task, port = await start_server(GatewayApp(gw))
    servers.append((server, task))
    async with httpx.AsyncClient(timeout=10) as client:
        yield Stack(f"http://127.0.0.1:{port}", gw, urls, client)
    for server, task in servers:
        server.should_exit = True
        await task
    gw.pool.close()
