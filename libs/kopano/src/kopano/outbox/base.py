"""What the relay needs from an outbox, whatever database holds it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Backlog", "OutboxMessage", "OutboxStore", "PublishFn"]


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One stored event, ready to hand to the producer as-is."""

    id: object  # the store's own ordering key (bigint for SQL, ObjectId for Mongo)
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class Backlog:
    """The unsent part of an outbox: how many rows, and how long ago the first of them (in
    write order) was written, in seconds; 0.0 when nothing is unsent."""

    unsent: int
    oldest_age_seconds: float


# Publishes a batch in order and says, per message, whether the broker acknowledged it.
PublishFn = Callable[[Sequence[OutboxMessage]], Awaitable[Sequence[bool]]]


class OutboxStore(Protocol):
    """A store the relay can drain.

    `relay_batch` claims up to `limit` unsent messages in write order, calls `publish`,
    and marks only the acknowledged ones as sent — all while holding a claim that keeps a
    second relay off the same rows (so per-key order holds with several relay instances).
    It returns how many messages it handled, or -1 if another relay holds the claim.
    """

    name: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def relay_batch(self, publish: PublishFn, limit: int) -> int: ...

    async def backlog(self) -> int: ...

    async def backlog_status(self) -> Backlog:
        """The unsent count and the age of the oldest unsent row, in one cheap look."""
        ...

    async def wait_for_work(self, max_wait: float) -> None:
        """Return when new rows may be there (a notification) or after `max_wait` seconds."""
        ...

    async def purge_sent(self, older_than_seconds: float) -> int: ...
