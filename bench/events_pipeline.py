"""Event pipeline benchmark: commit → outbox → relay → Kafka → plain consumer.

    .tools/bin/uv run --no-sync python bench/events_pipeline.py [--events 20000] [--rate 2500]

Starts an embedded PostgreSQL and tansu broker on free ports unless `DATABASE_URL`
(a server URL; the script creates and drops its own database) and
`KAFKA_BOOTSTRAP_SERVERS` are set. By default the writer and the relay share one process
(as in a service); `--relay alone` runs `python -m kopano.outbox` as its own process
instead. The consumer is a separate process with a plain aiokafka consumer.

Two runs:
1. throughput — N events committed as fast as the writers can, in transactions of
   `--events-per-tx`; reports events/s from the first commit to the last event consumed.
2. latency — a fixed offered rate (default 2,500 events/s) for `--seconds`; reports the
   achieved rate and p50/p99/max commit-to-consume latency per event.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import signal
import statistics
import sys
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from multiprocessing.queues import Queue
from typing import Any

import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from kopano.events import CloudEvent
from kopano.kafka import create_producer, ensure_topics
from kopano.outbox import OutboxRelay, SqlOutboxStore, add_many_to_outbox, outbox_table

metadata = MetaData()
outbox = outbox_table(metadata)


# --------------------------------------------------------------------------- consumer process
def consume(bootstrap: str, topic: str, expected: int, out: Queue[Any]) -> None:
    asyncio.run(_consume(bootstrap, topic, expected, out))


async def _consume(bootstrap: str, topic: str, expected: int, out: Queue[Any]) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        fetch_max_wait_ms=5,  # answer quickly when little is waiting: latency matters here
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    received: dict[str, float] = {}
    try:
        await consumer.topics()
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        out.put(("ready", len(tps)))
        deadline = time.monotonic() + 600
        while len(received) < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=100, max_records=5000)
            now = time.time()
            for records in batches.values():
                for record in records:
                    for name, value in record.headers:
                        if name == "ce_id":
                            received.setdefault(value.decode(), now)
                            break
    finally:
        await consumer.stop()
        out.put(("done", received))


# --------------------------------------------------------------------------- writer side
@dataclass
class RunResult:
    committed: dict[str, float]  # event id -> wall time its COMMIT was sent
    commit_started: float
    commit_finished: float


def _events(topic: str, count: int, keys: int) -> list[tuple[CloudEvent, str]]:
    return [
        (
            CloudEvent.new(
                "bench.happened",
                "/kopano/bench",
                f"agg-{uuid.uuid4().int % keys}",
                {"amount": 1234, "currency": "LSL", "note": "x" * 64},
            ),
            topic,
        )
        for _ in range(count)
    ]


async def _commit(
    engine: AsyncEngine, batch: list[tuple[CloudEvent, str]], out: dict[str, float]
) -> None:
    async with engine.begin() as conn:
        await add_many_to_outbox(conn, batch, table=outbox)
        # Taken as the COMMIT is sent: latency includes the commit itself (an upper bound),
        # and a writer resumed late by a busy CPU cannot make it look shorter.
        sent = time.time()
    for event, _ in batch:
        out[event.id] = sent


async def run_throughput(
    engine: AsyncEngine, topic: str, total: int, per_tx: int, writers: int
) -> RunResult:
    batches = [_events(topic, per_tx, 1000) for _ in range(total // per_tx)]
    committed: dict[str, float] = {}
    queue: asyncio.Queue[list[tuple[CloudEvent, str]]] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)

    async def writer() -> None:
        while not queue.empty():
            await _commit(engine, queue.get_nowait(), committed)

    started = time.time()
    await asyncio.gather(*(writer() for _ in range(writers)))
    return RunResult(committed, started, time.time())


async def run_paced(
    engine: AsyncEngine, topic: str, rate: float, seconds: float, per_tx: int, writers: int
) -> RunResult:
    ticks = int(rate * seconds / per_tx)
    interval = per_tx / rate
    batches = [_events(topic, per_tx, 1000) for _ in range(ticks)]
    committed: dict[str, float] = {}
    loop = asyncio.get_running_loop()
    start_at = loop.time() + 0.2

    async def writer(k: int) -> None:
        for i in range(k, ticks, writers):
            delay = start_at + i * interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await _commit(engine, batches[i], committed)

    started = time.time() + 0.2
    await asyncio.gather(*(writer(k) for k in range(writers)))
    return RunResult(committed, started, time.time())


def _cpu_seconds(pid: int, *, tree: bool) -> dict[int, float]:
    """CPU seconds (user + system) used so far by a process (and its descendants)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)] if tree else [root]
    except psutil.NoSuchProcess:
        return {}
    used: dict[int, float] = {}
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            times = proc.cpu_times()
            used[proc.pid] = times.user + times.system
    return used


