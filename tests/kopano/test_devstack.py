"""The launcher: its registry, `servers` on free ports, and `up` with stand-in services."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from pymongo import MongoClient

from kopano.devstack import pg
from kopano.devstack._process import free_port, port_is_free
from kopano.devstack.embedded import kafka_api_versions_ok, make_temp_dir, remove_dir
from kopano.devstack.launcher import Config, DevStack, ServerUrls, find_repo_root
from kopano.devstack.services import (
    GATEWAY,
    SERVICES,
    ServiceSpec,
    available_services,
    module_available,
)

# --------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------


def test_registry_has_the_fixed_ports_and_prefixes() -> None:
    table = {s.name: (s.port, s.module, s.datastore, s.env_prefix) for s in SERVICES}
    assert table == {
        "members": (4001, "members", "postgres", "MEMBERS_"),
        "content": (4002, "content", "mongo", "CONTENT_"),
        "opportunities": (4003, "opportunities", "postgres", "OPPORTUNITIES_"),
        "payments": (4004, "payments", "postgres", "PAYMENTS_"),
    }
    assert (GATEWAY.port, GATEWAY.module) == (4000, "gateway")
    assert GATEWAY.graphql_url == "http://127.0.0.1:4000/graphql"


def test_registry_skips_modules_that_are_not_installed() -> None:
    present = ServiceSpec("devstack", 1, "kopano.devstack", None, "X_")
    absent = ServiceSpec("ghost", 2, f"ghost_{uuid.uuid4().hex}", "postgres", "GHOST_")
    no_main = ServiceSpec("json", 3, "json", None, "J_")  # importable but not runnable
    found, missing = available_services((present, absent, no_main))
    assert found == [present]
    assert missing == [absent, no_main]
    assert not module_available("kopano.no_such_module")


def test_repo_root_is_found_from_a_subdirectory() -> None:
    root = find_repo_root(Path(__file__).parent)
    assert root is not None
    assert (root / "libs" / "kopano" / "pyproject.toml").is_file()


def test_service_environment(tmp_path: Path) -> None:
    cfg = Config(data_dir=tmp_path, env={"PATH": "/bin", "MONGODB_URL": "mongodb://m:1/"})
    stack = DevStack(cfg)
    stack.urls = ServerUrls(
        postgres="postgresql://postgres@127.0.0.1:5/postgres",
        kafka="127.0.0.1:9",
        kafka_idempotence=False,
        mongo="mongodb://m:1/",
    )
    members, content = SERVICES[0], SERVICES[1]
    stack.database_urls["members"] = "postgresql+asyncpg://postgres@127.0.0.1:5/members"

    env = stack.service_env(members)
    assert env["MEMBERS_DATABASE_URL"] == "postgresql+asyncpg://postgres@127.0.0.1:5/members"
    assert env["MEMBERS_PORT"] == "4001"
    assert env["MEMBERS_ENVIRONMENT"] == "dev"
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:9"
    assert env["KAFKA_ENABLE_IDEMPOTENCE"] == "false"
    assert env["KOPANO_DATA_DIR"] == str(tmp_path)
    assert env["PATH"] == "/bin"

    env = stack.service_env(content)
    assert env["CONTENT_MONGODB_URL"] == "mongodb://m:1/"
    assert env["CONTENT_MONGODB_DATABASE"] == "content"
    assert "CONTENT_DATABASE_URL" not in env


# --------------------------------------------------------------------------------------
# subprocess helpers
# --------------------------------------------------------------------------------------


class Running:
    """A launcher subprocess whose output is collected line by line."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            argv,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern, re.MULTILINE)
        while not regex.search(self.output):
            if self.proc.poll() is not None:
                self._reader.join(2)
                if regex.search(self.output):
                    return
                pytest.fail(f"exited ({self.proc.returncode}) before {pattern!r}:\n{self.output}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {pattern!r} within {timeout}s:\n{self.output}")
            time.sleep(0.1)

    def stop(self, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def launcher_env() -> dict[str, str]:
    env = dict(os.environ)
    for key in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URL", "KOPANO_DATA_DIR"):
        env.pop(key, None)
    env["NO_COLOR"] = "1"
    return env


@pytest.fixture
def scratch() -> Iterator[Path]:
    path = make_temp_dir("kopano-devstack-test-")
    yield path
    remove_dir(path)


# --------------------------------------------------------------------------------------
# `servers`
# --------------------------------------------------------------------------------------


@pytest.mark.integration
def test_servers_command_comes_up_and_stops_cleanly_on_sigterm(
    launcher_env: dict[str, str], scratch: Path
) -> None:
    pg_port, kafka_port, mongo_port = free_port(), free_port(), free_port()
    run = Running(
        [
            sys.executable,
            "-m",
            "kopano.devstack",
            "servers",
            "--data-dir",
            str(scratch / "data"),
            "--postgres-port",
            str(pg_port),
            "--kafka-port",
            str(kafka_port),
        ],
        {**launcher_env, "KOPANO_MONGO_PORT": str(mongo_port)},  # ports by flag or by env
    )
    try:
        run.wait_for(r"servers are up", timeout=180)

        async def members_database_exists() -> bool:
            conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{pg_port}/postgres")
            try:
                return bool(
                    await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = 'members'")
                )
            finally:
                await conn.close()

        assert pg.run_sync(members_database_exists())
        assert kafka_api_versions_ok("127.0.0.1", kafka_port)
        client: MongoClient[dict[str, object]] = MongoClient(
            f"mongodb://127.0.0.1:{mongo_port}/?directConnection=true",
            serverSelectionTimeoutMS=5000,
        )
        try:
            assert client.admin.command("ping")["ok"] == 1
        finally:
            client.close()
        assert f"127.0.0.1:{kafka_port}" in run.output
        assert "MEMBERS_DATABASE_URL='postgresql+asyncpg://" in run.output

        assert run.stop() == 0, run.output
    finally:
        run.kill()
    assert "stopped" in run.output
    for port in (pg_port, kafka_port, mongo_port):
        assert port_is_free(port), f"port {port} still in use after stop"
    # Data persists in the data directory for the next run.
    assert (scratch / "data" / "postgres" / "PG_VERSION").is_file()
    assert (scratch / "data" / "mongodb").is_dir()


def test_servers_command_refuses_a_taken_port(launcher_env: dict[str, str], scratch: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        run = Running(
            [
                sys.executable,
                "-m",
                "kopano.devstack",
                "servers",
                "--data-dir",
                str(scratch / "data"),
                "--postgres-port",
                str(free_port()),
                "--kafka-port",
                str(taken),
                "--mongo-port",
                str(free_port()),
            ],
            launcher_env,
        )
        try:
            code = run.proc.wait(60)
            run._reader.join(5)
        finally:
            run.kill()
    assert code == 2, run.output
    assert f"{taken} (kafka)" in run.output
    assert "already in use" in run.output
    assert not (scratch / "data" / "postgres").exists()  # nothing was started


# --------------------------------------------------------------------------------------
# `up` with a stand-in service
# --------------------------------------------------------------------------------------

FAKE_SERVICE = textwrap.dedent(
    """
    import json, os, signal, sys, threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    record = os.environ["FAKE_RECORD"]
    command = sys.argv[1]
    keep = ("FAKE_", "KAFKA_", "KOPANO_")
    env = {k: v for k, v in os.environ.items() if k.startswith(keep)}
    with open(f"{record}.{command}", "w") as fh:
        json.dump(env, fh)
    if command == "migrate":
        sys.exit(int(os.environ.get("FAKE_MIGRATE_EXIT", "0")))
    print("hello from the stand-in service", flush=True)
    if os.environ.get("FAKE_CRASH") == "1":
        sys.exit(3)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/readyz" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["FAKE_PORT"])), Handler)
    def stop(*_):
        print("stand-in service stopping", flush=True)
        threading.Thread(target=server.shutdown).start()
    signal.signal(signal.SIGTERM, stop)
    server.serve_forever()
    """
)

DRIVER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from kopano.devstack.launcher import Config, run_up
    from kopano.devstack.services import ServiceSpec

    spec = ServiceSpec(sys.argv[2], int(sys.argv[3]), "kopanofake", "postgres", "FAKE_")
    config = Config(data_dir=Path(sys.argv[1]), env=dict(os.environ))
    sys.exit(run_up(config, registry=(spec,), gateway=None))
    """
)


@pytest.fixture
def stand_in(
    scratch: Path, launcher_env: dict[str, str], postgres_server: str, kafka_bootstrap: str
) -> Iterator[tuple[list[str], dict[str, str], str, Path]]:
    package = scratch / "pkgs" / "kopanofake"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""Stand-in service."""\n')
    (package / "__main__.py").write_text(FAKE_SERVICE)
    (scratch / "driver.py").write_text(DRIVER)
    name = f"fake_{uuid.uuid4().hex[:8]}"
    env = {
        **launcher_env,
        "PYTHONPATH": os.pathsep.join([str(scratch / "pkgs"), launcher_env.get("PYTHONPATH", "")]),
        # Real servers given by URL: the launcher starts no embedded ones.
        "DATABASE_URL": pg.sqlalchemy_url(postgres_server),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "FAKE_RECORD": str(scratch / "record"),
        "KOPANO_MEMORY_REPORT_AFTER": "0.5",
    }
    argv = [sys.executable, str(scratch / "driver.py"), str(scratch / "data"), name]
    yield argv, env, name, scratch / "record"
    pg.run_sync(pg.drop_database(postgres_server, name))


@pytest.mark.integration
def test_up_migrates_starts_streams_and_stops_a_service(
    stand_in: tuple[list[str], dict[str, str], str, Path], postgres_server: str
) -> None:
    argv, env, name, record = stand_in
    port = free_port()
    run = Running([*argv, str(port)], env)
    try:
        run.wait_for(r"Kopano is up", timeout=60)
        assert f"http://127.0.0.1:{port}/graphql" in run.output
        run.wait_for(rf"resident memory: {name} \d+ MB", timeout=30)
        assert re.search(rf"^{name}\s*\| hello from the stand-in service", run.output, re.M)

        migrate_env = json.loads(Path(f"{record}.migrate").read_text())
        serve_env = json.loads(Path(f"{record}.serve").read_text())
        expected_url = pg.sqlalchemy_url(pg.with_database(postgres_server, name))
        for seen in (migrate_env, serve_env):
            assert seen["FAKE_DATABASE_URL"] == expected_url
            assert seen["FAKE_PORT"] == str(port)
            assert seen["FAKE_ENVIRONMENT"] == "dev"
            assert seen["KOPANO_DATA_DIR"] == str(record.parent / "data")
            assert seen["KAFKA_BOOTSTRAP_SERVERS"] == env["KAFKA_BOOTSTRAP_SERVERS"]
            # An external broker keeps the service's own idempotence default.
            assert "KAFKA_ENABLE_IDEMPOTENCE" not in seen

        async def database_exists() -> bool:
            conn = await asyncpg.connect(postgres_server)
            try:
                return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname=$1", name))
            finally:
                await conn.close()

        assert pg.run_sync(database_exists())
        assert run.stop() == 0, run.output
    finally:
        run.kill()
    assert "stand-in service stopping" in run.output
    assert port_is_free(port)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("failure", "message"),
    [
        ({"FAKE_CRASH": "1"}, "crashed during start-up"),
        ({"FAKE_MIGRATE_EXIT": "2"}, "migrations failed"),
    ],
)
def test_up_reports_a_service_that_fails_at_start(
    stand_in: tuple[list[str], dict[str, str], str, Path],
    failure: dict[str, str],
    message: str,
) -> None:
    argv, env, name, _ = stand_in
    run = Running([*argv, str(free_port())], {**env, **failure})
    try:
        code = run.proc.wait(120)
        run._reader.join(5)
    finally:
        run.kill()
    assert code == 1, run.output
    assert re.search(rf"error: {name}: .*{message}|error: {name} {message}", run.output), run.output
