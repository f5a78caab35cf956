"""Idempotent Kafka consumer: effect + inbox row in one transaction, commit after.

For each record, in partition order: parse the CloudEvent, run `handler(event, tx)`
through the inbox (which skips events it has already applied), and only when that
transaction has committed move the group's offset past it. A record that keeps
failing is copied to the dead-letter topic with the failure in its headers, and the
partition moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from kopano.events import (
    CloudEvent,
    EventSchemaError,
    EventSchemas,
    InvalidEvent,
    format_time,
    from_kafka_record,
)
from kopano.kafka import KafkaSettings, create_consumer, create_producer, ensure_topics
from kopano.metrics import (
    CONSUMER_DEAD_LETTERED,
    CONSUMER_DUPLICATES,
    CONSUMER_LAG,
    CONSUMER_PROCESSED,
)

__all__ = [
    "DLQ_SUFFIX",
    "Handler",
    "IdempotentConsumer",
    "Inbox",
    "NonRetryableError",
    "dead_letter_topic_for",
    "is_transient_error",
]

log = structlog.get_logger("kopano.consumer")

DLQ_SUFFIX = ".dlq"

Handler = Callable[[CloudEvent, Any], Awaitable[None]]


class Inbox(Protocol):
    """`kopano.outbox.SqlInbox` or `kopano.outbox.MongoInbox`."""

    async def process(self, consumer: str, event: CloudEvent, handler: Handler) -> bool: ...


class NonRetryableError(Exception):
    """Raise from a handler when retrying cannot help: the record goes straight to the DLQ."""


def dead_letter_topic_for(topic: str) -> str:
    return f"{topic}{DLQ_SUFFIX}"


def is_transient_error(exc: BaseException) -> bool:
    """True for failures of the infrastructure rather than of the message.

    Lost connections, timeouts, serialization failures and deadlocks: retried without
    limit (with backoff) and never dead-lettered.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (ConnectionError, TimeoutError)):
            return True
        # Look only at libraries already loaded: an error cannot come from one that is not.
        sa_exc = sys.modules.get("sqlalchemy.exc")
        if sa_exc is not None and isinstance(current, sa_exc.DBAPIError):
            if current.connection_invalidated:
                return True
            code = getattr(current.orig, "sqlstate", None) or getattr(current.orig, "pgcode", None)
            # 08xxx connection exceptions, 40001 serialization failure, 40P01 deadlock,
            # 57P0x server shutting down, 53xxx insufficient resources.
            if code and (code.startswith(("08", "53", "57P")) or code in {"40001", "40P01"}):
                return True
        mongo_errors = sys.modules.get("pymongo.errors")
        if mongo_errors is not None:
            if isinstance(current, mongo_errors.ConnectionFailure):
                return True
            if isinstance(current, mongo_errors.PyMongoError) and current.has_error_label(
                "TransientTransactionError"
            ):
                return True
        current = current.__cause__ or current.__context__
    return False


