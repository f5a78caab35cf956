"""PostgreSQL helpers that work on any server: embedded, a local install or a container.

URLs come in two shapes: libpq/asyncpg (``postgresql://user@host:port/db``) and
SQLAlchemy with the asyncpg driver (``postgresql+asyncpg://...``). Services take the
latter; administrative helpers accept either.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
from collections.abc import Coroutine
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

T = TypeVar("T")

_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def plain_url(url: str) -> str:
    """``postgresql+asyncpg://...`` (or ``postgres://``) -> ``postgresql://...`` for asyncpg."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql", *parts[1:]))


def sqlalchemy_url(url: str) -> str:
    """Any PostgreSQL URL -> the SQLAlchemy asyncpg form services expect."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql+asyncpg", *parts[1:]))


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database (scheme kept)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def check_database_name(name: str) -> str:
    # Names go into DDL (identifiers cannot be bound parameters), so only allow a safe set.
    if not _DB_NAME.match(name):
        raise ValueError(f"invalid database name {name!r}: use [a-z0-9_], starting with a letter")
    return name


async def create_database(server_url: str, name: str, *, exist_ok: bool = True) -> str:
    """Create database ``name`` on the server; return its SQLAlchemy asyncpg URL."""
    check_database_name(name)
    conn = await asyncpg.connect(with_database(plain_url(server_url), "postgres"))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            # FILE_COPY is far faster than the default WAL_LOG for small templates (PG 15+).
            strategy = " STRATEGY FILE_COPY" if conn.get_server_version().major >= 15 else ""
            try:
                await conn.execute(f'CREATE DATABASE "{name}"{strategy}')
            except asyncpg.DuplicateDatabaseError:
                if not exist_ok:
                    raise
        elif not exist_ok:
            raise asyncpg.DuplicateDatabaseError(f'database "{name}" already exists')
    finally:
        await conn.close()
    return sqlalchemy_url(with_database(server_url, name))


async def drop_database(server_url: str, name: str) -> None:
    """Drop ``name`` if it exists, disconnecting anything still attached to it."""
    check_database_name(name)
    conn = await asyncpg.connect(with_database(plain_url(server_url), "postgres"))
    try:
        force = " WITH (FORCE)" if conn.get_server_version().major >= 13 else ""
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"{force}')
    finally:
        await conn.close()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code.

    It always runs on a short-lived thread with its own loop: that works whether or not
    this thread already has a loop (pytest-asyncio keeps one for the session), and
    ``asyncio.run`` on this thread would reset the thread's current loop.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def ensure_database(server_url: str, name: str) -> str:
    """Synchronous :func:`create_database` (idempotent)."""
    return run_sync(create_database(server_url, name, exist_ok=True))