class CpuMeter:
    """CPU used by each part of the pipeline between `start()` and `stop()`."""

    def __init__(self, parts: dict[str, tuple[int, bool]]) -> None:
        self.parts = parts
        self._before: dict[str, dict[int, float]] = {}

    def start(self) -> None:
        self._before = {name: _cpu_seconds(pid, tree=t) for name, (pid, t) in self.parts.items()}

    def stop(self) -> dict[str, float]:
        used: dict[str, float] = {}
        for name, (pid, tree) in self.parts.items():
            after = _cpu_seconds(pid, tree=tree)
            before = self._before.get(name, {})
            used[name] = sum(t - before.get(p, 0.0) for p, t in after.items())
        return used


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


async def phase(
    name: str,
    engine: AsyncEngine,
    bootstrap: str,
    topic: str,
    expected: int,
    run: Any,
    servers: dict[str, tuple[int, bool]],
    cpu: dict[str, float],
) -> tuple[RunResult, dict[str, float]]:
    ctx = mp.get_context("spawn")
    out: Queue[Any] = ctx.Queue()
    proc = ctx.Process(target=consume, args=(bootstrap, topic, expected, out), daemon=True)
    proc.start()
    kind, _ = await asyncio.to_thread(out.get, True, 120)
    assert kind == "ready"
    assert proc.pid is not None
    meter = CpuMeter({**servers, "consumer": (proc.pid, False)})
    meter.start()
    result: RunResult = await run()
    kind, received = await asyncio.to_thread(out.get, True, 600)
    cpu.update(meter.stop())
    assert kind == "done"
    proc.join(10)
    missing = len(result.committed) - len(set(result.committed) & set(received))
    if missing:
        print(f"[{name}] WARNING: {missing} committed events never reached the consumer")
    return result, received


def _report_latency(result: RunResult, received: dict[str, float]) -> dict[str, float]:
    latencies = [
        (received[eid] - ts) * 1000 for eid, ts in result.committed.items() if eid in received
    ]
    return {
        "p50": statistics.median(latencies),
        "p99": _percentile(latencies, 99),
        "max": max(latencies),
    }


