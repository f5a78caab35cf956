"""Transactional outbox (SQL and Mongo), inbox and the relay that drains the outbox.

SQL: `outbox_table(metadata)`, `inbox_table(metadata)`, `add_to_outbox(session, event, topic)`,
`SqlOutboxStore(engine)`, `SqlInbox(engine)`.
Mongo: `MongoOutbox(db).add(event, topic, session=s)`, `MongoOutboxStore(db)`, `MongoInbox(db)`.
Relay: `OutboxRelay(store, producer, batch_size, poll_interval)`.
"""

from kopano.outbox.base import OutboxMessage, OutboxStore
from kopano.outbox.mongo import MongoInbox, MongoOutbox, MongoOutboxStore
from kopano.outbox.relay import OutboxRelay
from kopano.outbox.sql import (
    SqlInbox,
    SqlOutboxStore,
    add_many_to_outbox,
    add_to_outbox,
    inbox_table,
    outbox_table,
)

__all__ = [
    "MongoInbox",
    "MongoOutbox",
    "MongoOutboxStore",
    "OutboxMessage",
    "OutboxRelay",
    "OutboxStore",
    "SqlInbox",
    "SqlOutboxStore",
    "add_many_to_outbox",
    "add_to_outbox",
    "inbox_table",
    "outbox_table",
]
