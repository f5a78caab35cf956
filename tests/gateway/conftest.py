"""Gateway test stack: four strawberry subgraphs and the gateway, each on a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from gw_hardening import Calls, Subgraphs, start_subgraphs
from gw_stack import Stack, start_server
from gw_subgraphs import apps, supergraph_sdl

from gateway.app import GatewayApp
from gateway.executor import Gateway
from gateway.supergraph import Supergraph


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


@pytest.fixture(scope="session")
async def subgraphs() -> AsyncIterator[Subgraphs]:
    sg = await start_subgraphs()
    yield sg
    for server, task in sg.servers:
        server.should_exit = True
        await task


@pytest.fixture
def calls(subgraphs: Subgraphs) -> Calls:
    subgraphs.calls.clear()
    subgraphs.hooks.clear()
    return subgraphs.calls
