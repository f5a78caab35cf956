"""Run the outbox relay as its own process.

    python -m kopano.outbox --database-url postgresql+asyncpg://... --bootstrap-servers host:9092
    python -m kopano.outbox --mongodb-url mongodb://.../content --bootstrap-servers host:9092

Every flag has an environment variable (`DATABASE_URL`, `MONGODB_URL`,
`KAFKA_BOOTSTRAP_SERVERS`, `KAFKA_ENABLE_IDEMPOTENCE`, `SERVICE_NAME`). SIGINT/SIGTERM
finish the batch in progress and exit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from collections.abc import Awaitable, Callable, Sequence

import structlog
from prometheus_client import start_http_server
from pymongo import AsyncMongoClient
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import create_async_engine

from kopano.kafka import create_producer
from kopano.outbox.base import OutboxStore
from kopano.outbox.mongo import MongoOutboxStore
from kopano.outbox.relay import OutboxRelay
from kopano.outbox.sql import SqlOutboxStore, outbox_table

__all__ = ["main", "parse_args", "run"]

log = structlog.get_logger("kopano.outbox")


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def async_database_url(url: str) -> str:
    """Accept plain `postgresql://` URLs too; the relay needs the asyncpg driver."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m kopano.outbox", description="Publish a service's outbox to Kafka."
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    source.add_argument("--mongodb-url", default=os.environ.get("MONGODB_URL"))
    parser.add_argument("--mongodb-database", help="default: the database in --mongodb-url")
    parser.add_argument("--table", default="outbox", help="outbox table or collection name")
    parser.add_argument("--schema", default=None, help="SQL schema of the outbox table")
    parser.add_argument(
        "--bootstrap-servers",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
    )
    parser.add_argument(
        "--enable-idempotence",
        action=argparse.BooleanOptionalAction,
        default=_env_bool("KAFKA_ENABLE_IDEMPOTENCE", True),
        help="producer idempotence (turn off for the embedded tansu broker)",
    )
    parser.add_argument("--service-name", default=os.environ.get("SERVICE_NAME", "outbox-relay"))
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--poll-interval", type=float, default=0.1, help="idle poll (s)")
    parser.add_argument("--metrics-port", type=int, default=0, help="serve /metrics (0 = off)")
    parser.add_argument("--once", action="store_true", help="drain the outbox, then exit")
    args = parser.parse_args(argv)
    if not args.database_url and not args.mongodb_url:
        parser.error("set --database-url (DATABASE_URL) or --mongodb-url (MONGODB_URL)")
    return args


async def run(args: argparse.Namespace) -> None:
    producer = create_producer(
        bootstrap_servers=args.bootstrap_servers,
        enable_idempotence=args.enable_idempotence,
        client_id=f"{args.service_name}-relay",
    )
    store: OutboxStore
    closers: list[Callable[[], Awaitable[None]]] = []
    if args.database_url:
        engine = create_async_engine(async_database_url(args.database_url), pool_size=2)
        store = SqlOutboxStore(engine, outbox_table(MetaData(), args.table, schema=args.schema))
        closers.append(lambda: engine.dispose())
    else:
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(args.mongodb_url)
        db = (
            client[args.mongodb_database]
            if args.mongodb_database
            else client.get_default_database()
        )
        store = MongoOutboxStore(db, args.table)
        closers.append(client.close)
    relay = OutboxRelay(
        store,
        producer,
        batch_size=args.batch_size,
        poll_interval=args.poll_interval,
        service_name=args.service_name,
    )
    try:
        if args.once:
            await producer.start()
            try:
                sent = await relay.run_until_empty()
            finally:
                await producer.stop()
            log.info("outbox drained", published=sent)
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await relay.start()
        log.info("outbox relay running", store=store.name, service=args.service_name)
        await stop.wait()
        await relay.stop()
        log.info("outbox relay stopped", published=relay.published)
    finally:
        for close in closers:
            await close()


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.metrics_port:
        start_http_server(args.metrics_port, addr="127.0.0.1")
    asyncio.run(run(args))
