"""One database transaction per use case: state, ledger postings and outbox events commit together."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kopano.events import CloudEvent
from kopano.outbox import add_many_to_outbox
from payments.adapters import tables as t
from payments.adapters.repository import (
    IdempotencyRepository,
    LedgerRepository,
    MemberRepository,
    QuoteRepository,
    RecipientRepository,
    TransferRepository,
    WebhookRepository,
)


class UnitOfWork:
    """``async with uow:`` opens a transaction; ``commit()`` makes it durable.

    Leaving the block without ``commit()`` (or with an exception) rolls everything back,
    queued events included, so a transfer never changes state without its postings and events.

    ``autocommit=True`` is for use cases that run a single statement or only read: no BEGIN
    and COMMIT round trips (one statement is atomic on its own). Such a unit cannot publish
    events, since those must commit together with a state change.

    ``snapshot=True`` is for reads that must agree with each other (several statements over
    related tables): one REPEATABLE READ, READ ONLY transaction, so every statement sees the
    same snapshot and nothing can be written. It cannot publish events either.
    """

    conn: AsyncConnection
    quotes: QuoteRepository
    recipients: RecipientRepository
    transfers: TransferRepository
    idempotency: IdempotencyRepository
    ledger: LedgerRepository
    members: MemberRepository
    webhooks: WebhookRepository

    def __init__(
        self, engine: AsyncEngine, *, autocommit: bool = False, snapshot: bool = False
    ) -> None:
        if autocommit and snapshot:
            raise ValueError("a unit of work is either autocommit or a snapshot, not both")
        self._engine = engine
        self._autocommit = autocommit
        self._snapshot = snapshot
        self._events: list[tuple[CloudEvent, str]] = []

    async def __aenter__(self) -> Self:
        self.conn = await self._engine.connect()
        if self._autocommit:
            self.conn = await self.conn.execution_options(isolation_level="AUTOCOMMIT")
        elif self._snapshot:
            self.conn = await self.conn.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            await self.conn.begin()
        else:
            await self.conn.begin()
        self._events = []
        self.quotes = QuoteRepository(self.conn)
        self.recipients = RecipientRepository(self.conn)
        self.transfers = TransferRepository(self.conn)
        self.idempotency = IdempotencyRepository(self.conn)
        self.ledger = LedgerRepository(self.conn)
        self.members = MemberRepository(self.conn)
        self.webhooks = WebhookRepository(self.conn)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.conn.in_transaction():
                await self.conn.rollback()
        finally:
            await self.conn.close()

    def publish(self, event: CloudEvent, topic: str) -> None:
        """Queue an event; it is written to the outbox in this transaction at commit."""
        if self._autocommit or self._snapshot:
            raise RuntimeError("a read-only unit of work cannot publish events")
        self._events.append((event, topic))

    async def commit(self) -> None:
        if self._autocommit:
            return  # each statement committed as it ran
        if self._events:
            await add_many_to_outbox(self.conn, self._events, table=t.outbox)
            self._events = []
        await self.conn.commit()

    async def rollback(self) -> None:
        self._events = []
        await self.conn.rollback()


class UnitOfWorkFactory:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def __call__(self, *, autocommit: bool = False, snapshot: bool = False) -> UnitOfWork:
        return UnitOfWork(self.engine, autocommit=autocommit, snapshot=snapshot)