class IdempotentConsumer:
    """A consumer group member that applies each event's effect exactly once.

    `handler(event, tx)` gets the inbox's transaction (SQL `AsyncConnection`/`AsyncSession`
    or a Mongo session) and must make its changes through it. Failures are retried up to
    `max_attempts` times with exponential backoff; then the record is dead-lettered.
    Infrastructure failures (`is_transient`, e.g. the database is unreachable) are retried
    until they clear and never count against the message.
    """

    def __init__(
        self,
        settings: KafkaSettings | None = None,
        *,
        topics: Sequence[str],
        group_id: str,
        handler: Handler,
        inbox: Inbox,
        dead_letter_topic: str | Callable[[str], str] | None = None,
        max_attempts: int = 5,
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
        schemas: EventSchemas | None = None,
        bootstrap_servers: str | Sequence[str] | None = None,
        enable_idempotence: bool | None = None,
        max_batch: int = 200,
        consumer: AIOKafkaConsumer | None = None,
        producer: AIOKafkaProducer | None = None,
        consumer_options: Mapping[str, Any] | None = None,
        is_transient: Callable[[BaseException], bool] | None = None,
        create_dead_letter_topics: bool = True,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.topics = list(topics)
        self.group_id = group_id
        self.handler = handler
        self.inbox = inbox
        self.max_attempts = max_attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.schemas = schemas
        self.max_batch = max_batch
        self.is_transient = is_transient or is_transient_error
        self.create_dead_letter_topics = create_dead_letter_topics
        self._bootstrap_servers = bootstrap_servers or (
            settings.kafka_bootstrap_servers if settings is not None else None
        )
        if dead_letter_topic is None:
            self._dlq: Callable[[str], str] = dead_letter_topic_for
        elif isinstance(dead_letter_topic, str):
            fixed = dead_letter_topic
            self._dlq = lambda _topic: fixed
        else:
            self._dlq = dead_letter_topic
        # aiokafka clients bind to the running loop when built, so they are made in start():
        # the consumer can be constructed anywhere (e.g. in a synchronous app factory).
        self._consumer = consumer
        self._producer = producer

        def make_consumer() -> AIOKafkaConsumer:
            return create_consumer(
                settings,
                *self.topics,
                group_id=group_id,
                bootstrap_servers=bootstrap_servers,
                max_poll_records=max_batch,
                **dict(consumer_options or {}),
            )

        def make_producer() -> AIOKafkaProducer:
            return create_producer(
                settings,
                bootstrap_servers=bootstrap_servers,
                enable_idempotence=enable_idempotence,
                client_id=f"{group_id}-dlq",
            )

        self._make_consumer = make_consumer
        self._make_producer = make_producer
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        # Partitions this consumer has published a lag for: a partition moved to another
        # member must stop showing this member's last value.
        self._lag_reported: set[TopicPartition] = set()
        self.processed = 0
        self.duplicates = 0
        self.dead_lettered = 0

    @property
    def consumer(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            self._consumer = self._make_consumer()
        return self._consumer

    @property
    def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            self._producer = self._make_producer()
        return self._producer

    @property
    def running(self) -> bool:
        """True while the consume loop is alive (for readiness checks)."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self._task is not None:
            return
        if self.create_dead_letter_topics and self._bootstrap_servers is not None:
            dead_letter_topics = sorted({self._dlq(topic) for topic in self.topics})
            try:
                # A DLQ that cannot be written would stall its partition: create it up front.
                await ensure_topics(self._bootstrap_servers, dead_letter_topics, partitions=1)
            except Exception:
                log.warning("could not create dead-letter topics", topics=dead_letter_topics)
        await self.producer.start()
        await self.consumer.start()
        self._stopping.clear()
        self._task = asyncio.create_task(self.run(), name=f"consumer:{self.group_id}")

    async def stop(self, grace: float = 10.0) -> None:
        """Finish the record in progress, commit what is done, leave the group."""
        task, self._task = self._task, None
        self._stopping.set()
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), grace)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.consumer.stop()
        await self.producer.stop()
        # Once it has left the group its partitions are someone else's to report.
        self._forget_lag(set(self._lag_reported))

    async def run(self) -> None:
        while not self._stopping.is_set():
            batches: dict[TopicPartition, list[ConsumerRecord]] = {}
            progress: dict[TopicPartition, int] = {}  # next offset to handle, per partition
            try:
                batches = await self.consumer.getmany(timeout_ms=500, max_records=self.max_batch)
                for tp, records in batches.items():
                    await self._consume_partition(tp, records, progress)
                    if self._stopping.is_set():
                        break
                await self._update_lag()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("consumer loop error", group=self.group_id)
                # The fetch position is already past this batch: go back to the first record
                # not settled, or it would be skipped until the next restart.
                self._rewind(batches, progress)
                await self._sleep(1.0)

    def _rewind(
        self,
        batches: dict[TopicPartition, list[ConsumerRecord]],
        progress: dict[TopicPartition, int],
    ) -> None:
        assigned = self.consumer.assignment()
        for tp, records in batches.items():
            if not records or tp not in assigned:
                continue  # reassigned: the new owner starts from the committed offset
            resume = progress.get(tp, records[0].offset)
            if resume <= records[-1].offset:
                self.consumer.seek(tp, resume)

    async def _consume_partition(
        self,
        tp: TopicPartition,
        records: list[ConsumerRecord],
        progress: dict[TopicPartition, int],
    ) -> None:
        done: int | None = None
        try:
            for record in records:
                if self._stopping.is_set():
                    break
                if not await self._handle(record):
                    break  # stopping during a retry: leave it for redelivery
                done = record.offset
                progress[tp] = done + 1
        finally:
            if done is not None:
                await self._commit(tp, done + 1)

    async def _commit(self, tp: TopicPartition, offset: int) -> None:
        try:
            await self.consumer.commit({tp: offset})
        except CommitFailedError:
            # The partition was reassigned; its new owner gets the records again and the
            # inbox makes that harmless.
            log.warning("offset commit failed after rebalance", group=self.group_id, tp=str(tp))

    async def _handle(self, record: ConsumerRecord) -> bool:
        """Process one record; True once it is settled (applied, duplicate or dead-lettered)."""
        topic = record.topic
        try:
            event = from_kafka_record(record.key, record.value, record.headers or ())
            if self.schemas is not None:
                self.schemas.validate(event)
        except (InvalidEvent, EventSchemaError) as exc:
            await self._dead_letter(record, exc, attempts=1)
            return True
        attempt = 0  # failures charged to the message
        outage = 0  # consecutive infrastructure failures (not the message's fault)
        while True:
            try:
                applied = await self.inbox.process(self.group_id, event, self.handler)
            except asyncio.CancelledError:
                raise
            except NonRetryableError as exc:
                await self._dead_letter(record, exc, attempts=attempt + 1)
                return True
            except Exception as exc:
                if self.is_transient(exc):
                    # The database or network is down: every message would fail the same
                    # way, so wait for it instead of dead-lettering good events.
                    outage += 1
                    delay = min(self.backoff_max, self.backoff_initial * 2 ** min(outage, 10))
                else:
                    attempt += 1
                    outage = 0
                    if attempt >= self.max_attempts:
                        await self._dead_letter(record, exc, attempts=attempt)
                        return True
                    delay = min(self.backoff_max, self.backoff_initial * 2 ** (attempt - 1))
                log.warning(
                    "event handler failed, retrying",
                    group=self.group_id,
                    topic=topic,
                    event_id=event.id,
                    attempt=attempt,
                    transient=outage > 0,
                    retry_in=delay,
                    error=repr(exc),
                )
                if await self._sleep(delay):
                    return False
                continue
            if applied:
                self.processed += 1
                CONSUMER_PROCESSED.labels(group=self.group_id, topic=topic).inc()
            else:
                self.duplicates += 1
                CONSUMER_DUPLICATES.labels(group=self.group_id, topic=topic).inc()
            return True

    async def _dead_letter(self, record: ConsumerRecord, exc: BaseException, attempts: int) -> None:
        dlq = self._dlq(record.topic)
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        headers = [
            *(record.headers or ()),
            ("kopano_dlq_error", detail[:2000].encode()),
            ("kopano_dlq_error_type", f"{type(exc).__module__}.{type(exc).__qualname__}".encode()),
            ("kopano_dlq_attempts", str(attempts).encode()),
            ("kopano_dlq_original_topic", record.topic.encode()),
            ("kopano_dlq_original_partition", str(record.partition).encode()),
            ("kopano_dlq_original_offset", str(record.offset).encode()),
            ("kopano_dlq_consumer_group", self.group_id.encode()),
            ("kopano_dlq_failed_at", format_time(datetime.now(UTC)).encode()),
        ]
        failures = 0
        while True:
            # The record's offset must not be committed before its copy is safely on the DLQ.
            try:
                future = await self.producer.send(
                    dlq, record.value, key=record.key, headers=headers
                )
                await future
                break
            except KafkaError:
                failures += 1
                log.exception("dead-letter publish failed", dlq=dlq, attempt=failures)
                await asyncio.sleep(min(30.0, 0.5 * 2 ** min(failures, 6)))
        self.dead_lettered += 1
        CONSUMER_DEAD_LETTERED.labels(group=self.group_id, topic=record.topic).inc()
        log.error(
            "message dead-lettered",
            group=self.group_id,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            dlq=dlq,
            attempts=attempts,
            error=detail[:500],
        )

    async def _update_lag(self) -> None:
        assigned = set(self.consumer.assignment())
        self._forget_lag(self._lag_reported - assigned)
        for tp in assigned:
            highwater = self.consumer.highwater(tp)
            if highwater is None:
                continue
            position = await self.consumer.position(tp)
            CONSUMER_LAG.labels(
                group=self.group_id, topic=tp.topic, partition=str(tp.partition)
            ).set(max(0, highwater - position))
            self._lag_reported.add(tp)

    def _forget_lag(self, partitions: set[TopicPartition]) -> None:
        for tp in partitions:
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(self.group_id, tp.topic, str(tp.partition))
            self._lag_reported.discard(tp)

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopping; True if `stop()` interrupted it."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return self._stopping.is_set()
