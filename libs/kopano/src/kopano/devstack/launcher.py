"""``python -m kopano.devstack up|servers``: the whole platform on one machine.

``up`` starts the servers (embedded unless their URLs are in the environment), creates
each service's database, runs migrations, starts every installed service and then the
gateway, prints the URLs and streams every child's log with a name prefix. Ctrl-C or
SIGTERM stops the gateway and services first, then the servers.

``servers`` starts only the servers (and the services' databases), for people who run
services by hand.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, TextIO

import httpx

from kopano.devstack import pg
from kopano.devstack._process import (
    PortInUseError,
    port_is_free,
    spawn,
    terminate,
    tree_rss_bytes,
)
from kopano.devstack.embedded import (
    EmbeddedKafka,
    EmbeddedMongo,
    EmbeddedPostgres,
    EmbeddedServer,
    EmbeddedServerError,
)
from kopano.devstack.services import (
    COMPANIONS,
    GATEWAY,
    SERVICES,
    Companion,
    ServiceSpec,
    module_available,
)

DEFAULT_POSTGRES_PORT = 55432
DEFAULT_KAFKA_PORT = 9092
DEFAULT_MONGO_PORT = 27017

SERVICE_START_TIMEOUT = 120.0
MIGRATE_TIMEOUT = 300.0


class StopRequested(Exception):
    """Ctrl-C or SIGTERM arrived."""


class LaunchError(Exception):
    """Something the user must fix; the message says what."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# --------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------


def find_repo_root(start: Path | None = None) -> Path | None:
    """The uv workspace root: from the working directory, else from this package's location."""
    candidates = [(start or Path.cwd()).resolve(), Path(__file__).resolve()]
    for origin in candidates:
        for directory in [origin, *origin.parents]:
            project = directory / "pyproject.toml"
            if project.is_file() and "[tool.uv.workspace]" in project.read_text(errors="ignore"):
                return directory
    return None


@dataclass
class Config:
    data_dir: Path
    postgres_port: int = DEFAULT_POSTGRES_PORT
    kafka_port: int = DEFAULT_KAFKA_PORT
    mongo_port: int = DEFAULT_MONGO_PORT
    repo_root: Path | None = None
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    # Added to every service's and the gateway's default port (several stacks side by side).
    port_offset: int = 0

    @property
    def supergraph(self) -> Path | None:
        if self.repo_root is None:
            return None
        path = self.repo_root / "gateway" / "supergraph.graphql"
        return path if path.is_file() else None

    def external_postgres(self) -> str | None:
        return self.env.get("DATABASE_URL") or None

    def external_kafka(self) -> str | None:
        return self.env.get("KAFKA_BOOTSTRAP_SERVERS") or None

    def external_mongo(self) -> str | None:
        return self.env.get("MONGODB_URL") or None

    def service_env(self, spec: ServiceSpec, key: str) -> str | None:
        return self.env.get(f"{spec.env_prefix}{key}") or None

    def port_for(self, spec: ServiceSpec) -> int:
        """``<PREFIX>PORT`` when set (e.g. ``MEMBERS_PORT``), else the default plus the offset."""
        raw = self.service_env(spec, "PORT")
        if raw is None:
            return spec.port + self.port_offset
        try:
            port = int(raw)
        except ValueError:
            raise LaunchError(f"{spec.env_prefix}PORT must be a port number, not {raw!r}") from None
        if not 0 < port < 65536:
            raise LaunchError(f"{spec.env_prefix}PORT is out of range: {port}")
        return port

    def resolve(self, spec: ServiceSpec) -> ServiceSpec:
        """``spec`` on the port this run uses."""
        port = self.port_for(spec)
        return spec if port == spec.port else dataclasses.replace(spec, port=port)


def default_data_dir(env: Mapping[str, str], repo_root: Path | None) -> Path:
    if env.get("KOPANO_DATA_DIR"):
        return Path(env["KOPANO_DATA_DIR"]).expanduser().resolve()
    return (repo_root or Path.cwd()) / ".kopano"


# --------------------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------------------

