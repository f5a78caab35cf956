"""One database transaction per use case: state changes and their outbox events commit together."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kopano.events import CloudEvent
from kopano.outbox import add_many_to_outbox
from opportunities.adapters import tables as t
from opportunities.adapters.repository import (
    ApplicationRepository,
    OpportunityRepository,
    ProjectionRepository,
    SavedSearchRepository,
)


class UnitOfWork:
    """``async with uow:`` opens a transaction; ``commit()`` makes it durable.

    Leaving the block without ``commit()`` (or with an exception) rolls everything back,
    including queued events, so nothing is ever half-written.
    """

    conn: AsyncConnection
    opportunities: OpportunityRepository
    applications: ApplicationRepository
    saved_searches: SavedSearchRepository
    projections: ProjectionRepository

    def __init__(self, engine: AsyncEngine, *, read_only: bool = False) -> None:
        self._engine = engine
        self._read_only = read_only
        self._events: list[tuple[CloudEvent, str]] = []

    async def __aenter__(self) -> Self:
        self.conn = await self._engine.connect()
        if self._read_only:
            # Reads that need no snapshot across statements skip BEGIN and ROLLBACK: two
            # round trips fewer on the hot read paths.
            self.conn = await self.conn.execution_options(isolation_level="AUTOCOMMIT")
        else:
            await self.conn.begin()
        self._events = []
        self._bind(self.conn)
        return self

    def _bind(self, conn: AsyncConnection) -> None:
        self.opportunities = OpportunityRepository(conn)
        self.applications = ApplicationRepository(conn)
        self.saved_searches = SavedSearchRepository(conn)
        self.projections = ProjectionRepository(conn)

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
        self._events.append((event, topic))

    async def commit(self) -> None:
        if self._read_only:
            raise RuntimeError("a read-only unit of work cannot commit")
        if self._events:
            await add_many_to_outbox(self.conn, self._events, table=t.outbox)
            self._events = []
        await self.conn.commit()


class UnitOfWorkFactory:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def __call__(self, *, read_only: bool = False) -> UnitOfWork:
        return UnitOfWork(self.engine, read_only=read_only)


class InboxUnitOfWork(UnitOfWork):
    """The repositories on a transaction someone else owns (the consumer's inbox): events
    go to the outbox at ``flush()``, and the owner commits."""

    def __init__(self, conn: AsyncConnection) -> None:
        super().__init__(conn.engine)
        self.conn = conn
        self._bind(conn)

    async def flush(self) -> None:
        if self._events:
            await add_many_to_outbox(self.conn, self._events, table=t.outbox)
            self._events = []
