"""Transactional outbox and inbox on PostgreSQL (SQLAlchemy 2 async Core).

The tables are defined on the service's own `MetaData`, so the service's Alembic
autogenerate picks them up with its other tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
import zlib
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
    any_,
    bindparam,
    cast,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.sql.schema import Identity

from kopano.events import CloudEvent, encode_data, header_strings
from kopano.outbox.base import Backlog, OutboxMessage, PublishFn

__all__ = [
    "SqlInbox",
    "SqlOutboxStore",
    "add_many_to_outbox",
    "add_to_outbox",
    "inbox_table",
    "outbox_table",
]

Executor: TypeAlias = AsyncSession | AsyncConnection


def outbox_table(metadata: MetaData, name: str = "outbox", *, schema: str | None = None) -> Table:
    """The outbox: one row per event, written in the same transaction as the change.

    `payload` holds the exact JSON bytes that are published (bytea, so nothing is
    re-encoded on the way out); to look inside with SQL use
    `convert_from(payload, 'UTF8')::jsonb`. The schema is part of every service's
    migrations: change it only together with them.
    """
    key = f"{schema}.{name}" if schema else name
    if key in metadata.tables:
        return metadata.tables[key]
    return Table(
        name,
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("event_id", Uuid, nullable=False, unique=True),
        Column("topic", Text, nullable=False),
        Column("key", Text, nullable=True),
        Column("type", Text, nullable=False),
        # The exact Kafka headers (`ce_*`, content-type) and body the relay publishes.
        Column("headers", JSONB, nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("sent_at", DateTime(timezone=True), nullable=True),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        # The relay only ever reads unsent rows; a partial index keeps that scan tiny
        # however many sent rows are kept.
        Index(f"ix_{name}_unsent", "id", postgresql_where=text("sent_at IS NULL")),
        schema=schema,
    )


def inbox_table(metadata: MetaData, name: str = "inbox", *, schema: str | None = None) -> Table:
    """The inbox: one row per (consumer, event) whose effect committed."""
    key = f"{schema}.{name}" if schema else name
    if key in metadata.tables:
        return metadata.tables[key]
    return Table(
        name,
        metadata,
        Column("consumer", Text, nullable=False),
        # Text, not uuid: events from other systems need not use UUID ids.
        Column("event_id", Text, nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "event_id", name=f"pk_{name}"),
        schema=schema,
    )


# Used when a caller does not pass its table: the SQL is the same for any `outbox` table.
_DEFAULT_OUTBOX = outbox_table(MetaData())
_DEFAULT_INBOX = inbox_table(MetaData())


def notify_channel(table: Table) -> str:
    return f"{table.name}_ready"


def _row(event: CloudEvent, topic: str) -> dict[str, Any]:
    return {
        "event_id": uuid.UUID(event.id),
        "topic": topic,
        "key": event.subject,
        "type": event.type,
        "headers": orjson.dumps(header_strings(event)).decode(),
        "payload": encode_data(event),
    }


def _insert(table: Table) -> Any:
    """INSERT with the headers already serialised by orjson (cast to jsonb in SQL)."""
    cached = _INSERTS.get(table)
    if cached is None:
        cached = _INSERTS[table] = table.insert().values(
            event_id=bindparam("event_id"),
            topic=bindparam("topic"),
            key=bindparam("key"),
            type=bindparam("type"),
            headers=cast(bindparam("headers", type_=Text), JSONB),
            payload=bindparam("payload"),
        )
    return cached


_INSERTS: dict[Table, Any] = {}


async def add_many_to_outbox(
    session: Executor,
    events: Iterable[tuple[CloudEvent, str]],
    *,
    table: Table | None = None,
    notify: bool = False,
) -> None:
    """Write events (with their topics) to the outbox in the caller's open transaction.

    `notify=True` also sends `NOTIFY <table>_ready` so a listening relay wakes at once.
    It is off by default: PostgreSQL serialises the commits of notifying transactions
    (a global lock held through the WAL flush), which caps write throughput; the relay's
    short poll keeps latency low without it.
    """
    tbl = table if table is not None else _DEFAULT_OUTBOX
    rows = [_row(event, topic) for event, topic in events]
    if not rows:
        return
    await session.execute(_insert(tbl), rows)
    if notify:
        # Delivered at commit only (and dropped on rollback): wakes a listening relay.
        await session.execute(select(func.pg_notify(notify_channel(tbl), "")))


async def add_to_outbox(
    session: Executor,
    event: CloudEvent,
    topic: str,
    *,
    table: Table | None = None,
    notify: bool = False,
) -> None:
    """Write one event to the outbox; call it inside the use case's transaction."""
    await add_many_to_outbox(session, [(event, topic)], table=table, notify=notify)


