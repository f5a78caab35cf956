"""Small process helpers shared by the embedded servers and the launcher."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import psutil

_PR_SET_PDEATHSIG = 1


class PortInUseError(RuntimeError):
    """A fixed port that a server or service needs is already taken."""

    def __init__(self, port: int, owner: str) -> None:
        super().__init__(
            f"port {port} ({owner}) is already in use on 127.0.0.1 — is another "
            f"`make up` or server running? Stop it or pick another port."
        )
        self.port = port
        self.owner = owner


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on ``host:port`` and we could bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Without SO_REUSEADDR a TIME_WAIT leftover would make a free port look taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def require_free_port(port: int, owner: str, host: str = "127.0.0.1") -> None:
    if not port_is_free(port, host):
        raise PortInUseError(port, owner)


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel just considered free (for test servers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent(sig: int) -> None:
    """Runs in the child before exec: deliver ``sig`` to the child if its parent dies.

    This keeps a crashed test run or launcher from leaving orphaned servers behind.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(sig))


def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdout: int | IO[Any] | None = None,
    user: int | None = None,
    group: int | None = None,
    death_signal: int | None = signal.SIGTERM,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session so a terminal Ctrl-C reaches only us.

    The caller decides the shutdown order; children must not all get SIGINT at once.
    """
    preexec: Callable[[], None] | None = (
        functools.partial(_die_with_parent, death_signal) if death_signal is not None else None
    )
    extra: dict[str, Any] = {}
    if user is not None:
        extra["user"] = user
        extra["group"] = group
        extra["extra_groups"] = []
    return subprocess.Popen(  # noqa: S603 - argv is built by us, never from user input
        list(argv),
        env=dict(env) if env is not None else None,
        cwd=str(cwd) if cwd is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.STDOUT if stdout is not None else None,
        start_new_session=True,
        preexec_fn=preexec,
        **extra,
    )


def terminate(
    proc: subprocess.Popen[bytes],
    *,
    sig: int = signal.SIGTERM,
    timeout: float = 15.0,
) -> int | None:
    """Send ``sig``, wait up to ``timeout`` seconds, then kill. Returns the exit code."""
    if proc.poll() is not None:
        return proc.returncode
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        return proc.wait(5)


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += proc.memory_info().rss
    return total


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.05,
    alive: Callable[[], bool] | None = None,
    what: str = "condition",
) -> None:
    """Poll ``check`` until it is true; fail early when ``alive`` says the process died."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if alive is not None and not alive():
            raise RuntimeError(f"{what}: the process exited before it became ready")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not ready after {timeout:.0f}s")
        time.sleep(interval)


def tail(path: Path | None, lines: int = 30) -> str:
    if path is None or not path.exists():
        return ""
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0
