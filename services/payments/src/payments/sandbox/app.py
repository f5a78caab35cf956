"""The sandbox partners: accept collection, refund and payout requests, answer by signed webhook.

``auto`` mode completes every request after ``delay_seconds`` (collected, then credited);
``manual`` mode only records requests, and ``POST /sandbox/deliver`` sends whatever webhook a
test or a developer asks for (duplicates, late or out-of-order ones included).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import httpx
import orjson
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kopano.logging import RequestIdMiddleware, get_logger
from kopano.settings import BaseServiceSettings
from payments.partners.base import PAYIN_PROVIDER, PAYOUT_PARTNERS
from payments.partners.signing import DELIVERY_HEADER, SIGNATURE_HEADER, sign
from payments.settings import DEV_WEBHOOK_SECRET

_log = get_logger("payments.sandbox")


class SandboxSettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENTS_SANDBOX_")

    service_name: str = "payments-sandbox"
    port: int = Field(default=4014, ge=0, le=65535)
    # Where webhooks go: `<webhook_url>/<partner>`.
    webhook_url: str = "http://127.0.0.1:4004/webhooks"
    webhook_secret: SecretStr | None = Field(default=None, repr=False)
    mode: Literal["auto", "manual"] = "auto"
    delay_seconds: float = Field(default=0.0, ge=0)
    # Send every automatic webhook this many times (exercises the receiver's dedupe).
    copies: int = Field(default=1, ge=1, le=5)
    delivery_attempts: int = Field(default=30, ge=1)
    # Webhooks in flight at once (a partner's sender pool).
    max_concurrent_deliveries: int = Field(default=32, ge=1)

    def webhook_key(self) -> bytes:
        if self.webhook_secret is not None:
            return self.webhook_secret.get_secret_value().encode()
        return DEV_WEBHOOK_SECRET.encode()


class Sandbox:
    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.requests: list[dict[str, Any]] = []
        # Deliveries queue on the semaphore, never on the connection pool.
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(10.0, pool=None),
            limits=httpx.Limits(max_connections=settings.max_concurrent_deliveries),
        )
        self._slots = asyncio.Semaphore(settings.max_concurrent_deliveries)
        self._tasks: set[asyncio.Task[None]] = set()

    async def deliver(
        self,
        partner: str,
        payload: dict[str, Any],
        *,
        delivery_id: str | None = None,
        timestamp: int | None = None,
    ) -> int:
        """Sign and POST one webhook, retrying on failure; the last HTTP status."""
        body = orjson.dumps(payload)
        headers = {
            "content-type": "application/json",
            DELIVERY_HEADER: delivery_id or uuid.uuid4().hex,
        }
        status = 0
        for attempt in range(self.settings.delivery_attempts):
            headers[SIGNATURE_HEADER] = sign(self.settings.webhook_key(), body, timestamp)
            try:
                async with self._slots:
                    response = await self.client.post(
                        f"{self.settings.webhook_url.rstrip('/')}/{partner}",
                        content=body,
                        headers=headers,
                    )
                status = response.status_code
                if status < 500 and status != 409:
                    return status
            except httpx.HTTPError as exc:
                _log.warning("sandbox.delivery_failed", partner=partner, error=type(exc).__name__)
            await asyncio.sleep(min(2.0, 0.1 * 2**attempt))
        return status

    def later(self, partner: str, payload: dict[str, Any]) -> None:
        async def run() -> None:
            if self.settings.delay_seconds:
                await asyncio.sleep(self.settings.delay_seconds)
            delivery_id = uuid.uuid4().hex
            for _ in range(self.settings.copies):
                await self.deliver(partner, payload, delivery_id=delivery_id)

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.client.aclose()


def _outcome(transfer: dict[str, Any], outcome: str) -> dict[str, Any]:
    return {
        "transferId": transfer["transferId"],
        "reference": transfer.get("reference"),
        "outcome": outcome,
        "amount": transfer["amount"],
        "currency": transfer["currency"],
    }


def create_sandbox_app(settings: SandboxSettings | None = None) -> Starlette:
    settings = settings or SandboxSettings()
    sandbox = Sandbox(settings)

    async def read(request: Request) -> dict[str, Any] | None:
        try:
            payload = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return None
        if (
            not isinstance(payload, dict)
            or not {"transferId", "amount", "currency"} <= payload.keys()
        ):
            return None
        return payload

    async def collections(request: Request) -> Response:
        payload = await read(request)
        if payload is None:
            return JSONResponse({"error": "bad request"}, status_code=400)
        sandbox.requests.append({"kind": "collection", **payload})
        if settings.mode == "auto":
            sandbox.later(PAYIN_PROVIDER, _outcome(payload, "PAYIN_COLLECTED"))
        return JSONResponse({"status": "accepted"}, status_code=202)

    async def refunds(request: Request) -> Response:
        payload = await read(request)
        if payload is None:
            return JSONResponse({"error": "bad request"}, status_code=400)
        sandbox.requests.append({"kind": "refund", **payload})
        return JSONResponse({"status": "refunded"})

    async def payouts(request: Request) -> Response:
        partner = request.path_params["partner"]
        payload = await read(request)
        if partner not in PAYOUT_PARTNERS.values() or payload is None:
            return JSONResponse({"error": "bad request"}, status_code=400)
        sandbox.requests.append({"kind": "payout", "partner": partner, **payload})
        if settings.mode == "auto":
            sandbox.later(partner, _outcome(payload, "PAYOUT_CREDITED"))
        return JSONResponse({"status": "accepted"}, status_code=202)

    async def deliver(request: Request) -> Response:
        """Control endpoint: `{partner, transferId, outcome, amount, currency, deliveryId?,
        copies?, timestamp?}` → the receiver's HTTP status for each copy."""
        spec = orjson.loads(await request.body())
        payload = {k: spec[k] for k in ("transferId", "outcome", "amount", "currency")}
        statuses = [
            await sandbox.deliver(
                spec["partner"],
                payload,
                delivery_id=spec.get("deliveryId"),
                timestamp=spec.get("timestamp"),
            )
            for _ in range(int(spec.get("copies", 1)))
        ]
        return JSONResponse({"statuses": statuses})

    async def received(_: Request) -> Response:
        return JSONResponse({"requests": sandbox.requests})

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok", "service": settings.service_name})

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await sandbox.close()

    app = Starlette(
        routes=[
            Route(f"/{PAYIN_PROVIDER}/collections", collections, methods=["POST"]),
            Route(f"/{PAYIN_PROVIDER}/refunds", refunds, methods=["POST"]),
            Route("/payout/{partner}/payments", payouts, methods=["POST"]),
            Route("/sandbox/deliver", deliver, methods=["POST"]),
            Route("/sandbox/requests", received, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET", "HEAD"]),
            Route("/readyz", healthz, methods=["GET", "HEAD"]),
        ],
        lifespan=lifespan,
        middleware=[],
    )
    app.add_middleware(RequestIdMiddleware)
    app.state.sandbox = sandbox
    return app
