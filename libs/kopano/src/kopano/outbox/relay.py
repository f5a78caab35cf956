"""The outbox relay: drains an outbox store into Kafka.

Runs inside a service (`start()` / `stop()`, an asyncio task) or alone
(`python -m kopano.outbox.relay --help`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

import structlog
from aiokafka import AIOKafkaProducer

from kopano.metrics import OUTBOX_BACKLOG, OUTBOX_PUBLISH_FAILURES, OUTBOX_PUBLISHED
from kopano.outbox.base import OutboxMessage, OutboxStore

__all__ = ["OutboxRelay"]

log = structlog.get_logger("kopano.outbox.relay")


class OutboxRelay:
    """Publishes unsent outbox rows in write order and marks them sent once acknowledged.

    Each batch's sends are queued in order on one producer (aiokafka keeps at most one
    request in flight per partition, so per-key order holds) and their futures gathered,
    so a batch costs a few broker round trips, not one per event.
    """

    def __init__(
        self,
        store: OutboxStore,
        producer: AIOKafkaProducer,
        batch_size: int = 500,
        poll_interval: float = 0.05,
        *,
        service_name: str = "kopano",
        manage_producer: bool = True,
        backlog_interval: float = 5.0,
        retention_seconds: float | None = 7 * 24 * 3600,
        purge_interval: float = 600.0,
    ) -> None:
        self.store = store
        self.producer = producer
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.service_name = service_name
        self.manage_producer = manage_producer
        self.backlog_interval = backlog_interval
        self.retention_seconds = retention_seconds
        self.purge_interval = purge_interval
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._backlog_gauge = OUTBOX_BACKLOG.labels(service=service_name)
        self.published = 0  # acknowledged messages since start (handy for scripts and tests)

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
                if handled < self.batch_size and now >= next_backlog:
                    self._backlog_gauge.set(await self.store.backlog())
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
            await self._wait(self.poll_interval if handled >= 0 else max(self.poll_interval, 1.0))

    async def run_until_empty(self) -> int:
        """Publish until nothing is left (for scripts and tests); returns messages sent."""
        total = 0
        while True:
            handled = await self.store.relay_batch(self._publish, self.batch_size)
            if handled <= 0:
                return total
            total += handled

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
        futures: list[asyncio.Future[object] | BaseException] = []
        for message in messages:
            try:
                futures.append(
                    await self.producer.send(
                        message.topic, message.value, key=message.key, headers=message.headers
                    )
                )
            except Exception as exc:  # e.g. a record too large: that row alone fails
                futures.append(exc)
        pending = [f for f in futures if isinstance(f, asyncio.Future)]
        await asyncio.gather(*pending, return_exceptions=True)
        acked: list[bool] = []
        for message, fut in zip(messages, futures, strict=True):
            ok = isinstance(fut, asyncio.Future) and fut.exception() is None
            acked.append(ok)
            if ok:
                OUTBOX_PUBLISHED.labels(service=self.service_name, topic=message.topic).inc()
            else:
                OUTBOX_PUBLISH_FAILURES.labels(service=self.service_name, topic=message.topic).inc()
                error = fut if isinstance(fut, BaseException) else fut.exception()
                log.warning(
                    "outbox publish not acknowledged",
                    topic=message.topic,
                    outbox_id=str(message.id),
                    error=repr(error),
                )
        self.published += sum(acked)
        return acked


if __name__ == "__main__":  # `python -m kopano.outbox.relay` as the kit README documents
    from kopano.outbox.runner import main

    main()
