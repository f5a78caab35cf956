"""The payments service's ASGI app: GraphQL subgraph, partner webhooks, the dispatcher and the
outbox relay."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kopano.auth import TokenVerifier
from kopano.consumer import IdempotentConsumer
from kopano.kafka import create_producer
from kopano.logging import get_logger
from kopano.outbox import OutboxRelay, SqlInbox, SqlOutboxStore
from kopano.web import RequestContext, create_service_app, database_check, kafka_check
from payments.adapters import tables as t
from payments.consumers import create_consumer
from payments.context import PaymentsContext
from payments.metrics import TransferMetrics, count_webhook
from payments.partners.base import HttpPartners
from payments.partners.signing import DELIVERY_HEADER, SIGNATURE_HEADER
from payments.schema import build_schema
from payments.service import Services
from payments.service.admin import AdminService
from payments.service.common import ServiceConfig
from payments.service.data_rights import DataRightsService
from payments.service.dispatcher import Dispatcher
from payments.service.remittances import RemittanceService
from payments.service.webhooks import WebhookService
from payments.settings import PaymentsSettings
from payments.unit_of_work import UnitOfWorkFactory

_log = get_logger("payments.webhooks")
MAX_WEBHOOK_BYTES = 64 * 1024


@dataclass
class PaymentsRuntime:
    """Everything the app wires together (``app.state.payments`` for scripts and tests)."""

    settings: PaymentsSettings
    engine: AsyncEngine
    services: Services
    partners: HttpPartners
    dispatcher: Dispatcher
    transfer_metrics: TransferMetrics
    relay: OutboxRelay | None = None
    consumer: IdempotentConsumer | None = None


def build_runtime(settings: PaymentsSettings) -> PaymentsRuntime:
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout=settings.database_pool_timeout,
        # No pre-ping: it is a round trip on every checkout (several per send). A connection
        # the server dropped fails its statement, SQLAlchemy invalidates it and the pool
        # opens a fresh one; recycling bounds how long an idle one is trusted.
        pool_recycle=300,
    )
    partners = HttpPartners(settings.partner_base_url, timeout=settings.partner_timeout_seconds)
    holder: list[Dispatcher] = []
    config = ServiceConfig(
        uow=UnitOfWorkFactory(engine),
        event_source=settings.event_source,
        remittance_topic=settings.remittance_topic,
        on_dispatch_due=lambda: holder[0].wake() if holder else None,
    )
    dispatcher = Dispatcher(
        config,
        partners,
        partners,
        batch_size=settings.dispatcher_batch_size,
        poll_seconds=settings.dispatcher_poll_seconds,
    )
    holder.append(dispatcher)
    services = Services(
        config=config,
        remittances=RemittanceService(config),
        webhooks=WebhookService(config, settings.webhook_key(), settings.webhook_tolerance_seconds),
        admin=AdminService(config),
        data_rights=DataRightsService(config),
    )
    return PaymentsRuntime(
        settings,
        engine,
        services,
        partners,
        dispatcher,
        TransferMetrics(engine, settings.transfer_metrics_seconds),
    )


def create_app(
    settings: PaymentsSettings | None = None, *, token_verifier: TokenVerifier | None = None
) -> Starlette:
    """``token_verifier`` defaults to the kit's (the members service's JWKS over HTTP)."""
    settings = settings or PaymentsSettings()
    runtime = build_runtime(settings)
    schema = build_schema()

    def context_getter(base: RequestContext) -> PaymentsContext:
        return PaymentsContext(base=base, services=runtime.services)

    async def webhook(request: Request) -> Response:
        partner = request.path_params["partner"]
        body = await request.body()
        if len(body) > MAX_WEBHOOK_BYTES:
            count_webhook(partner, "too_large")
            return JSONResponse({"status": "rejected", "detail": "too large"}, status_code=413)
        result = await runtime.services.webhooks.receive(
            partner,
            body,
            request.headers.get(SIGNATURE_HEADER),
            request.headers.get(DELIVERY_HEADER),
        )
        count_webhook(partner, result.status.value)
        _log.info(
            "webhook.received",
            partner=partner,
            status=result.status.value,
            state=result.state,
            detail=result.detail,
        )
        return JSONResponse(
            {"status": result.status.value, "state": result.state, "detail": result.detail},
            status_code=result.http_status,
        )

    async def start() -> None:
        runtime.transfer_metrics.start()
        if settings.dispatcher_enabled:
            runtime.dispatcher.start()
        if settings.relay_enabled:
            runtime.relay = OutboxRelay(
                SqlOutboxStore(runtime.engine, t.outbox),
                create_producer(settings),
                service_name=settings.service_name,
            )
            await runtime.relay.start()
        if settings.consumers_enabled:
            runtime.consumer = create_consumer(settings, SqlInbox(runtime.engine, t.inbox))
            await runtime.consumer.start()

    async def stop() -> None:
        if runtime.consumer is not None:
            await runtime.consumer.stop()
            runtime.consumer = None
        await runtime.dispatcher.stop()
        await runtime.transfer_metrics.stop()
        if runtime.relay is not None:
            await runtime.relay.stop()
            runtime.relay = None
        await runtime.partners.aclose()
        await runtime.engine.dispose()

    checks = {"database": database_check(runtime.engine)}
    if settings.relay_enabled or settings.consumers_enabled:
        checks["kafka"] = kafka_check(settings.kafka_bootstrap_servers)

    app = create_service_app(
        settings=settings,
        schema=schema,
        context_getter=context_getter,
        readiness_checks=checks,
        token_verifier=token_verifier,
        on_startup=[start],
        on_shutdown=[stop],
        routes=[Route("/webhooks/{partner}", webhook, methods=["POST"])],
    )
    app.state.payments = runtime
    return app
