"""The content service's ASGI app: GraphQL subgraph, health, metrics, outbox relay, consumer."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.applications import Starlette

from content.adapters.store import ContentStore
from content.consumers import create_consumer
from content.context import ContentContext
from content.schema import build_schema
from content.service import ContentService, ServiceConfig
from content.settings import ContentSettings
from content.unit_of_work import UnitOfWorkFactory
from kopano.auth import TokenVerifier
from kopano.consumer import IdempotentConsumer
from kopano.kafka import create_producer, ensure_topics
from kopano.logging import get_logger
from kopano.outbox import MongoOutboxStore, OutboxRelay
from kopano.web import RequestContext, create_service_app, kafka_check, mongo_check

log = get_logger("content.app")


@dataclass
class ContentRuntime:
    """Everything the app wires together (on ``app.state.content`` for scripts and tests)."""

    settings: ContentSettings
    store: ContentStore
    service: ContentService
    relay: OutboxRelay | None = None
    consumer: IdempotentConsumer | None = None


def build_runtime(settings: ContentSettings) -> ContentRuntime:
    store = ContentStore.connect(settings.mongodb_url, settings.mongodb_database)
    config = ServiceConfig(
        uow=UnitOfWorkFactory(store, attempts=settings.transaction_attempts),
        store=store,
        event_source=settings.event_source,
        post_topic=settings.post_topic,
        comment_topic=settings.comment_topic,
        event_topic=settings.event_topic,
    )
    return ContentRuntime(settings, store, ContentService(config))


def create_app(
    settings: ContentSettings | None = None, *, token_verifier: TokenVerifier | None = None
) -> Starlette:
    settings = settings or ContentSettings()
    runtime = build_runtime(settings)
    schema = build_schema()

    def context_getter(base: RequestContext) -> ContentContext:
        return ContentContext(base=base, service=runtime.service)

    async def start() -> None:
        # Indexes for every query exist before the first request (idempotent).
        await runtime.store.migrate()
        if not (settings.relay_enabled or settings.consumers_enabled):
            return
        topics = [settings.post_topic, settings.comment_topic, settings.event_topic]
        if settings.consumers_enabled:
            topics += [settings.member_topic, settings.organisation_topic]
        try:
            await ensure_topics(settings.kafka_bootstrap_servers, topics)
        except Exception:
            # Not fatal: the relay keeps its documents and retries until the broker is back.
            log.warning("content.ensure_topics_failed", topics=topics, exc_info=True)
        if settings.relay_enabled:
            runtime.relay = OutboxRelay(
                MongoOutboxStore(runtime.store.db),
                create_producer(settings),
                service_name=settings.service_name,
            )
            await runtime.relay.start()
        if settings.consumers_enabled:
            runtime.consumer = create_consumer(settings, runtime.service, runtime.store)
            await runtime.consumer.start()

    async def stop() -> None:
        if runtime.consumer is not None:
            await runtime.consumer.stop()
            runtime.consumer = None
        if runtime.relay is not None:
            await runtime.relay.stop()
            runtime.relay = None
        await runtime.store.close()

    checks = {"mongodb": mongo_check(runtime.store.client)}
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
    app.state.content = runtime
    return app