_COLORS = ["36", "35", "33", "32", "34", "96", "95", "93"]


class Console:
    """Line-oriented output shared by the reader threads of every child."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self.lock = threading.Lock()
        self.color = out.isatty() and not os.environ.get("NO_COLOR")
        self.width = 16  # "payments-sandbox"
        self._color_of: dict[str, str] = {}

    def _paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def prefix(self, name: str) -> str:
        code = self._color_of.setdefault(name, _COLORS[len(self._color_of) % len(_COLORS)])
        return self._paint(f"{name:<{self.width}}|", code)

    def child_line(self, name: str, line: str) -> None:
        with self.lock:
            self.out.write(f"{self.prefix(name)} {line}\n")
            self.out.flush()

    def info(self, message: str) -> None:
        with self.lock:
            self.out.write(f"{self._paint('kopano', '1')}: {message}\n")
            self.out.flush()

    def error(self, message: str) -> None:
        with self.lock:
            self.out.write(f"{self._paint('kopano: error:', '1;31')} {message}\n")
            self.out.flush()

    def block(self, text: str) -> None:
        with self.lock:
            self.out.write(text + "\n")
            self.out.flush()

    def bold(self, text: str) -> str:
        return self._paint(text, "1;32")


# --------------------------------------------------------------------------------------
# children
# --------------------------------------------------------------------------------------


class Child:
    """A service process whose output is streamed line by line with its name in front."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: Mapping[str, str],
        console: Console,
        cwd: Path | None,
    ) -> None:
        self.name = name
        self.console = console
        self.proc = spawn(argv, env=env, cwd=cwd, stdout=subprocess.PIPE)
        self._reader = threading.Thread(target=self._pump, name=f"log-{name}", daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        stream: IO[bytes] | None = self.proc.stdout
        if stream is None:
            return
        for raw in iter(stream.readline, b""):
            self.console.child_line(self.name, raw.decode(errors="replace").rstrip())

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> int | None:
        code = terminate(self.proc, sig=signal.SIGTERM, timeout=timeout)
        self._reader.join(timeout=2)
        return code

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(timeout=2)
        return code


# --------------------------------------------------------------------------------------
# the stack
# --------------------------------------------------------------------------------------


@dataclass
class ServerUrls:
    postgres: str | None = None  # admin URL, asyncpg form
    kafka: str | None = None
    kafka_idempotence: bool = True
    mongo: str | None = None
    notes: dict[str, str] = field(default_factory=dict)


class DevStack:
    def __init__(
        self,
        config: Config,
        console: Console | None = None,
        *,
        registry: tuple[ServiceSpec, ...] = SERVICES,
        gateway: ServiceSpec | None = GATEWAY,
    ) -> None:
        self.config = config
        self.console = console or Console()
        self.registry = tuple(config.resolve(s) for s in registry)
        self.gateway = config.resolve(gateway) if gateway is not None else None
        self.servers: list[EmbeddedServer] = []
        self.children: list[Child] = []
        self.urls = ServerUrls()
        self.services: list[ServiceSpec] = []
        self.missing: list[ServiceSpec] = []
        # (owner, companion) pairs to start beside their owner, on this run's ports.
        self.companions: list[tuple[ServiceSpec, Companion]] = []
        self.database_urls: dict[str, str] = {}
        self._gateway_token: str | None = None

    # -- planning -----------------------------------------------------------------------
    def plan_services(self) -> None:
        self.services = [s for s in self.registry if module_available(s.module)]
        self.missing = [s for s in self.registry if s not in self.services]
        self.companions = [
            (owner, dataclasses.replace(c, spec=self.config.resolve(c.spec)))
            for owner in self.services
            for c in COMPANIONS.get(owner.name, ())
            if module_available(c.spec.module) and not self.config.service_env(owner, c.url_setting)
        ]

    def companion_specs(self) -> list[ServiceSpec]:
        return [c.spec for _, c in self.companions]

    @property
    def gateway_token(self) -> str:
        """The secret the gateway presents to subgraphs for ``_entities``/``_service``.

        ``KOPANO_GATEWAY_TOKEN`` when set; otherwise one generated once and kept in the data
        directory, so subgraphs refuse federation fields from anyone but the gateway.
        """
        if self._gateway_token is None:
            token = self.config.env.get("KOPANO_GATEWAY_TOKEN")
            if not token:
                path = self.config.data_dir / "gateway-token"
                if path.is_file():
                    token = path.read_text().strip()
                if not token:
                    token = secrets.token_urlsafe(32)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.touch(mode=0o600)
                    path.write_text(token + "\n")
            self._gateway_token = token
        return self._gateway_token

    def jwks_url(self) -> str | None:
        """Where access tokens' public keys are: the members service of this run."""
        if self.config.env.get("KOPANO_JWKS_URL"):
            return self.config.env["KOPANO_JWKS_URL"]
        members = next((s for s in self.registry if s.name == "members"), None)
        return f"{members.base_url}/.well-known/jwks.json" if members is not None else None

    def platform_env(self) -> dict[str, str]:
        """Values every service and the gateway must agree on."""
        env = {"KOPANO_GATEWAY_TOKEN": self.gateway_token}
        jwks = self.jwks_url()
        if jwks:
            env["KOPANO_JWKS_URL"] = jwks
        return env

    def _needs(self, services: list[ServiceSpec]) -> tuple[bool, bool, bool]:
        cfg = self.config
        need_pg = not cfg.external_postgres() and any(
            s.datastore == "postgres" and not cfg.service_env(s, "DATABASE_URL") for s in services
        )
        need_mongo = not cfg.external_mongo() and any(
            s.datastore == "mongo" and not cfg.service_env(s, "MONGODB_URL") for s in services
        )
        need_kafka = not cfg.external_kafka()
        return need_pg, need_kafka, need_mongo

    def check_ports(self, ports: list[tuple[int, str]]) -> None:
        taken = [(port, owner) for port, owner in ports if not port_is_free(port)]
        if taken:
            lines = ", ".join(f"{port} ({owner})" for port, owner in taken)
            raise LaunchError(
                f"port(s) already in use on 127.0.0.1: {lines}. Is another `make up` (or a "
                f"local server) running? Stop it, or point Kopano at that server with its "
                f"URL variable (DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, MONGODB_URL).",
                exit_code=2,
            )

    # -- servers ------------------------------------------------------------------------
    def start_servers(self, *, postgres: bool, kafka: bool, mongo: bool) -> None:
        cfg = self.config
        data = cfg.data_dir
        data.mkdir(parents=True, exist_ok=True)
        data.chmod(0o755)  # the PostgreSQL system user must be able to enter it
        logs = data / "logs"
        if postgres:
            server = EmbeddedPostgres(
                data / "postgres", cfg.postgres_port, log_path=logs / "postgresql.log"
            )
            self._start_server(server)
            self.urls.postgres = server.url
            self.urls.notes["postgres"] = f"embedded, data in {server.data_dir}"
        elif cfg.external_postgres():
            self.urls.postgres = pg.plain_url(cfg.external_postgres() or "")
            self.urls.notes["postgres"] = "from DATABASE_URL"
        if kafka:
            broker = EmbeddedKafka(cfg.kafka_port, log_path=logs / "kafka.log")
            self._start_server(broker)
            self.urls.kafka = broker.bootstrap_servers
            self.urls.kafka_idempotence = EmbeddedKafka.supports_idempotence
            self.urls.notes["kafka"] = "embedded tansu, memory only (idempotence off)"
        else:
            self.urls.kafka = cfg.external_kafka()
            self.urls.notes["kafka"] = "from KAFKA_BOOTSTRAP_SERVERS"
        if mongo:
            mongod = EmbeddedMongo(data / "mongodb", cfg.mongo_port, log_path=logs / "mongodb.log")
            self._start_server(mongod)
            self.urls.mongo = mongod.url
            self.urls.notes["mongo"] = f"embedded secantusdb, data in {mongod.data_dir}"
        elif cfg.external_mongo():
            self.urls.mongo = cfg.external_mongo()
            self.urls.notes["mongo"] = "from MONGODB_URL"

    def _start_server(self, server: EmbeddedServer) -> None:
        self.console.info(f"starting {server.name} on 127.0.0.1:{server.port} ...")
        started = time.monotonic()
        # Registered first, so a Ctrl-C during start-up still stops it.
        self.servers.append(server)
        server.start()
        self.console.info(f"{server.name} ready in {time.monotonic() - started:.1f}s")

    def prepare_databases(self, services: list[ServiceSpec]) -> None:
        for spec in services:
            if spec.datastore != "postgres":
                continue
            own = self.config.service_env(spec, "DATABASE_URL")
            if own:
                self.database_urls[spec.name] = own
                continue
            if self.urls.postgres is None:
                raise LaunchError(f"{spec.name}: no PostgreSQL server (set DATABASE_URL)")
            self.database_urls[spec.name] = pg.ensure_database(
                self.urls.postgres, spec.database_name
            )

    # -- services -----------------------------------------------------------------------
    def service_env(self, spec: ServiceSpec) -> dict[str, str]:
        cfg = self.config
        env = dict(cfg.env)
        p = spec.env_prefix
        env.update(
            {
                "PYTHONUNBUFFERED": "1",
                "KOPANO_DATA_DIR": str(cfg.data_dir),
                f"{p}HOST": "127.0.0.1",
                f"{p}PORT": str(spec.port),
                f"{p}ENVIRONMENT": "dev",
            }
        )
        env.update(self.platform_env())
        if self.urls.kafka:
            env["KAFKA_BOOTSTRAP_SERVERS"] = self.urls.kafka
        if not self.urls.kafka_idempotence:
            env["KAFKA_ENABLE_IDEMPOTENCE"] = "false"
        for owner, companion in self.companions:
            if owner.name == spec.name:
                env[f"{p}{companion.url_setting}"] = companion.spec.base_url
            elif companion.spec.name == spec.name:
                env[f"{p}{companion.callback_setting}"] = owner.base_url + companion.callback_path
        if spec.datastore == "postgres":
            env[f"{p}DATABASE_URL"] = self.database_urls[spec.name]
        elif spec.datastore == "mongo":
            url = cfg.service_env(spec, "MONGODB_URL") or self.urls.mongo
            if url is None:
                raise LaunchError(f"{spec.name}: no MongoDB server (set MONGODB_URL)")
            env[f"{p}MONGODB_URL"] = url
            env.setdefault(f"{p}MONGODB_DATABASE", spec.database_name)
        return env

    def migrate(self, spec: ServiceSpec) -> None:
        self.console.info(f"{spec.name}: running migrations")
        child = Child(
            f"{spec.name}:migrate",
            [sys.executable, "-m", spec.module, "migrate"],
            self.service_env(spec),
            self.console,
            self.config.repo_root,
        )
        try:
            code = child.wait(MIGRATE_TIMEOUT)
        except subprocess.TimeoutExpired:
            child.stop()
            raise LaunchError(f"{spec.name}: migrations did not finish in time") from None
        except StopRequested:
            child.stop()
            raise
        if code != 0:
            raise LaunchError(f"{spec.name}: migrations failed (exit code {code}); see its log")

    def start_service(self, spec: ServiceSpec, argv: list[str], env: Mapping[str, str]) -> Child:
        env = dict(env)
        # Children write to a pipe, so tell them whether the terminal at the end wants colour.
        if self.console.color:
            env.setdefault("FORCE_COLOR", "1")
        else:
            env["NO_COLOR"] = "1"
            env.pop("FORCE_COLOR", None)
        child = Child(spec.name, argv, env, self.console, self.config.repo_root)
        self.children.append(child)
        return child

    def wait_ready(self, pending: list[tuple[ServiceSpec, Child]]) -> None:
        deadline = time.monotonic() + SERVICE_START_TIMEOUT
        waiting = list(pending)
        with httpx.Client(timeout=2.0) as http:
            while waiting:
                for spec, child in list(waiting):
                    if not child.alive():
                        raise LaunchError(
                            f"{spec.name} crashed during start-up "
                            f"(exit code {child.proc.returncode}); see its log above"
                        )
                    if _is_ready(http, spec):
                        self.console.info(f"{spec.name} is ready on {spec.base_url}")
                        waiting.remove((spec, child))
                if waiting and time.monotonic() > deadline:
                    names = ", ".join(s.name for s, _ in waiting)
                    raise LaunchError(f"not ready after {SERVICE_START_TIMEOUT:.0f}s: {names}")
                if waiting:
                    time.sleep(0.25)

    def gateway_wanted(self) -> bool:
        gw = self.gateway
        return gw is not None and module_available(gw.module) and self.config.supergraph is not None

    def start_gateway(self) -> Child | None:
        gw = self.gateway
        if gw is None:
            return None
        if not module_available(gw.module):
            self.console.info("gateway: not installed, skipped")
            return None
        supergraph = self.config.supergraph
        if supergraph is None:
            self.console.info("gateway: gateway/supergraph.graphql not found, skipped")
            return None
        argv = [
            sys.executable,
            "-m",
            gw.module,
            "--supergraph",
            str(supergraph),
            "--host",
            "127.0.0.1",
            "--port",
            str(gw.port),
        ]
        routed = self.routed_supergraph(supergraph)
        argv[argv.index(str(supergraph))] = str(routed)
        env = dict(self.config.env)
        env.update({"PYTHONUNBUFFERED": "1", "KOPANO_DATA_DIR": str(self.config.data_dir)})
        env.update(self.platform_env())
        for spec in self.services:
            env[f"GATEWAY_SUBGRAPH_URL_{spec.name.upper()}"] = spec.graphql_url
        return self.start_service(gw, argv, env)

    def routed_supergraph(self, supergraph: Path) -> Path:
        """The supergraph with its routing URLs pointing at this run's service ports.

        The committed file names the default ports; on other ports a copy with the
        ``@join__graph`` URLs rewritten is written to the data directory.
        """
        urls = {s.name: s.graphql_url for s in self.services}
        sdl = supergraph.read_text(encoding="utf-8")
        routed = route_supergraph(sdl, urls)
        if routed == sdl:
            return supergraph
        path = self.config.data_dir / "supergraph.graphql"
        path.write_text(routed, encoding="utf-8")
        return path

    # -- shutdown -----------------------------------------------------------------------
    def stop_all(self) -> None:
        # Gateway first (it was started last), then services, then the servers.
        for child in reversed(self.children):
            if child.alive():
                self.console.info(f"stopping {child.name}")
                with contextlib.suppress(Exception):
                    child.proc.send_signal(signal.SIGTERM)
        for child in reversed(self.children):
            with contextlib.suppress(Exception):
                child.stop(timeout=15)
        self.children.clear()
        for server in reversed(self.servers):
            self.console.info(f"stopping {server.name}")
            try:
                server.stop()
            except Exception as exc:  # keep stopping the others
                self.console.error(f"{server.name} did not stop cleanly: {exc}")
        self.servers.clear()

    # -- reporting ----------------------------------------------------------------------
    def rss_report(self) -> list[tuple[str, int]]:
        rows = [(s.name, s.rss_bytes()) for s in self.servers]
        rows += [(c.name, tree_rss_bytes(c.proc.pid)) for c in self.children if c.alive()]
        return rows


_JOIN_GRAPH = re.compile(
    r'(@join__graph\(\s*name:\s*"(?P<name>[^"]+)"\s*,\s*url:\s*")(?P<url>[^"]*)(")'
)


def route_supergraph(sdl: str, urls: Mapping[str, str]) -> str:
    """``sdl`` with the routing URL of every subgraph named in ``urls`` replaced."""

    def swap(match: re.Match[str]) -> str:
        url = urls.get(match["name"])
        return match.group(0) if url is None else f"{match.group(1)}{url}{match.group(4)}"

    return _JOIN_GRAPH.sub(swap, sdl)


def _is_ready(http: httpx.Client, spec: ServiceSpec) -> bool:
    paths = ("/readyz", "/healthz") if spec.datastore is None else ("/readyz",)
    for path in paths:
        with contextlib.suppress(httpx.HTTPError):
            if http.get(f"{spec.base_url}{path}").status_code == 200:
                return True
    return False


# --------------------------------------------------------------------------------------
# signals
# --------------------------------------------------------------------------------------


@contextlib.contextmanager
def stop_on_signals(console: Console) -> Iterator[threading.Event]:
    """Turn the first SIGINT/SIGTERM into :class:`StopRequested`; later ones only warn."""
    stopping = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        if stopping.is_set():
            console.info("still stopping, please wait ...")
            return
        stopping.set()
        raise StopRequested

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stopping
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# --------------------------------------------------------------------------------------
# commands
# --------------------------------------------------------------------------------------


def _server_rows(stack: DevStack) -> list[tuple[str, str, str]]:
    urls = stack.urls
    rows = []
    if urls.postgres:
        rows.append(("PostgreSQL", urls.postgres, urls.notes.get("postgres", "")))
    if urls.kafka:
        rows.append(("Kafka", urls.kafka, urls.notes.get("kafka", "")))
    if urls.mongo:
        rows.append(("MongoDB", urls.mongo, urls.notes.get("mongo", "")))
    return rows


def _table(rows: list[tuple[str, str, str]]) -> str:
    if not rows:
        return ""
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    return "\n".join(f"    {a:<{w0}}  {b:<{w1}}  {c}".rstrip() for a, b, c in rows)


MEMORY_REPORT_AFTER = 20.0


def _wait_forever(stack: DevStack) -> int:
    """Block until a signal; a child that dies on its own ends the run with an error.

    Once things have settled, print each process's resident memory (idle footprint).
    """
    delay = float(stack.config.env.get("KOPANO_MEMORY_REPORT_AFTER", MEMORY_REPORT_AFTER))
    report_at: float | None = time.monotonic() + delay
    while True:
        for child in stack.children:
            if not child.alive():
                raise LaunchError(
                    f"{child.name} exited unexpectedly (exit code {child.proc.returncode})"
                )
        if report_at is not None and time.monotonic() >= report_at:
            report_at = None
            rows = ", ".join(f"{name} {rss / 2**20:.0f} MB" for name, rss in stack.rss_report())
            stack.console.info(f"resident memory: {rows}")
        time.sleep(0.5)


def run_up(
    config: Config,
    console: Console | None = None,
    *,
    registry: tuple[ServiceSpec, ...] = SERVICES,
    gateway: ServiceSpec | None = GATEWAY,
) -> int:
    """``up``; ``registry``/``gateway`` are parameters so tests can run stand-in services."""
    console = console or Console()
    try:
        stack = DevStack(config, console, registry=registry, gateway=gateway)
    except LaunchError as exc:  # e.g. a malformed <PREFIX>PORT
        console.error(str(exc))
        return exc.exit_code
    out = stack.console
    with stop_on_signals(out):
        try:
            stack.plan_services()
            need_pg, need_kafka, need_mongo = stack._needs(stack.services)
            ports = [(s.port, s.name) for s in [*stack.services, *stack.companion_specs()]]
            if stack.gateway is not None and stack.gateway_wanted():
                ports.append((stack.gateway.port, stack.gateway.name))
            if need_pg:
                ports.append((config.postgres_port, "postgresql"))
            if need_kafka:
                ports.append((config.kafka_port, "kafka"))
            if need_mongo:
                ports.append((config.mongo_port, "mongodb"))
            stack.check_ports(ports)
            for spec in stack.missing:
                out.info(f"{spec.name}: module '{spec.module}' not installed, skipped")
            stack.start_servers(postgres=need_pg, kafka=need_kafka, mongo=need_mongo)
            stack.prepare_databases(stack.services)
            for spec in stack.services:
                if spec.datastore == "postgres":
                    stack.migrate(spec)
            started = [
                (
                    spec,
                    stack.start_service(
                        spec, [sys.executable, "-m", spec.module, "serve"], stack.service_env(spec)
                    ),
                )
                for spec in [*stack.companion_specs(), *stack.services]
            ]
            stack.wait_ready(started)
            gateway_child = stack.start_gateway()
            if gateway_child is not None and stack.gateway is not None:
                stack.wait_ready([(stack.gateway, gateway_child)])
            out.block(_up_banner(stack, gateway_child is not None))
            return _wait_forever(stack)
        except StopRequested:
            out.info("stopping ...")
            return 0
        except (LaunchError, EmbeddedServerError, PortInUseError) as exc:
            out.error(str(exc))
            return exc.exit_code if isinstance(exc, LaunchError) else 2
        finally:
            stack.stop_all()
            out.info("stopped")


def _up_banner(stack: DevStack, gateway: bool) -> str:
    out = stack.console
    lines = ["", out.bold("  Kopano is up."), ""]
    if gateway and stack.gateway is not None:
        lines.append(f"  GraphQL API (gateway):  {out.bold(stack.gateway.graphql_url)}")
    else:
        lines.append("  GraphQL API (gateway):  not running (no gateway or supergraph yet)")
    lines.append("")
    rows = [(s.name, s.graphql_url, "/healthz /readyz /metrics") for s in stack.services]
    rows += [(c.spec.name, c.spec.base_url, f"for {o.name}") for o, c in stack.companions]
    if rows:
        lines += ["  services:", _table(rows), ""]
    lines += ["  servers:", _table(_server_rows(stack)), ""]
    lines.append(
        f"  data: {stack.config.data_dir}    server logs: {stack.config.data_dir / 'logs'}"
    )
    lines.append("  Press Ctrl-C to stop.")
    lines.append("")
    return "\n".join(lines)


def run_servers(config: Config, console: Console | None = None) -> int:
    stack = DevStack(config, console)
    out = stack.console
    with stop_on_signals(out):
        try:
            need_pg = not config.external_postgres()
            need_kafka = not config.external_kafka()
            need_mongo = not config.external_mongo()
            ports = []
            if need_pg:
                ports.append((config.postgres_port, "postgresql"))
            if need_kafka:
                ports.append((config.kafka_port, "kafka"))
            if need_mongo:
                ports.append((config.mongo_port, "mongodb"))
            stack.check_ports(ports)
            stack.start_servers(postgres=need_pg, kafka=need_kafka, mongo=need_mongo)
            postgres_services = [s for s in SERVICES if s.datastore == "postgres"]
            stack.prepare_databases(postgres_services)
            out.block(_servers_banner(stack))
            while True:
                time.sleep(3600)
        except StopRequested:
            out.info("stopping ...")
            return 0
        except (LaunchError, EmbeddedServerError, PortInUseError) as exc:
            out.error(str(exc))
            return exc.exit_code if isinstance(exc, LaunchError) else 2
        finally:
            stack.stop_all()
            out.info("stopped")


def _servers_banner(stack: DevStack) -> str:
    out = stack.console
    lines = ["", out.bold("  Kopano servers are up."), "", _table(_server_rows(stack)), ""]
    lines.append("  To run a service by hand, export for example:")
    for spec in SERVICES:
        env = {}
        if spec.datastore == "postgres" and spec.name in stack.database_urls:
            env[f"{spec.env_prefix}DATABASE_URL"] = stack.database_urls[spec.name]
        elif spec.datastore == "mongo" and stack.urls.mongo:
            env[f"{spec.env_prefix}MONGODB_URL"] = stack.urls.mongo
            env[f"{spec.env_prefix}MONGODB_DATABASE"] = spec.database_name
        if env:
            lines.append(f"    # {spec.name}")
            lines += [f"    {k}='{v}'" for k, v in env.items()]
    if stack.urls.kafka:
        lines.append(f"    KAFKA_BOOTSTRAP_SERVERS={stack.urls.kafka}")
    if not stack.urls.kafka_idempotence:
        lines.append("    KAFKA_ENABLE_IDEMPOTENCE=false")
    lines += ["", "  Press Ctrl-C to stop.", ""]
    return "\n".join(lines)
