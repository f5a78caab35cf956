"""The members service's ASGI app: GraphQL subgraph, JWKS, health, metrics and the outbox relay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kopano.auth import PasswordHasher, StaticJwks, TokenIssuer, TokenVerifier
from kopano.kafka import create_producer, ensure_topics
from kopano.logging import get_logger
from kopano.outbox import OutboxRelay, SqlOutboxStore
from kopano.web import RequestContext, create_service_app, database_check, kafka_check
from members.adapters import tables as t
from members.context import MembersContext
from members.schema import build_schema
from members.service import Services
from members.service.accounts import MembersService
from members.service.admin import AdminService
from members.service.common import ServiceConfig
from members.service.connections import ConnectionService
from members.service.data_rights import DataRightsService
from members.service.directory import DirectoryService
from members.service.organisations import OrganisationService
from members.service.statistics import StatisticsService
from members.settings import MembersSettings
from members.unit_of_work import UnitOfWorkFactory

log = get_logger("members.app")


@dataclass
class MembersRuntime:
    """Everything the app wires together (exposed on ``app.state.members`` for scripts and tests)."""

    settings: MembersSettings
    engine: AsyncEngine
    services: Services
    issuer: TokenIssuer
    verifier: TokenVerifier
    relay: OutboxRelay | None = None


def build_runtime(settings: MembersSettings) -> MembersRuntime:
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_pre_ping=True,
    )
    issuer = TokenIssuer(
        settings.load_signing_key(),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        access_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
    )
    # The service verifies its own tokens against its own keys: no HTTP round trip.
    verifier = TokenVerifier(StaticJwks(issuer.jwks()), settings.jwt_issuer, settings.jwt_audience)
    hasher = PasswordHasher(
        memory_cost_kib=settings.password_hash_memory_kib,
        time_cost=settings.password_hash_time_cost,
    )
    config = ServiceConfig(
        uow=UnitOfWorkFactory(engine),
        event_source=settings.event_source,
        member_topic=settings.member_topic,
        organisation_topic=settings.organisation_topic,
        connection_topic=settings.connection_topic,
    )
    services = Services(
        config=config,
        accounts=MembersService(
            config.uow,
            hasher,
            issuer,
            consent_version=settings.consent_version,
            refresh_ttl=timedelta(days=settings.refresh_token_ttl_days),
            event_source=settings.event_source,
            member_topic=settings.member_topic,
        ),
        admin=AdminService(config),
        organisations=OrganisationService(config),
        connections=ConnectionService(config),
        directory=DirectoryService(config),
        statistics=StatisticsService(config, settings.statistics_min_cell),
        data_rights=DataRightsService(config, hasher),
    )
    return MembersRuntime(settings, engine, services, issuer, verifier)


def create_app(settings: MembersSettings | None = None) -> Starlette:
    settings = settings or MembersSettings()
    runtime = build_runtime(settings)
    schema = build_schema()

    def context_getter(base: RequestContext) -> MembersContext:
        return MembersContext(base=base, services=runtime.services)

    async def jwks(_: Request) -> Response:
        return JSONResponse(runtime.issuer.jwks(), headers={"Cache-Control": "public, max-age=300"})

    async def start_relay() -> None:
        if settings.relay_enabled:
            topics = [settings.member_topic, settings.organisation_topic, settings.connection_topic]
            try:
                await ensure_topics(settings.kafka_bootstrap_servers, topics)
            except Exception:
                # Not fatal: the relay keeps its rows and retries until the broker is back.
                log.warning("members.ensure_topics_failed", topics=topics, exc_info=True)
            runtime.relay = OutboxRelay(
                SqlOutboxStore(runtime.engine, t.outbox),
                create_producer(settings),
                service_name=settings.service_name,
            )
            await runtime.relay.start()

    async def stop() -> None:
        if runtime.relay is not None:
            await runtime.relay.stop()
            runtime.relay = None
        await runtime.engine.dispose()

    checks = {"database": database_check(runtime.engine)}
    if settings.relay_enabled:
        checks["kafka"] = kafka_check(settings.kafka_bootstrap_servers)

    app = create_service_app(
        settings=settings,
        schema=schema,
        context_getter=context_getter,
        readiness_checks=checks,
        token_verifier=runtime.verifier,
        on_startup=[start_relay],
        on_shutdown=[stop],
        routes=[Route("/.well-known/jwks.json", jwks, methods=["GET"])],
    )
    app.state.members = runtime
    return app
