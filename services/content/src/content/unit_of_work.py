"""One MongoDB transaction per use case: state changes and their outbox events commit together.

A transaction that loses a write conflict (two RSVPs for the last seat, two reactions on
one post) is abandoned and the whole use case runs again on fresh data, so conditional
updates such as "a seat is left" are always decided on committed state.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

from content.adapters.store import ContentStore
from kopano.events import CloudEvent
from kopano.outbox import MongoOutbox

T = TypeVar("T")


class UnitOfWork:
    """What a use case gets: the store, the transaction's session and an event queue."""

    def __init__(self, store: ContentStore, session: AsyncClientSession) -> None:
        self.store = store
        self.session = session
        self._events: list[tuple[CloudEvent, str]] = []

    def publish(self, event: CloudEvent, topic: str) -> None:
        """Queue an event; it is written to the outbox in this transaction at commit."""
        self._events.append((event, topic))

    async def _flush_events(self, outbox: MongoOutbox) -> None:
        if self._events:
            await outbox.add_many(self._events, session=self.session)
            self._events = []


def _transient(exc: PyMongoError) -> bool:
    return exc.has_error_label("TransientTransactionError") or isinstance(exc, ConnectionFailure)


class UnitOfWorkFactory:
    def __init__(self, store: ContentStore, *, attempts: int = 40) -> None:
        self.store = store
        self.outbox = MongoOutbox(store.db)
        self.attempts = attempts

    async def run(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Run `work` in a transaction and commit; retried on write conflicts."""
        attempt = 0
        while True:
            attempt += 1
            async with self.store.client.start_session() as session:
                uow = UnitOfWork(self.store, session)
                try:
                    await session.start_transaction()
                    result = await work(uow)
                    await uow._flush_events(self.outbox)
                    await self._commit(session)
                    return result
                except PyMongoError as exc:
                    if session.in_transaction:
                        await session.abort_transaction()
                    if not _transient(exc) or attempt >= self.attempts:
                        raise
                except BaseException:
                    if session.in_transaction:
                        await session.abort_transaction()
                    raise
            # Jittered backoff so competing writers do not collide again in lockstep.
            await asyncio.sleep(random.uniform(0, min(0.2, 0.005 * 2 ** min(attempt, 6))))  # noqa: S311

    @staticmethod
    async def _commit(session: AsyncClientSession) -> None:
        for _ in range(5):
            try:
                await session.commit_transaction()
                return
            except OperationFailure as exc:
                if exc.has_error_label("UnknownTransactionCommitResult"):
                    continue  # committing again is safe and settles the outcome
                raise
        await session.commit_transaction()
