"""Helpers to run strawberry subgraphs and the gateway with uvicorn on free ports."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from gateway.executor import Gateway


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
