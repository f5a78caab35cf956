"""The payments service and the sandbox partners on real HTTP ports (free ones), for tests."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from payments_gql import REMITTANCE, Member, data, gql, make_settings
from starlette.applications import Starlette

from kopano.auth import TokenVerifier
from kopano.devstack._process import free_port
from payments.app import PaymentsRuntime, create_app
from payments.sandbox.app import SandboxSettings, create_sandbox_app


@dataclass
class Stack:
    payments_url: str
    sandbox_url: str
    app: Starlette
    client: httpx.AsyncClient  # talks to the payments service over HTTP

    @property
    def runtime(self) -> PaymentsRuntime:
        rt: PaymentsRuntime = self.app.state.payments
        return rt


async def _serve(app: Starlette, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on"
        )
    )
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(20):
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
            await asyncio.sleep(0.02)
    return server, task


@contextlib.asynccontextmanager
async def running_stack(
    database_url: str,
    verifier: TokenVerifier,
    *,
    sandbox_mode: str = "manual",
    sandbox_copies: int = 1,
    **overrides: Any,
) -> AsyncIterator[Stack]:
    payments_port, sandbox_port = free_port(), free_port()
    sandbox = create_sandbox_app(
        SandboxSettings(
            environment="test",
            port=sandbox_port,
            webhook_url=f"http://127.0.0.1:{payments_port}/webhooks",
            mode=sandbox_mode,
            copies=sandbox_copies,
        )
    )
    settings = make_settings(
        database_url,
        port=payments_port,
        partner_base_url=f"http://127.0.0.1:{sandbox_port}",
        dispatcher_enabled=True,
        dispatcher_poll_seconds=0.1,
        **overrides,
    )
    app = create_app(settings, token_verifier=verifier)
    servers = [await _serve(sandbox, sandbox_port), await _serve(app, payments_port)]
    base = f"http://127.0.0.1:{payments_port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            yield Stack(base, f"http://127.0.0.1:{sandbox_port}", app, client)
    finally:
        for server, task in reversed(servers):
            server.should_exit = True
            await task


async def state_of(stack: Stack, member: Member, remittance_id: str) -> str:
    body = await gql(stack.client, REMITTANCE, {"id": remittance_id}, token=member.token)
    state: str = data(body)["remittance"]["state"]
    return state


async def wait_for(stack: Stack, member: Member, remittance_id: str, state: str) -> None:
    async with asyncio.timeout(30):
        # Polling the API over HTTP: the state changes in the server's own tasks.
        while (current := await state_of(stack, member, remittance_id)) != state:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    assert current == state


async def deliver(
    stack: Stack,
    partner: str,
    remittance: dict[str, Any],
    outcome: str,
    *,
    delivery_id: str | None = None,
    copies: int = 1,
    timestamp: int | None = None,
) -> list[int]:
    """Ask the sandbox partner to send a signed webhook to the payments service."""
    payin = outcome.startswith("PAYIN")
    amount = remittance["totalCharged"] if payin else remittance["receiveAmount"]
    async with httpx.AsyncClient(base_url=stack.sandbox_url, timeout=30) as sandbox:
        response = await sandbox.post(
            "/sandbox/deliver",
            json={
                "partner": partner,
                "transferId": remittance["id"],
                "outcome": outcome,
                "amount": amount["amount"],
                "currency": amount["currency"],
                "deliveryId": delivery_id or uuid.uuid4().hex,
                "copies": copies,
                "timestamp": timestamp,
            },
        )
    statuses: list[int] = response.json()["statuses"]
    return statuses
