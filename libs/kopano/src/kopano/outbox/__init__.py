"""Transactional outbox (SQL and Mongo), inbox and the relay that drains the outbox.

SQL: `outbox_table(metadata)`, `inbox_table(metadata)`, `add_to_outbox(session, event, topic)`,
`SqlOutboxStore(engine)`, `SqlInbox(engine)`.
Mongo: `MongoOutbox(db).add(event, topic, session=s)`, `MongoOutboxStore(db)`, `MongoInbox(db)`.
Relay: `OutboxRelay(store, producer, batch_size, poll_interval)`; standalone:
`python -m kopano.outbox` (or `python -m kopano.outbox.relay`).

Names are imported lazily so `python -m kopano.outbox.relay` does not import the relay
module twice, and a SQL-only service never imports PyMongo (and vice versa).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_EXPORTS = {
    "OutboxMessage": "base",
    "OutboxStore": "base",
    "MongoInbox": "mongo",
    "MongoOutbox": "mongo",
    "MongoOutboxStore": "mongo",
    "OutboxRelay": "relay",
    "SqlInbox": "sql",
    "SqlOutboxStore": "sql",
    "add_many_to_outbox": "sql",
    "add_to_outbox": "sql",
    "inbox_table": "sql",
    "outbox_table": "sql",
}

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kopano.outbox' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"kopano.outbox.{module}"), name)
    globals()[name] = value
    return value
