"""The kit's shared Prometheus collectors.

They live in the default registry so `kopano.web`'s `/metrics` endpoint exposes them
without any wiring. Label values are kept low-cardinality: services, groups, topics
and partitions only — never event ids or keys.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

__all__ = [
    "CONSUMER_DEAD_LETTERED",
    "CONSUMER_DUPLICATES",
    "CONSUMER_LAG",
    "CONSUMER_PROCESSED",
    "OUTBOX_BACKLOG",
    "OUTBOX_OLDEST_UNSENT_AGE",
    "OUTBOX_PUBLISHED",
    "OUTBOX_PUBLISH_FAILURES",
]

OUTBOX_BACKLOG = Gauge(
    "outbox_backlog",
    "Outbox rows written but not yet acknowledged by the broker.",
    ["service"],
)
OUTBOX_OLDEST_UNSENT_AGE = Gauge(
    "outbox_oldest_unsent_age_seconds",
    "Seconds since the oldest outbox row not yet acknowledged by the broker was written "
    "(0 when none is waiting).",
    ["service"],
)
OUTBOX_PUBLISHED = Counter(
    "outbox_published",
    "Outbox rows published and acknowledged by the broker.",
    ["service", "topic"],
)
OUTBOX_PUBLISH_FAILURES = Counter(
    "outbox_publish_failures",
    "Outbox rows the broker did not acknowledge (they are retried).",
    ["service", "topic"],
)
CONSUMER_LAG = Gauge(
    "consumer_lag",
    "Messages between the consumer's position and the partition's high watermark.",
    ["group", "topic", "partition"],
)
CONSUMER_PROCESSED = Counter(
    "consumer_processed",
    "Events whose effect committed.",
    ["group", "topic"],
)
CONSUMER_DUPLICATES = Counter(
    "consumer_duplicates",
    "Redelivered events skipped because the inbox already had them.",
    ["group", "topic"],
)
CONSUMER_DEAD_LETTERED = Counter(
    "consumer_dead_lettered",
    "Messages moved to the dead-letter topic after failing every attempt.",
    ["group", "topic"],
)
