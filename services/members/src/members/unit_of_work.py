"""One database transaction per use case: state changes and their outbox events commit together."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kopano.events import CloudEvent
from kopano.outbox import add_many_to_outbox
from members.adapters import tables as t
from members.adapters.connection_repository import ConnectionRepository
from members.adapters.organisation_repository import OrganisationRepository
from members.adapters.repository import (
    AuditRepository,
    ConsentRepository,
    MemberRepository,
    RefreshTokenRepository,
)


class UnitOfWork:
    """``async with uow:`` opens a transaction; ``commit()`` makes it durable.

    Leaving the block without ``commit()`` (or with an exception) rolls everything back,
    including queued events, so nothing is ever half-written.
    """

    conn: AsyncConnection
    members: MemberRepository
    refresh_tokens: RefreshTokenRepository
    consents: ConsentRepository
    audit: AuditRepository
    organisations: OrganisationRepository
    connections: ConnectionRepository

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._events: list[tuple[CloudEvent, str]] = []

    async def __aenter__(self) -> Self:
        self.conn = await self._engine.connect()
        await self.conn.begin()
        self._events = []
        self.members = MemberRepository(self.conn)
        self.refresh_tokens = RefreshTokenRepository(self.conn)
        self.consents = ConsentRepository(self.conn)
        self.audit = AuditRepository(self.conn)
        self.organisations = OrganisationRepository(self.conn)
        self.connections = ConnectionRepository(self.conn)
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
        self._events.append((event, topic))

    async def commit(self) -> None:
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

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self.engine)
