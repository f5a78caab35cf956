"""Built-in closed-loop HTTP load generator (used when ``wrk`` is not installed).

Each of ``-c`` keep-alive connections POSTs the same GraphQL body again as soon as the previous
response has arrived (like wrk and k6's constant VUs). Every response is checked: status 200, no
``"errors"`` key, and the same length as the first response that deep-equalled the oracle; the first
response on every connection is parsed and compared with the oracle. ``--workers`` splits the
connections across processes when one Python process cannot keep up.

    python -m bench.loadgen URL --body-file F [--oracle F] [-c 50] [-d 20] [--workers 1]

Prints one JSON line with RPS, latency percentiles (ms) and the check counters.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import multiprocessing.connection
import socket
import sys
import time
from array import array
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httptools
import orjson
import uvloop

ERRORS_MARKER = b'"errors"'


@dataclass
class Checks:
    checked: int = 0
    non200: int = 0
    with_errors: int = 0
    len_mismatch: int = 0
    deep_checked: int = 0
    deep_mismatch: int = 0
    connect_errors: int = 0
    read_errors: int = 0
    timeouts: int = 0
    unanswered: int = 0  # connections that never got their one answer (verify mode)
    sample: str | None = None

    def failures(self) -> int:
        return (
            self.non200
            + self.with_errors
            + self.len_mismatch
            + self.deep_mismatch
            + self.connect_errors
            + self.read_errors
            + self.timeouts
            + self.unanswered
        )

    def merge(self, other: Checks) -> None:
        for name in self.__dataclass_fields__:
            if name != "sample":
                setattr(self, name, getattr(self, name) + getattr(other, name))
        self.sample = self.sample or other.sample


@dataclass
class Target:
    host: str
    port: int
    request: bytes
    oracle: Any  # parsed oracle response, or None to skip the deep check


def build_target(url: str, body: bytes, oracle: Any) -> Target:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    path = parts.path or "/"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return Target(host, port, head.encode() + body, oracle)


@dataclass
class _Shared:
    target: Target
    checks: Checks
    latencies: array[float]
    expected_len: int = -1
    running: bool = True
    record: bool = True
    per_connection_limit: int = 0  # >0: stop each connection after this many responses
    done: asyncio.Future[None] | None = None
    open_connections: int = 0
    timeout_ns: int = 10_000_000_000


class _Connection(asyncio.Protocol):
    """One keep-alive connection: send, parse the response with httptools, check, repeat."""

    def __init__(self, shared: _Shared) -> None:
        self.s = shared
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.body: list[bytes] = []
        self.sent_at = 0
        self.responses = 0
        self.deep_checked = False
        self.closed = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's own transport class
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._send()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.s.checks.read_errors += 1
            self._close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            self.closed = True
            if self.s.running:
                self.s.checks.read_errors += 1
            self._finish()

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        elapsed = time.perf_counter_ns() - self.sent_at
        body = b"".join(self.body)
        self.body = []
        self.responses += 1
        s = self.s
        if s.record:
            s.latencies.append(elapsed / 1e6)
            if elapsed > s.timeout_ns:
                s.checks.timeouts += 1
            self._check(self.parser.get_status_code(), body)
        if not self.parser.should_keep_alive():
            self._close()
            return
        if s.running and (not s.per_connection_limit or self.responses < s.per_connection_limit):
            self._send()
        else:
            self._close()

    def _check(self, status: int, body: bytes) -> None:
        c = self.s.checks
        c.checked += 1
        ok = True
        if status != 200:
            c.non200 += 1
            ok = False
        if ERRORS_MARKER in body:
            c.with_errors += 1
            ok = False
        if not self.deep_checked and self.s.target.oracle is not None:
            self.deep_checked = True
            c.deep_checked += 1
            try:
                equal = orjson.loads(body) == self.s.target.oracle
            except orjson.JSONDecodeError:
                equal = False
            if not equal:
                c.deep_mismatch += 1
                ok = False
            elif self.s.expected_len < 0:
                self.s.expected_len = len(body)
        if self.s.expected_len >= 0 and len(body) != self.s.expected_len:
            c.len_mismatch += 1
            ok = False
        if not ok and c.sample is None:
            c.sample = f"status {status}: {body[:300]!r}"

    def _send(self) -> None:
        assert self.transport is not None
        self.sent_at = time.perf_counter_ns()
        self.transport.write(self.s.target.request)

    def _close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()
            self._finish()

    def _finish(self) -> None:
        self.s.open_connections -= 1
        if self.s.open_connections == 0 and self.s.done is not None and not self.s.done.done():
            self.s.done.set_result(None)


async def _run(
    target: Target,
    connections: int,
    duration: float,
    request_timeout: float,
    per_connection_limit: int = 0,
) -> tuple[Checks, array[float], float]:
    loop = asyncio.get_running_loop()
    shared = _Shared(
        target,
        Checks(),
        array("d"),
        per_connection_limit=per_connection_limit,
        timeout_ns=int(request_timeout * 1e9),
    )
    shared.done = loop.create_future()
    # counted up front: connections that finish while later ones are still being opened must
    # not end the run early
    shared.open_connections = connections
    protocols: list[_Connection] = []
    started = time.perf_counter()
    for _ in range(connections):
        try:
            _, proto = await loop.create_connection(
                lambda: _Connection(shared), target.host, target.port
            )
        except OSError:
            shared.checks.connect_errors += 1
            shared.open_connections -= 1
            continue
        protocols.append(proto)
    if shared.open_connections == 0 and not shared.done.done():
        shared.done.set_result(None)
    remaining = duration - (time.perf_counter() - started)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(shared.done), max(0.0, remaining))
    shared.running = False
    elapsed = time.perf_counter() - started
    shared.record = False  # responses still in flight arrive after the window: not counted
    now = time.perf_counter_ns()
    for proto in protocols:
        if not proto.closed:
            if per_connection_limit and proto.responses < per_connection_limit:
                shared.checks.unanswered += 1
            elif (now - proto.sent_at) / 1e9 > request_timeout:
                shared.checks.timeouts += 1
            proto._close()
    return shared.checks, shared.latencies, elapsed


def _worker(
    target: Target,
    connections: int,
    duration: float,
    timeout: float,
    conn: multiprocessing.connection.Connection,
) -> None:
    checks, latencies, elapsed = uvloop.run(_run(target, connections, duration, timeout))
    conn.send((checks, latencies.tobytes(), elapsed))
    conn.close()


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


@dataclass
class LoadResult:
    requests: int
    duration_s: float
    checks: Checks
    latencies_ms: list[float] = field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        n = len(lat)
        return {
            "tool": "python",
            "requests": self.requests,
            "duration_s": round(self.duration_s, 3),
            "rps": round(self.requests / self.duration_s, 2) if self.duration_s else 0.0,
            "lat_ms": {
                "mean": round(sum(lat) / n, 3) if n else 0.0,
                **{
                    name: round(percentile(lat, p), 3)
                    for name, p in (
                        ("p50", 50),
                        ("p90", 90),
                        ("p95", 95),
                        ("p99", 99),
                        ("p99_9", 99.9),
                    )
                },
                "max": round(lat[-1], 3) if n else 0.0,
            },
            "checks": {k: v for k, v in vars(self.checks).items() if k != "sample"},
            "failures": self.checks.failures(),
            "sample": self.checks.sample,
        }


def run_load(
    url: str,
    body: bytes,
    *,
    oracle: Any = None,
    connections: int = 50,
    duration: float = 20.0,
    workers: int = 1,
    timeout: float = 10.0,
) -> LoadResult:
    """Drive ``url`` for ``duration`` seconds with ``connections`` connections split over processes."""
    target = build_target(url, body, oracle)
    if workers <= 1:
        checks, lat, elapsed = uvloop.run(_run(target, connections, duration, timeout))
        return LoadResult(len(lat), elapsed, checks, lat.tolist())
    ctx = multiprocessing.get_context("fork")
    procs = []
    pipes = []
    for i in range(workers):
        share = connections // workers + (1 if i < connections % workers else 0)
        parent, child = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_worker, args=(target, share, duration, timeout, child), daemon=True)
        p.start()
        procs.append(p)
        pipes.append(parent)
    checks = Checks()
    latencies: list[float] = []
    elapsed_max = 0.0
    for parent in pipes:
        part_checks, raw, elapsed = parent.recv()
        checks.merge(part_checks)
        part: array[float] = array("d")
        part.frombytes(raw)
        latencies.extend(part)
        elapsed_max = max(elapsed_max, elapsed)
    for p in procs:
        p.join()
    return LoadResult(len(latencies), elapsed_max, checks, latencies)


def verify(url: str, body: bytes, oracle: Any, *, connections: int = 50) -> dict[str, Any]:
    """Deep-compare one response per fresh connection with the oracle (a correctness sample)."""
    target = build_target(url, body, oracle)
    # a slow but correct answer is not a failure here: only the deep comparison matters
    checks, latencies, _ = uvloop.run(_run(target, connections, 30.0, 30.0, per_connection_limit=1))
    return {
        "checked": checks.deep_checked,
        "bad": checks.failures(),
        "sample": checks.sample,
        "responses": len(latencies),
        "checks": {k: v for k, v in vars(checks).items() if k != "sample" and v},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("url")
    ap.add_argument("--body-file", required=True, help="request body (JSON)")
    ap.add_argument("--oracle", help="file with the expected response (JSON)")
    ap.add_argument("-c", "--connections", type=int, default=50)
    ap.add_argument("-d", "--duration", type=float, default=20.0, help="seconds")
    ap.add_argument("--workers", type=int, default=1, help="processes")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    a = ap.parse_args()
    with open(a.body_file, "rb") as f:
        body = f.read()
    oracle = None
    if a.oracle:
        with open(a.oracle, "rb") as f:
            oracle = orjson.loads(f.read())
    res = run_load(
        a.url,
        body,
        oracle=oracle,
        connections=a.connections,
        duration=a.duration,
        workers=a.workers,
        timeout=a.timeout,
    )
    sys.stdout.write(orjson.dumps(res.as_dict()).decode() + "\n")


if __name__ == "__main__":
    main()
