"""The opportunities service's ASGI app: GraphQL subgraph, health, metrics, the outbox relay,
the member/organisation projection consumer and the deadline sweep."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from starlette.applications import Starlette

from kopano.auth import TokenVerifier
from kopano.consumer import IdempotentConsumer
from kopano.kafka import create_producer, ensure_topics
from kopano.logging import get_logger
from kopano.outbox import OutboxRelay, SqlOutboxStore
from kopano.web import RequestContext, create_service_app, database_check, kafka_check
from opportunities.adapters import tables as t
from opportunities.consumers import build_consumer
from opportunities.context import OpportunitiesContext
from opportunities.schema import build_schema
from opportunities.service import OpportunityService, ServiceConfig
from opportunities.settings import OpportunitiesSettings
from opportunities.unit_of_work import UnitOfWorkFactory

log = get_logger("opportunities.app")


@dataclass
class OpportunitiesRuntime:
    """Everything the app wires together (``app.state.opportunities`` for scripts and tests)."""

    settings: OpportunitiesSettings
    engine: AsyncEngine
    service: OpportunityService
    relay: OutboxRelay | None = None
    consumer: IdempotentConsumer | None = None
    sweeper: asyncio.Task[None] | None = field(default=None)


def build_runtime(settings: OpportunitiesSettings) -> OpportunitiesRuntime:
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_pre_ping=True,
    )
    config = ServiceConfig(
        uow=UnitOfWorkFactory(engine),
        event_source=settings.event_source,
        opportunity_topic=settings.opportunity_topic,
        application_topic=settings.application_topic,
        closing_soon_days=settings.closing_soon_days,
    )
    return OpportunitiesRuntime(settings, engine, OpportunityService(config))


async def _sweep(service: OpportunityService, every: float) -> None:
    """Close postings past their deadline (applications are refused anyway; this announces it)."""
    while True:
        try:
            closed = await service.close_expired()
            if closed:
                log.info("opportunities.closed_by_deadline", count=closed)
        except Exception:
            log.warning("opportunities.deadline_sweep_failed", exc_info=True)
        await asyncio.sleep(every)


def create_app(
    settings: OpportunitiesSettings | None = None, *, token_verifier: TokenVerifier | None = None
) -> Starlette:
    """``token_verifier`` defaults to the kit's (the members service's JWKS over HTTP)."""
    settings = settings or OpportunitiesSettings()
    runtime = build_runtime(settings)
    schema = build_schema()

    def context_getter(base: RequestContext) -> OpportunitiesContext:
        return OpportunitiesContext(base=base, service=runtime.service)

    async def start() -> None:
        if settings.relay_enabled or settings.consumers_enabled:
            topics = [
                settings.opportunity_topic,
                settings.application_topic,
                settings.member_topic,
                settings.organisation_topic,
            ]
            try:
                await ensure_topics(settings.kafka_bootstrap_servers, topics)
            except Exception:
                # Not fatal: the relay keeps its rows and the consumer retries.
                log.warning("opportunities.ensure_topics_failed", topics=topics, exc_info=True)
        if settings.relay_enabled:
            runtime.relay = OutboxRelay(
                SqlOutboxStore(runtime.engine, t.outbox),
                create_producer(settings),
                service_name=settings.service_name,
            )
            await runtime.relay.start()
        if settings.consumers_enabled:
            runtime.consumer = build_consumer(settings, runtime.engine)
            await runtime.consumer.start()
        if settings.deadline_sweep_seconds > 0:
            runtime.sweeper = asyncio.create_task(
                _sweep(runtime.service, settings.deadline_sweep_seconds)
            )

    async def stop() -> None:
        if runtime.sweeper is not None:
            runtime.sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runtime.sweeper
            runtime.sweeper = None
        if runtime.consumer is not None:
            await runtime.consumer.stop()
            runtime.consumer = None
        if runtime.relay is not None:
            await runtime.relay.stop()
            runtime.relay = None
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
    )
    app.state.opportunities = runtime
    return app
