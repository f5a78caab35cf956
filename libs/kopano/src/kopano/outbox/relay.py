"""The outbox relay: drains an outbox store into Kafka.

Runs inside a service (`start()` / `stop()`, an asyncio task) or alone
(`python -m kopano.outbox.relay --help`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from kopano.metrics import (
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_UNSENT_AGE,
    OUTBOX_PUBLISH_FAILURES,
    OUTBOX_PUBLISHED,
)
from kopano.outbox.base import OutboxMessage, OutboxStore

__all__ = ["OutboxRelay"]

log = structlog.get_logger("kopano.outbox.relay")


class OutboxRelay:
    """Publishes unsent outbox rows in write order and marks them sent once acknowledged.

    Each outbox batch becomes one producer batch per partition, built in row order and
    submitted in order (aiokafka keeps at most one request in flight per partition, so
    per-key order holds); their futures are gathered, so a batch costs a few broker
    round trips and a handful of futures, not one per event.
    """

    def __init__(
        self,
        store: OutboxStore,
        producer: AIOKafkaProducer,
        batch_size: int = 500,
        poll_interval: float = 0.1,
        *,
        service_name: str = "kopano",
        manage_producer: bool = True,
        backlog_interval: float = 5.0,
        retention_seconds: float | None = 7 * 24 * 3600,
        purge_interval: float = 600.0,
        busy_poll_interval: float = 0.01,
        busy_window: float = 2.0,
    ) -> None:
        self.store = store
        self.producer = producer
        self.batch_size = batch_size
        # While events keep coming the relay polls every `busy_poll_interval`; after
        # `busy_window` seconds without any it relaxes to `poll_interval`. Low latency
        # under load, a handful of cheap queries per second when idle.
        self.poll_interval = poll_interval
        self.busy_poll_interval = min(busy_poll_interval, poll_interval)
        self.busy_window = busy_window
        self._last_work = float("-inf")
        self.service_name = service_name
        self.manage_producer = manage_producer
        self.backlog_interval = backlog_interval
        self.retention_seconds = retention_seconds
        self.purge_interval = purge_interval
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._backlog_gauge = OUTBOX_BACKLOG.labels(service=service_name)
        # When the oldest unsent row was written, on this process's monotonic clock. The
        # gauge computes the age at scrape time, so it keeps growing while the relay cannot
        # reach its database either (no fresh look at the backlog is possible then).
        self._oldest_unsent_since: float | None = None
        OUTBOX_OLDEST_UNSENT_AGE.labels(service=service_name).set_function(self.oldest_unsent_age)
        self._partitioner = DefaultPartitioner()
        self.published = 0  # acknowledged messages since start (handy for scripts and tests)

    def oldest_unsent_age(self) -> float:
        """Seconds the oldest unsent row has waited, as of the last look at the backlog and
        counted on from there; 0.0 when nothing was waiting."""
        since = self._oldest_unsent_since
        return 0.0 if since is None else max(0.0, time.monotonic() - since)

    async def refresh_backlog(self) -> None:
        """Look at the backlog once (count and oldest row) and update the gauges."""
        status = await self.store.backlog_status()
        self._backlog_gauge.set(status.unsent)
        self._oldest_unsent_since = (
            time.monotonic() - status.oldest_age_seconds if status.unsent else None
        )

    @property
    def running(self) -> bool:
        """True while the relay loop is alive (for readiness checks)."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self._task is not None:
            return
        if self.manage_producer:
            await self.producer.start()
        await self.store.start()
        self._stopping.clear()
        self._task = asyncio.create_task(self.run(), name=f"outbox-relay:{self.store.name}")

    async def stop(self, grace: float = 10.0) -> None:
        """Finish the batch in progress (up to `grace` seconds), then stop."""
        task, self._task = self._task, None
        self._stopping.set()
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), grace)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.store.close()
        if self.manage_producer:
            await self.producer.stop()

    async def run(self) -> None:
        """The relay loop; returns when `stop()` is called."""
        failures = 0
        next_backlog = 0.0
        next_purge = time.monotonic() + self.purge_interval
        while not self._stopping.is_set():
            try:
                handled = await self.store.relay_batch(self._publish, self.batch_size)
                failures = 0
                now = time.monotonic()
                if now >= next_backlog:  # a count on the partial index, every few seconds
                    await self.refresh_backlog()
                    next_backlog = now + self.backlog_interval
                if self.retention_seconds is not None and now >= next_purge:
                    await self.store.purge_sent(self.retention_seconds)
                    next_purge = now + self.purge_interval
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                delay = min(30.0, 0.2 * 2 ** min(failures, 8))
                log.exception("outbox relay batch failed", store=self.store.name, retry_in=delay)
                await self._sleep(delay)
                continue
            if handled >= self.batch_size:
                continue  # a full batch: more is probably waiting
            if handled < 0:  # another instance holds the outbox: stand by
                await self._wait(max(self.poll_interval, 1.0))
                continue
            if handled > 0:
                self._last_work = now
            busy = now - self._last_work < self.busy_window
            await self._wait(self.busy_poll_interval if busy else self.poll_interval)

    async def run_until_empty(self) -> int:
        """Publish until nothing is left or nothing more goes through (for scripts and
        tests); returns how many messages the broker acknowledged."""
        start = self.published
        while True:
            before = self.published
            handled = await self.store.relay_batch(self._publish, self.batch_size)
            if handled <= 0 or self.published == before:
                return self.published - start

    async def _wait(self, max_wait: float) -> None:
        waiter = asyncio.ensure_future(self.store.wait_for_work(max_wait))
        stopper = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in (waiter, stopper):
                if not fut.done():
                    fut.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await fut

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _publish(self, messages: Sequence[OutboxMessage]) -> list[bool]:
        unavailable: set[str] = set()
        acked = await self._publish_batched(messages, unavailable)
        # Topics the broker could not describe fail as a whole: no per-record retry.
        retry = [i for i, ok in enumerate(acked) if not ok and messages[i].topic not in unavailable]
        if retry:
            # One bad record fails its whole producer batch; resend those one by one so
            # only the culprit stays unsent.
            resent = await self._publish_each([messages[i] for i in retry])
            for i, ok in zip(retry, resent, strict=True):
                acked[i] = ok
        sent: Counter[str] = Counter()
        failed: Counter[str] = Counter()
        for message, ok in zip(messages, acked, strict=True):
            (sent if ok else failed)[message.topic] += 1
        for topic, count in sent.items():
            OUTBOX_PUBLISHED.labels(service=self.service_name, topic=topic).inc(count)
        for topic, count in failed.items():
            OUTBOX_PUBLISH_FAILURES.labels(service=self.service_name, topic=topic).inc(count)
        self.published += sum(sent.values())
        return acked

    async def _publish_batched(
        self, messages: Sequence[OutboxMessage], unavailable: set[str]
    ) -> list[bool]:
        """Build producer batches per partition in row order and send them.

        Partitions go in parallel; within a partition the batches go one after the other
        and stop at the first failure, so nothing on a partition overtakes a failed record.
        Normally an outbox batch makes one producer batch per partition.
        """
        producer: Any = self.producer
        partitions: dict[str, list[int]] = {}
        per_partition: dict[tuple[str, int], list[tuple[Any, list[int]]]] = {}
        for index, message in enumerate(messages):
            if message.topic in unavailable:
                continue
            known = partitions.get(message.topic)
            if known is None:
                try:
                    known = partitions[message.topic] = sorted(
                        await producer.partitions_for(message.topic)
                    )
                except Exception as exc:  # e.g. no such topic and no auto-creation
                    log.warning("topic unavailable", topic=message.topic, error=repr(exc))
                    unavailable.add(message.topic)
                    continue
            # The same murmur2 placement as Kafka's default partitioner, so keys land
            # where any other Kafka producer would put them.
            tp = (message.topic, self._partitioner(message.key, known, known))
            batches = per_partition.setdefault(tp, [])
            for _ in range(2):
                if not batches or batches[-1][0] is None:
                    batches.append((producer.create_batch(), []))
                batch, indexes = batches[-1]
                appended = batch.append(
                    timestamp=None, key=message.key, value=message.value, headers=message.headers
                )
                if appended is not None:
                    indexes.append(index)
                    break
                batches.append((None, []))  # full: the next append starts a new batch
        acked = [False] * len(messages)

        async def send_partition(tp: tuple[str, int], batches: list[tuple[Any, list[int]]]) -> None:
            for batch, indexes in batches:
                if batch is None or not indexes:
                    continue
                try:
                    await (await producer.send_batch(batch, tp[0], partition=tp[1]))
                except Exception as exc:
                    log.warning(
                        "producer batch failed", topic=tp[0], partition=tp[1], error=repr(exc)
                    )
                    return
                for index in indexes:
                    acked[index] = True

        await asyncio.gather(*(send_partition(tp, b) for tp, b in per_partition.items()))
        return acked

    async def _publish_each(self, messages: Sequence[OutboxMessage]) -> list[bool]:
        """Send one at a time, in order; after a failure, hold back that key's later events.

        The slow path, only for records whose batch failed: it isolates a bad record and
        never lets a later event of an aggregate overtake an earlier one that failed.
        """
        acked: list[bool] = []
        blocked: set[tuple[str, bytes | None]] = set()
        for message in messages:
            key = (message.topic, message.key)
            if key in blocked:
                acked.append(False)
                continue
            try:
                await (
                    await self.producer.send(
                        message.topic, message.value, key=message.key, headers=message.headers
                    )
                )
            except Exception as exc:
                blocked.add(key)
                acked.append(False)
                log.warning(
                    "outbox publish not acknowledged",
                    topic=message.topic,
                    outbox_id=str(message.id),
                    error=repr(exc),
                )
            else:
                acked.append(True)
        return acked


if __name__ == "__main__":  # `python -m kopano.outbox.relay` as the kit README documents
    from kopano.outbox.runner import main

    main()
