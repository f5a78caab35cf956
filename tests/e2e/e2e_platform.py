"""The whole platform as ``make up`` starts it, on free ports, and a client for its gateway."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from kopano.devstack._process import free_port
from kopano.devstack.embedded import make_temp_dir, remove_dir
from kopano.devstack.launcher import find_repo_root
from kopano.devstack.services import (
    COMPANIONS,
    GATEWAY,
    SERVICES,
    ServiceSpec,
    module_available,
)

START_TIMEOUT = 600.0
STOP_TIMEOUT = 120.0

# Settings that would point the stack at other servers or ports than the ones chosen here.
_FOREIGN_SETTINGS = re.compile(
    r"^(DATABASE_URL|KAFKA_BOOTSTRAP_SERVERS|KAFKA_ENABLE_IDEMPOTENCE|MONGODB_URL"
    r"|KOPANO_(GATEWAY_TOKEN|JWKS_URL|PORT_OFFSET|DATA_DIR|POSTGRES_PORT|KAFKA_PORT|MONGO_PORT)"
    r"|[A-Z_]+_(PORT|DATABASE_URL|MONGODB_URL|PARTNER_BASE_URL|WEBHOOK_URL))$"
)


def installed_services() -> list[ServiceSpec]:
    return [s for s in SERVICES if module_available(s.module)]


def companion_specs() -> list[ServiceSpec]:
    return [
        c.spec
        for s in installed_services()
        for c in COMPANIONS.get(s.name, ())
        if module_available(c.spec.module)
    ]


def _distinct_free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports and not 4000 <= port <= 4014:
            ports.append(port)
    return ports


class GraphQLError(AssertionError):
    """A GraphQL response carried errors where the journey expected data."""


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    text: str

    @property
    def errors(self) -> list[dict[str, Any]]:
        errors: list[dict[str, Any]] = self.body.get("errors") or []
        return errors

    @property
    def codes(self) -> list[str | None]:
        return [(e.get("extensions") or {}).get("code") for e in self.errors]

    def data(self) -> dict[str, Any]:
        if self.status != 200 or self.errors:
            raise GraphQLError(f"HTTP {self.status}: {self.text[:2000]}")
        data: dict[str, Any] = self.body["data"]
        return data


@dataclass
class Platform:
    """``python -m kopano.devstack up`` running as a subprocess, with its output collected."""

    proc: subprocess.Popen[str]
    data_dir: Path
    ports: dict[str, int]
    lines: list[str] = field(default_factory=list)
    started_in: float = 0.0
    gateway_url: str = ""
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=60.0))
    _reader: threading.Thread | None = None

    @classmethod
    def start(cls) -> Platform:
        root = find_repo_root(Path(__file__).parent)
        assert root is not None, "the uv workspace root was not found"
        names = [
            GATEWAY.name,
            *(s.name for s in installed_services()),
            *(s.name for s in companion_specs()),
            "postgres",
            "kafka",
            "mongo",
        ]
        ports = dict(zip(names, _distinct_free_ports(len(names)), strict=True))
        data_dir = make_temp_dir("kopano-e2e-")
        env = {k: v for k, v in os.environ.items() if not _FOREIGN_SETTINGS.match(k)}
        env.update(
            {
                "NO_COLOR": "1",
                "PYTHONUNBUFFERED": "1",
                "KOPANO_POSTGRES_PORT": str(ports["postgres"]),
                "KOPANO_KAFKA_PORT": str(ports["kafka"]),
                "KOPANO_MONGO_PORT": str(ports["mongo"]),
                # The launcher's own idle memory line, shortly after the banner.
                "KOPANO_MEMORY_REPORT_AFTER": "10",
                f"{GATEWAY.env_prefix}PORT": str(ports[GATEWAY.name]),
            }
        )
        for spec in [*installed_services(), *companion_specs()]:
            env[f"{spec.env_prefix}PORT"] = str(ports[spec.name])
        began = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "kopano.devstack", "up", "--data-dir", str(data_dir)],
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # Its own process group, like a terminal's foreground job: Ctrl-C goes to it.
            start_new_session=True,
        )
        platform = cls(proc=proc, data_dir=data_dir, ports=ports)
        platform._reader = threading.Thread(target=platform._pump, daemon=True)
        platform._reader.start()
        try:
            platform._wait_up(began)
        except BaseException:
            platform.stop()
            raise
        return platform

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def output(self, last: int = 80) -> str:
        return "\n".join(self.lines[-last:])

    def _wait_up(self, began: float) -> None:
        deadline = began + START_TIMEOUT
        pattern = re.compile(r"GraphQL API \(gateway\):\s+(http://\S+/graphql)")
        while not self.gateway_url:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"the launcher exited with {self.proc.returncode}:\n{self.output()}"
                )
            for line in list(self.lines):
                if match := pattern.search(line):
                    self.gateway_url = match.group(1)
                elif "GraphQL API (gateway):" in line:
                    raise AssertionError(f"the gateway did not start:\n{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no gateway URL after {START_TIMEOUT:.0f}s:\n{self.output()}")
            time.sleep(0.2)
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if self.http.get(self.url("/readyz")).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise AssertionError(f"gateway /readyz not 200:\n{self.output()}")
            time.sleep(0.2)
        self.started_in = time.monotonic() - began

    # -- addresses --------------------------------------------------------------------
    def url(self, path: str = "/graphql", name: str = GATEWAY.name) -> str:
        return f"http://127.0.0.1:{self.ports[name]}{path}"

    # -- GraphQL through the gateway --------------------------------------------------
    def gql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        url: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        response = self.http.post(
            url or self.url(), json={"query": query, "variables": variables or {}}, headers=sent
        )
        try:
            body = response.json()
        except ValueError:
            body = {}
        return Reply(response.status_code, body if isinstance(body, dict) else {}, response.text)

    # -- processes ----------------------------------------------------------------------
    def children(self) -> list[psutil.Process]:
        with contextlib.suppress(psutil.NoSuchProcess):
            return list(psutil.Process(self.proc.pid).children(recursive=True))
        return []

    def process_of(self, module: str) -> psutil.Process:
        """The ``python -m <module> serve`` (or gateway) process the launcher started."""
        for child in self.children():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                argv = child.cmdline()
                if "-m" in argv and argv[argv.index("-m") + 1] == module:
                    return child
        raise AssertionError(f"no running process for {module}:\n{self.output()}")

    def interrupt(self) -> int:
        """Ctrl-C: SIGINT to the launcher's process group; its exit code."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGINT)
        code = self.proc.wait(STOP_TIMEOUT)
        if self._reader is not None:
            self._reader.join(timeout=5)
        return code

    def stop(self) -> None:
        """Teardown: stop whatever is still running and remove the data."""
        try:
            if self.proc.poll() is None:
                try:
                    self.interrupt()
                except subprocess.TimeoutExpired:
                    for child in self.children():
                        with contextlib.suppress(psutil.NoSuchProcess):
                            child.kill()
                    self.proc.kill()
                    self.proc.wait(10)
        finally:
            self.http.close()
            remove_dir(self.data_dir)