def _lock_key(table: Table) -> int:
    # A stable 31-bit advisory-lock id per outbox table.
    return zlib.crc32(f"kopano.outbox:{table.fullname}".encode()) & 0x7FFFFFFF


class SqlOutboxStore:
    """Relay side of the SQL outbox.

    Each batch runs in one transaction that takes a transaction-scoped advisory lock
    (one active relay per outbox, so per-key order survives running several), selects
    `WHERE sent_at IS NULL ORDER BY id ... FOR UPDATE SKIP LOCKED` (never "id > last
    seen", so a transaction that commits late is still picked up), publishes, and marks
    only acknowledged rows. A relay killed mid-batch commits nothing: the rows stay
    unsent and are published again (at-least-once).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        table: Table | None = None,
        *,
        listen: bool = True,
    ) -> None:
        self.engine = engine
        self.table = table if table is not None else _DEFAULT_OUTBOX
        self.name = self.table.fullname
        self._listen = listen
        self._wakeup = asyncio.Event()
        self._listen_conn: AsyncConnection | None = None
        self._lock_key = _lock_key(self.table)
        t = self.table
        self._claim = select(
            func.pg_try_advisory_xact_lock(self._lock_key),
            func.set_config("synchronous_commit", "off", True),
        )
        self._select = (
            select(t.c.id, t.c.topic, t.c.key, cast(t.c.headers, Text), t.c.payload)
            .where(t.c.sent_at.is_(None))
            .order_by(t.c.id)
            .limit(bindparam("limit"))
            .with_for_update(skip_locked=True)
        )
        ids = bindparam("ids", type_=ARRAY(BigInteger))
        self._mark_sent = (
            update(t)
            .where(t.c.id == any_(ids))
            .values(sent_at=func.now(), attempts=t.c.attempts + 1)
        )
        self._mark_failed = update(t).where(t.c.id == any_(ids)).values(attempts=t.c.attempts + 1)
        # The first unsent row in write order: one probe of the partial index, however long
        # the backlog. Its created_at is its transaction's start, so a row a slower
        # transaction wrote just after it may be a few moments older; never by much.
        oldest = (
            select(t.c.created_at)
            .where(t.c.sent_at.is_(None))
            .order_by(t.c.id)
            .limit(1)
            .scalar_subquery()
        )
        self._backlog_status = (
            select(
                func.count(),
                # The database's clock on both sides: no skew between pods and server.
                cast(func.extract("epoch", func.now() - oldest), Float),
            )
            .select_from(t)
            .where(t.c.sent_at.is_(None))
        )

    async def start(self) -> None:
        if not self._listen or self._listen_conn is not None:
            return
        conn = await self.engine.connect()
        try:
            raw = await conn.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            await driver.add_listener(notify_channel(self.table), self._on_notify)
        except Exception:
            await conn.close()
            raise
        self._listen_conn = conn

    def _on_notify(self, *_args: object) -> None:
        self._wakeup.set()

    async def close(self) -> None:
        conn, self._listen_conn = self._listen_conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                raw = await conn.get_raw_connection()
                assert raw.driver_connection is not None
                await raw.driver_connection.remove_listener(
                    notify_channel(self.table), self._on_notify
                )
            await conn.close()

    async def wait_for_work(self, max_wait: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), max_wait)
        self._wakeup.clear()

    async def relay_batch(self, publish: PublishFn, limit: int) -> int:
        async with self.engine.begin() as conn:
            # One round trip: take the relay lock and, because losing a "sent" mark in a
            # crash only means publishing those rows again (at-least-once allows it), let
            # this transaction's commit skip waiting for the WAL flush.
            locked = await conn.scalar(self._claim)
            if not locked:
                return -1
            rows = (await conn.execute(self._select, {"limit": limit})).all()
            if not rows:
                return 0
            messages = [
                OutboxMessage(
                    id=row[0],
                    topic=row[1],
                    key=row[2].encode() if row[2] is not None else None,
                    value=row[4],
                    headers=[(k, v.encode()) for k, v in orjson.loads(row[3]).items()],
                )
                for row in rows
            ]
            acked = await publish(messages)
            sent = [m.id for m, ok in zip(messages, acked, strict=True) if ok]
            failed = [m.id for m, ok in zip(messages, acked, strict=True) if not ok]
            if sent:
                await conn.execute(self._mark_sent, {"ids": sent})
            if failed:
                await conn.execute(self._mark_failed, {"ids": failed})
        return len(messages)

    async def backlog(self) -> int:
        t = self.table
        async with self.engine.connect() as conn:
            count = await conn.scalar(
                select(func.count()).select_from(t).where(t.c.sent_at.is_(None))
            )
        return int(count or 0)

    async def backlog_status(self) -> Backlog:
        async with self.engine.connect() as conn:
            row = (await conn.execute(self._backlog_status)).one()
        unsent = int(row[0] or 0)
        age = max(0.0, float(row[1])) if unsent and row[1] is not None else 0.0
        return Backlog(unsent, age)

    async def purge_sent(self, older_than_seconds: float) -> int:
        """Delete rows sent more than `older_than_seconds` ago (they are only history)."""
        t = self.table
        async with self.engine.begin() as conn:
            result = await conn.execute(
                t.delete().where(t.c.sent_at < func.now() - timedelta(seconds=older_than_seconds))
            )
        return int(result.rowcount or 0)


Handler: TypeAlias = Callable[[CloudEvent, Any], Awaitable[None]]


class SqlInbox:
    """Runs a handler and the inbox insert in one transaction.

    The handler receives an `AsyncSession` when a `session_factory` is given, else an
    `AsyncConnection`. If the `(consumer, event_id)` row already exists the handler is
    not called and nothing changes: a redelivered event does nothing.
    """

    def __init__(
        self,
        engine: AsyncEngine | None = None,
        table: Table | None = None,
        *,
        session_factory: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        if engine is None and session_factory is None:
            raise ValueError("pass an engine or a session_factory")
        self.engine = engine
        self.session_factory = session_factory
        self.table = table if table is not None else _DEFAULT_INBOX
        t = self.table
        self._claim = (
            pg_insert(t)
            .values(
                consumer=bindparam("consumer"),
                event_id=bindparam("event_id"),
                processed_at=bindparam("processed_at"),
            )
            .on_conflict_do_nothing(index_elements=[t.c.consumer, t.c.event_id])
            .returning(t.c.event_id)
        )

    def _params(self, consumer: str, event: CloudEvent) -> dict[str, Any]:
        return {"consumer": consumer, "event_id": event.id, "processed_at": datetime.now(UTC)}

    async def process(self, consumer: str, event: CloudEvent, handler: Handler) -> bool:
        """Apply `handler` once per (consumer, event); False if it was already applied."""
        params = self._params(consumer, event)
        if self.session_factory is not None:
            async with self.session_factory() as session, session.begin():
                claimed = (await session.execute(self._claim, params)).first()
                if claimed is None:
                    return False
                await handler(event, session)
            return True
        assert self.engine is not None
        async with self.engine.begin() as conn:
            claimed = (await conn.execute(self._claim, params)).first()
            if claimed is None:
                return False
            await handler(event, conn)
        return True

    async def seen(self, consumer: str, event_id: str) -> bool:
        t = self.table
        query = select(t.c.event_id).where(t.c.consumer == consumer, t.c.event_id == event_id)
        if self.session_factory is not None:
            async with self.session_factory() as session:
                return (await session.execute(query)).first() is not None
        assert self.engine is not None
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).first() is not None