async def main_async(
    args: argparse.Namespace,
    database_url: str,
    bootstrap: str,
    servers: dict[str, tuple[int, bool]],
) -> None:
    cpu: dict[str, float] = {}
    engine = create_async_engine(
        database_url, pool_size=max(args.writers, args.latency_writers) + 4, max_overflow=0
    )
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    run_id = uuid.uuid4().hex[:8]
    topics = {p: f"bench.events.{p}.{run_id}" for p in ("warmup", "throughput", "latency")}
    await ensure_topics(
        bootstrap, [topics["warmup"], topics["throughput"]], partitions=args.partitions
    )
    relay: OutboxRelay | None = None
    relay_proc: asyncio.subprocess.Process | None = None
    if args.relay == "inline":
        producer = create_producer(
            bootstrap_servers=bootstrap,
            enable_idempotence=args.enable_idempotence,
            client_id="bench-relay",
            linger_ms=args.linger_ms,
        )
        relay = OutboxRelay(
            SqlOutboxStore(engine, outbox),
            producer,
            batch_size=args.batch_size,
            poll_interval=args.poll_interval,
            service_name="bench",
        )
        await relay.start()
        servers["writer+relay"] = (os.getpid(), False)
    else:
        relay_proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "kopano.outbox",
            "--database-url",
            database_url,
            "--bootstrap-servers",
            bootstrap,
            "--enable-idempotence" if args.enable_idempotence else "--no-enable-idempotence",
            "--batch-size",
            str(args.batch_size),
            "--poll-interval",
            str(args.poll_interval),
            stdout=asyncio.subprocess.DEVNULL,
        )
        servers["writer"] = (os.getpid(), False)
        servers["relay"] = (relay_proc.pid, False)
    try:
        # Warm-up: connections, prepared statements, metadata.
        await phase(
            "warmup",
            engine,
            bootstrap,
            topics["warmup"],
            1000,
            lambda: run_throughput(
                engine, topics["warmup"], 1000, args.events_per_tx, args.writers
            ),
            servers,
            {},
        )

        result, received = await phase(
            "throughput",
            engine,
            bootstrap,
            topics["throughput"],
            args.events,
            lambda: run_throughput(
                engine, topics["throughput"], args.events, args.events_per_tx, args.writers
            ),
            servers,
            cpu,
        )
        n = len(result.committed)
        last = max(received.values())
        commit_rate = n / (result.commit_finished - result.commit_started)
        e2e_rate = len(received) / (last - result.commit_started)
        lat = _report_latency(result, received)
        print(
            f"throughput: {n} events in tx of {args.events_per_tx} by {args.writers} writers, "
            f"{args.partitions} partitions"
        )
        print(f"  commit rate            {commit_rate:10.0f} events/s")
        print(f"  commit -> consume      {e2e_rate:10.0f} events/s (first commit to last consumed)")
        print(
            f"  latency under backlog  p50 {lat['p50']:.1f} ms  p99 {lat['p99']:.1f} ms"
            f"  max {lat['max']:.1f} ms"
        )

        total_cpu = sum(cpu.values())
        parts = "  ".join(f"{name} {1e6 * used / n:.0f} ms" for name, used in cpu.items())
        print(f"  CPU per 1000 events    {parts}  (total {1e6 * total_cpu / n:.0f} ms)")
        if {"postgresql", "tansu"} <= set(cpu):
            print(
                f"  => CPU-bound capacity on 2 idle cores ~ {2 * n / total_cpu:.0f} events/s "
                "(estimate from the CPU used above)"
            )

        for rate in args.rate:
            topic = f"{topics['latency']}.{rate:.0f}"
            await ensure_topics(bootstrap, [topic], partitions=args.partitions)
            per_tx = args.latency_events_per_tx
            expected = int(rate * args.seconds / per_tx) * per_tx
            result, received = await phase(
                "latency",
                engine,
                bootstrap,
                topic,
                expected,
                lambda rate=rate, topic=topic, per_tx=per_tx: run_paced(
                    engine, topic, rate, args.seconds, per_tx, args.latency_writers
                ),
                servers,
                {},
            )
            achieved = len(result.committed) / (result.commit_finished - result.commit_started)
            lat = _report_latency(result, received)
            print(
                f"latency: offered {rate:.0f} events/s for {args.seconds:.0f} s "
                f"(tx of {per_tx}), achieved {achieved:.0f} events/s"
            )
            print(
                f"  commit -> consume      p50 {lat['p50']:.1f} ms  p99 {lat['p99']:.1f} ms"
                f"  max {lat['max']:.1f} ms"
            )
    finally:
        if relay is not None:
            await relay.stop()
        if relay_proc is not None:
            relay_proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(relay_proc.wait(), 30)
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--events-per-tx", type=int, default=50)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument(
        "--rate",
        type=lambda v: [float(r) for r in v.split(",")],
        default=[2500.0],
        help="offered rate(s) for the latency run, e.g. 2500,500",
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--latency-events-per-tx", type=int, default=5)
    parser.add_argument(
        "--latency-writers",
        type=int,
        default=32,
        help="concurrent use cases in the latency run (commits share WAL flushes)",
    )
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--poll-interval", type=float, default=0.1)
    parser.add_argument("--linger-ms", type=int, default=2)
    parser.add_argument(
        "--relay",
        choices=("inline", "alone"),
        default="inline",
        help="relay inside the writer process (as in a service) or as its own process",
    )
    args = parser.parse_args()
    args.enable_idempotence = os.environ.get("KAFKA_ENABLE_IDEMPOTENCE", "").lower() in {
        "1",
        "true",
        "yes",
        "on",
    }

    with ExitStack() as stack:
        servers: dict[str, tuple[int, bool]] = {}  # embedded servers whose CPU we can meter
        server_url = os.environ.get("DATABASE_URL")
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        from kopano.devstack import pg
        from kopano.devstack._process import free_port
        from kopano.devstack.embedded import (
            EmbeddedKafka,
            EmbeddedPostgres,
            make_temp_dir,
            remove_dir,
        )

        if not server_url:
            tmp = make_temp_dir("kopano-bench-")
            stack.callback(remove_dir, tmp)
            postgres = EmbeddedPostgres(tmp / "pg", free_port(), durable=True)
            postgres.start()
            stack.callback(postgres.stop)
            server_url = postgres.url
            assert postgres.pid is not None
            servers["postgresql"] = (postgres.pid, True)
            print(f"embedded PostgreSQL on {server_url}")
        if not bootstrap:
            kafka = EmbeddedKafka(free_port())
            kafka.start()
            stack.callback(kafka.stop)
            bootstrap = kafka.bootstrap_servers
            assert kafka.pid is not None
            servers["tansu"] = (kafka.pid, True)
            print(f"embedded tansu broker on {bootstrap}")
        name = f"bench_events_{uuid.uuid4().hex[:8]}"
        database_url = pg.ensure_database(server_url, name)
        stack.callback(lambda: pg.run_sync(pg.drop_database(server_url, name)))
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"cpus: {os.cpu_count()}  load average: {load}  python {sys.version.split()[0]}")
        asyncio.run(main_async(args, database_url, bootstrap, servers))


if __name__ == "__main__":
    main()
