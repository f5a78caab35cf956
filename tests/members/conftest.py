"""Fixtures for the members service: a migrated database, the ASGI app and a GraphQL client."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from members_gql import make_settings
from starlette.applications import Starlette

from kopano.auth import SigningKey
from kopano.devstack import pg
from members.app import create_app
from members.migrations import upgrade_async
from members.settings import MembersSettings


@pytest.fixture(scope="session")
def signing_key_pem() -> str:
    return SigningKey.generate().to_pem().decode()


@pytest.fixture(scope="session")
def shared_members_database(postgres_server: str) -> Iterator[str]:
    """One migrated database shared by the API tests (each test uses its own emails)."""
    name = f"t_members_api_{uuid.uuid4().hex[:10]}"
    url = pg.ensure_database(postgres_server, name)
    try:
        pg.run_sync(upgrade_async(url))
        yield url
    finally:
        pg.run_sync(pg.drop_database(postgres_server, name))


@pytest.fixture
async def migrated_database_url(fresh_database_url: str) -> str:
    """A new database of its own, migrated to head (for tests that count rows)."""
    await upgrade_async(fresh_database_url)
    return fresh_database_url


@pytest.fixture
def members_settings(shared_members_database: str, signing_key_pem: str) -> MembersSettings:
    settings: MembersSettings = make_settings(shared_members_database, signing_key_pem)
    return settings


@pytest.fixture
async def app(members_settings: MembersSettings) -> AsyncIterator[Starlette]:
    application = create_app(members_settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://members.test") as c:
        yield c
