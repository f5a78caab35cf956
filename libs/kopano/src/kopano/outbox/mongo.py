"""Transactional outbox and inbox on MongoDB (PyMongo's native async API)."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias

from bson import ObjectId
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from kopano.events import CloudEvent, encode_data, header_strings
from kopano.outbox.base import Backlog, OutboxMessage, PublishFn

__all__ = ["MongoInbox", "MongoOutbox", "MongoOutboxStore"]

Document: TypeAlias = dict[str, Any]
Handler: TypeAlias = Callable[[CloudEvent, AsyncClientSession], Awaitable[None]]


class MongoOutbox:
    """Writes events into the `outbox` collection inside the caller's transaction.

    Documents are ordered by `_id`: an ObjectId made by the writer, increasing within a
    process. Writers that change the same aggregate conflict on its document, so the
    later writer's event is created after the earlier one committed.
    """

    def __init__(self, db: AsyncDatabase[Document], collection: str = "outbox") -> None:
        self.db = db
        self.collection = db[collection]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index("event_id", unique=True)
        await self.collection.create_index([("sent", ASCENDING), ("_id", ASCENDING)])

    @staticmethod
    def _document(event: CloudEvent, topic: str) -> Document:
        return {
            "_id": ObjectId(),
            "event_id": event.id,
            "topic": topic,
            "key": event.subject,
            "type": event.type,
            "headers": header_strings(event),
            "payload": encode_data(event),
            "created_at": datetime.now(UTC),
            "sent": False,
            "sent_at": None,
            "attempts": 0,
        }

    async def add(self, event: CloudEvent, topic: str, *, session: AsyncClientSession) -> None:
        """Add one event; `session` must be in the transaction that makes the change."""
        await self.add_many([(event, topic)], session=session)

    async def add_many(
        self, events: Iterable[tuple[CloudEvent, str]], *, session: AsyncClientSession
    ) -> None:
        if not session.in_transaction:
            # Outside a transaction the event could be saved without the change (or vice versa).
            raise RuntimeError("MongoOutbox.add needs a session with an active transaction")
        documents = [self._document(event, topic) for event, topic in events]
        if documents:
            await self.collection.insert_many(documents, ordered=True, session=session)


class MongoOutboxStore:
    """Relay side of the Mongo outbox.

    A lease document (`<lock_collection>`) lets one relay instance work at a time, which
    keeps per-key order with several instances; a relay that dies simply lets its lease
    run out. Unsent documents are read by `sent: false` sorted by `_id` (never "after the
    last one seen", so a late-committing transaction is still found) and marked sent only
    after the broker acknowledged them.
    """

    def __init__(
        self,
        db: AsyncDatabase[Document],
        collection: str = "outbox",
        *,
        lock_collection: str = "outbox_relay_lock",
        lease_seconds: float = 15.0,
        owner: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = db
        self.collection = db[collection]
        self.locks = db[lock_collection]
        self._clock = clock or (lambda: datetime.now(UTC))
        self.name = f"{db.name}.{collection}"
        self.lease = timedelta(seconds=lease_seconds)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._lock_id = f"relay:{collection}"
        self._held_until: datetime | None = None

    async def start(self) -> None:
        await MongoOutbox(self.db, self.collection.name).ensure_indexes()

    async def close(self) -> None:
        # Hand the lease back so another instance can take over at once.
        self._held_until = None
        await self.locks.delete_one({"_id": self._lock_id, "owner": self.owner})

    async def _hold_lease(self) -> bool:
        now = self._clock()
        if self._held_until is not None and now < self._held_until - self.lease * (2 / 3):
            return True  # renewed recently: no write on every poll
        self._held_until = None
        try:
            await self.locks.find_one_and_update(
                {"_id": self._lock_id, "$or": [{"owner": self.owner}, {"until": {"$lt": now}}]},
                {"$set": {"owner": self.owner, "until": now + self.lease}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return False  # the lock exists and someone else's lease is still valid
        self._held_until = now + self.lease
        return True

    async def relay_batch(self, publish: PublishFn, limit: int) -> int:
        if not await self._hold_lease():
            return -1
        cursor = self.collection.find(
            {"sent": False}, {"topic": 1, "key": 1, "headers": 1, "payload": 1}
        )
        documents = await cursor.sort("_id", ASCENDING).limit(limit).to_list()
        if not documents:
            return 0
        messages = [
            OutboxMessage(
                id=doc["_id"],
                topic=doc["topic"],
                key=doc["key"].encode() if doc.get("key") is not None else None,
                value=bytes(doc["payload"]),
                headers=[(k, v.encode()) for k, v in doc["headers"].items()],
            )
            for doc in documents
        ]
        acked = await publish(messages)
        sent = [m.id for m, ok in zip(messages, acked, strict=True) if ok]
        failed = [m.id for m, ok in zip(messages, acked, strict=True) if not ok]
        if sent:
            await self.collection.update_many(
                {"_id": {"$in": sent}},
                {"$set": {"sent": True, "sent_at": datetime.now(UTC)}, "$inc": {"attempts": 1}},
            )
        if failed:
            await self.collection.update_many({"_id": {"$in": failed}}, {"$inc": {"attempts": 1}})
        return len(messages)

    async def backlog(self) -> int:
        return int(await self.collection.count_documents({"sent": False}))

    async def backlog_status(self) -> Backlog:
        unsent = await self.backlog()
        if not unsent:
            return Backlog(0, 0.0)
        # The first unsent document in write order, read off the (sent, _id) index.
        first = await self.collection.find_one(
            {"sent": False}, {"created_at": 1}, sort=[("_id", ASCENDING)]
        )
        if first is None:  # sent between the two reads
            return Backlog(0, 0.0)
        created: datetime = first["created_at"]
        if created.tzinfo is None:  # a client without tz_aware returns naive UTC
            created = created.replace(tzinfo=UTC)
        age = (self._clock() - created).total_seconds()
        return Backlog(unsent, max(0.0, age))

    async def wait_for_work(self, max_wait: float) -> None:
        # A short poll on the (sent, _id) index: cheap, and works on any MongoDB-protocol server.
        await asyncio.sleep(max_wait)

    async def purge_sent(self, older_than_seconds: float) -> int:
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_seconds)
        result = await self.collection.delete_many({"sent": True, "sent_at": {"$lt": cutoff}})
        return int(result.deleted_count)


class _Duplicate(Exception):
    pass


class MongoInbox:
    """Runs a handler and the inbox insert in one MongoDB transaction.

    The inbox document's `_id` is `{consumer, event_id}`; a second delivery fails that
    insert, the transaction is abandoned and the handler is not called.
    """

    def __init__(self, db: AsyncDatabase[Document], collection: str = "inbox") -> None:
        self.db = db
        self.collection = db[collection]

    async def process(self, consumer: str, event: CloudEvent, handler: Handler) -> bool:
        client = self.db.client
        async with client.start_session() as session:
            try:
                async with await session.start_transaction():
                    try:
                        await self.collection.insert_one(
                            {
                                "_id": {"consumer": consumer, "event_id": event.id},
                                "processed_at": datetime.now(UTC),
                            },
                            session=session,
                        )
                    except DuplicateKeyError as exc:
                        raise _Duplicate from exc
                    await handler(event, session)
            except _Duplicate:
                return False
        return True

    async def seen(self, consumer: str, event_id: str) -> bool:
        found = await self.collection.find_one(
            {"_id": {"consumer": consumer, "event_id": event_id}}
        )
        return found is not None
