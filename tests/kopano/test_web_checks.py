"""Readiness checks against the real servers, and against ports where nothing listens."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from pymongo import AsyncMongoClient
from sqlalchemy.ext.asyncio import create_async_engine

from kopano.settings import BaseServiceSettings
from kopano.web import create_service_app, database_check, kafka_check, mongo_check

pytestmark = pytest.mark.integration


def closed_port() -> int:
    # Bind then close: nothing listens there for the duration of the test.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def readyz(**checks: object) -> httpx.Response:
    app = create_service_app(
        settings=BaseServiceSettings(environment="test", readiness_timeout=3.0),
        readiness_checks=checks,  # type: ignore[arg-type]
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        return await c.get("/readyz")


@pytest.fixture
async def engines(fresh_database_url: str) -> AsyncIterator[tuple[object, object]]:
    good = create_async_engine(fresh_database_url)
    bad = create_async_engine(f"postgresql+asyncpg://nobody:x@127.0.0.1:{closed_port()}/none")
    yield good, bad
    await good.dispose()
    await bad.dispose()


async def test_database_check(engines: tuple[object, object]) -> None:
    good, bad = engines
    await database_check(good)()
    response = await readyz(database=database_check(good))
    assert response.status_code == 200
    response = await readyz(database=database_check(good), replica=database_check(bad))
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "replica": "failed"}


async def test_kafka_check(kafka_bootstrap: str) -> None:
    await kafka_check(kafka_bootstrap)()
    response = await readyz(broker=kafka_check(kafka_bootstrap))
    assert response.json() == {"status": "ready", "checks": {"broker": "ok"}}
    response = await readyz(broker=kafka_check(f"127.0.0.1:{closed_port()}"))
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] in {"failed", "timeout"}


async def test_mongo_check(mongodb_url: str) -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongodb_url)
    unreachable: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        f"mongodb://127.0.0.1:{closed_port()}/?serverSelectionTimeoutMS=500"
    )
    try:
        response = await readyz(mongo=mongo_check(client))
        assert response.json() == {"status": "ready", "checks": {"mongo": "ok"}}
        response = await readyz(mongo=mongo_check(unreachable))
        assert response.status_code == 503
        assert response.json()["checks"]["mongo"] == "failed"
    finally:
        await client.close()
        await unreachable.close()
