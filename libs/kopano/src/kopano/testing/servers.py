"""Where the test servers come from: an env URL, an embedded server, or testcontainers."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import queue
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from kopano.devstack import pg
from kopano.devstack._process import PortInUseError, free_port
from kopano.devstack.embedded import (
    EmbeddedKafka,
    EmbeddedMongo,
    EmbeddedPostgres,
    EmbeddedServer,
    EmbeddedServerError,
    default_template_dir,
    make_temp_dir,
    remove_dir,
)

S = TypeVar("S", bound=EmbeddedServer)

_TRUTHY = {"1", "true", "yes", "on"}


def use_testcontainers() -> bool:
    return os.environ.get("KOPANO_TESTCONTAINERS", "").strip().lower() in _TRUTHY


@dataclass(frozen=True)
class KafkaServer:
    bootstrap_servers: str
    supports_idempotence: bool


def _start_on_free_port(make: Callable[[int], S], attempts: int = 3) -> S:
    """Start a server on a free port, retrying if another process grabbed it meanwhile."""
    last: Exception | None = None
    for _ in range(attempts):
        server = make(free_port())
        try:
            server.start()
        except (PortInUseError, EmbeddedServerError) as exc:
            last = exc
            continue
        return server
    assert last is not None
    raise last


@contextlib.contextmanager
def postgres_server_url() -> Iterator[str]:
    """Admin URL (asyncpg form) of a PostgreSQL server for the test session."""
    env_url = os.environ.get("TEST_DATABASE_URL")
    if env_url:
        yield pg.plain_url(env_url)
        return
    if use_testcontainers():
        from kopano.testing import containers

        with containers.postgres() as url:
            yield url
        return
    tmp = make_temp_dir("kopano-test-pg-")
    try:
        server = _start_on_free_port(
            lambda port: EmbeddedPostgres(
                tmp / "data",
                port,
                durable=False,
                log_path=tmp / "postgresql.log",
                template_dir=default_template_dir(),
            )
        )
        try:
            yield server.url
        finally:
            server.stop()
    finally:
        remove_dir(tmp)


@contextlib.contextmanager
def kafka_server() -> Iterator[KafkaServer]:
    env_servers = os.environ.get("TEST_KAFKA_BOOTSTRAP_SERVERS")
    idempotence_env = os.environ.get("TEST_KAFKA_ENABLE_IDEMPOTENCE")
    if env_servers:
        supported = idempotence_env is None or idempotence_env.strip().lower() in _TRUTHY
        yield KafkaServer(env_servers, supported)
        return
    if use_testcontainers():
        from kopano.testing import containers

        with containers.kafka() as servers:
            yield KafkaServer(servers, True)
        return
    server = _start_on_free_port(lambda port: EmbeddedKafka(port))
    try:
        yield KafkaServer(server.bootstrap_servers, EmbeddedKafka.supports_idempotence)
    finally:
        server.stop()


@contextlib.contextmanager
def mongodb_server() -> Iterator[str]:
    env_url = os.environ.get("TEST_MONGODB_URL")
    if env_url:
        yield env_url
        return
    if use_testcontainers():
        from kopano.testing import containers

        with containers.mongodb() as url:
            yield url
        return
    log_dir: Path = make_temp_dir("kopano-test-mongo-")
    try:
        server = _start_on_free_port(
            lambda port: EmbeddedMongo(
                None, port, cache_size="128M", log_path=log_dir / "mongodb.log"
            )
        )
        try:
            yield server.url
        finally:
            server.stop()
    finally:
        remove_dir(log_dir)


class ServerPool:
    """The session's servers: started once, on first use or ahead of time, stopped at the end.

    ``prestart`` begins starting the servers the collected tests will need, in parallel
    threads, so a session that needs PostgreSQL and MongoDB waits for the slower one
    only. Those threads live until :meth:`close`: a server child is tied to the thread
    that spawned it (it is signalled when that thread ends).
    """

    _factories: ClassVar[dict[str, Callable[[], contextlib.AbstractContextManager[Any]]]] = {
        "postgres": postgres_server_url,
        "kafka": kafka_server,
        "mongo": mongodb_server,
    }

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stacks: dict[str, contextlib.ExitStack] = {}
        self._futures: dict[str, concurrent.futures.Future[Any]] = {}
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    def _enter(self, kind: str) -> Any:
        stack = contextlib.ExitStack()
        value = stack.enter_context(self._factories[kind]())
        with self._lock:
            self._stacks[kind] = stack
        return value

    def prestart(self, kinds: Iterable[str]) -> None:
        with self._lock:
            todo = [k for k in kinds if k not in self._futures]
            if not todo:
                return
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=len(self._factories), thread_name_prefix="kopano-server"
                )
            for kind in todo:
                self._futures[kind] = self._executor.submit(self._enter, kind)

    def get(self, kind: str) -> Any:
        """The server's URL (or :class:`KafkaServer`), starting it here if not started yet."""
        with self._lock:
            future = self._futures.get(kind)
            if future is None:
                future = concurrent.futures.Future()
                self._futures[kind] = future
                start_here = True
            else:
                start_here = False
        if start_here:
            try:
                future.set_result(self._enter(kind))
            except BaseException as exc:
                future.set_exception(exc)
        return future.result()

    def stop(self, kind: str) -> None:
        with self._lock:
            stack = self._stacks.pop(kind, None)
            self._futures.pop(kind, None)
        if stack is not None:
            stack.close()

    def close(self) -> None:
        with self._lock:
            pending = list(self._futures.values())
        for future in pending:
            # Let starts in progress finish, so their servers get stopped below.
            with contextlib.suppress(BaseException):
                future.result()
        for kind in list(self._stacks):
            with contextlib.suppress(Exception):
                self.stop(kind)
        self._futures.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


