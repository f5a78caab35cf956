"""``python -m opportunities migrate`` and ``serve``: a real process on a free port."""

from __future__ import annotations

import asyncio
import os
import socket
import sys

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from opportunities.__main__ import main

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_migrate_then_serve(fresh_database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPPORTUNITIES_DATABASE_URL", fresh_database_url)
    monkeypatch.setenv("OPPORTUNITIES_ENVIRONMENT", "test")
    # Alembic runs its own event loop: keep it off the test's thread. Twice: it is idempotent.
    assert await asyncio.to_thread(main, ["migrate"]) == 0
    assert await asyncio.to_thread(main, ["migrate"]) == 0
    engine = create_async_engine(fresh_database_url)
    async with engine.connect() as conn:
        version = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar()
    await engine.dispose()
    assert version == "0002"

    port = free_port()
    env = {
        **os.environ,
        "OPPORTUNITIES_DATABASE_URL": fresh_database_url,
        "OPPORTUNITIES_ENVIRONMENT": "test",
        "OPPORTUNITIES_RELAY_ENABLED": "false",
        "OPPORTUNITIES_CONSUMERS_ENABLED": "false",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "opportunities",
        "serve",
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            ready = None
            for _ in range(150):
                try:
                    ready = await client.get("/readyz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.2)
            assert ready is not None
            assert ready.status_code == 200
            body = (
                await client.post("/graphql", json={"query": "{ opportunities { nodes { id } } }"})
            ).json()
            assert body == {"data": {"opportunities": {"nodes": []}}}
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 20)