class DatabasePool:
    """Empty databases created ahead of time on a background thread.

    ``CREATE DATABASE`` takes 0.5-1 s on a busy machine (it checkpoints and copies the
    template); making the next ones while a test runs takes that off each test's set-up.
    """

    def __init__(self, server_url: str, size: int = 2) -> None:
        self.server_url = server_url
        self._ready: queue.Queue[str | BaseException] = queue.Queue()
        self._wanted: queue.Queue[bool] = queue.Queue()
        self._stopping = threading.Event()
        #: every database this pool made, handed out or not (for diagnostics and tests)
        self.created: list[str] = []
        self._thread = threading.Thread(target=self._work, name="kopano-db-pool", daemon=True)
        self._thread.start()
        for _ in range(size):
            self._wanted.put(True)

    def _work(self) -> None:
        while self._wanted.get() and not self._stopping.is_set():
            name = f"t_{uuid.uuid4().hex[:20]}"
            try:
                # A plain thread without a loop of its own: asyncio.run is safe here.
                asyncio.run(pg.create_database(self.server_url, name, exist_ok=False))
            except Exception as exc:
                self._ready.put(exc)
            else:
                self.created.append(name)
                self._ready.put(name)

    def take(self) -> str:
        """Name of a new, empty database that nobody else will get."""
        self._wanted.put(True)  # make a replacement while the caller uses this one
        item = self._ready.get(timeout=120)
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        self._stopping.set()
        self._wanted.put(False)
        self._thread.join(timeout=60)
        while True:
            try:
                item = self._ready.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, str):
                with contextlib.suppress(Exception):
                    pg.run_sync(pg.drop_database(self.server_url, item))


def create_topics(bootstrap_servers: str, names: Sequence[str], *, partitions: int = 1) -> None:
    """Create topics (idempotently) so tests work on brokers without auto-creation."""

    async def _create() -> None:
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic
        from aiokafka.errors import TopicAlreadyExistsError

        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
        await admin.start()
        try:
            topics = [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names]
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(topics)
        finally:
            await admin.close()

    pg.run_sync(_create())


def drop_mongo_database(url: str, name: str) -> None:
    from pymongo import MongoClient

    client: MongoClient[dict[str, Any]] = MongoClient(url, serverSelectionTimeoutMS=5000)
    try:
        client.drop_database(name)
    finally:
        client.close()
