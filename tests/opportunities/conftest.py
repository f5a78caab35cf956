"""Fixtures for the opportunities service: a migrated database, the ASGI app, members with tokens
and a way to seed the organisation projection directly (the consumer tests feed it by events)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest
from opportunities_gql import Member, make_settings
from starlette.applications import Starlette

from kopano.auth import SigningKey, StaticJwks, TokenIssuer, TokenVerifier
from kopano.devstack import pg
from opportunities.app import create_app
from opportunities.migrations import upgrade_async
from opportunities.settings import OpportunitiesSettings


@pytest.fixture(scope="session")
def issuer() -> TokenIssuer:
    return TokenIssuer(
        SigningKey.generate(),
        issuer="kopano-members",
        audience="kopano",
        access_ttl=timedelta(hours=1),
    )


@pytest.fixture(scope="session")
def verifier(issuer: TokenIssuer) -> TokenVerifier:
    return TokenVerifier(StaticJwks(issuer.jwks()), "kopano-members", "kopano")


@pytest.fixture(scope="session")
def shared_opportunities_database(postgres_server: str) -> Iterator[str]:
    """One migrated database shared by the API tests (each test uses its own members)."""
    name = f"t_opportunities_api_{uuid.uuid4().hex[:10]}"
    url = pg.ensure_database(postgres_server, name)
    try:
        pg.run_sync(upgrade_async(url))
        yield url
    finally:
        pg.run_sync(pg.drop_database(postgres_server, name))


@pytest.fixture
async def migrated_database_url(fresh_database_url: str) -> str:
    await upgrade_async(fresh_database_url)
    return fresh_database_url


@pytest.fixture
def opportunities_settings(shared_opportunities_database: str) -> OpportunitiesSettings:
    settings: OpportunitiesSettings = make_settings(shared_opportunities_database)
    return settings


@pytest.fixture
async def app(
    opportunities_settings: OpportunitiesSettings, verifier: TokenVerifier
) -> AsyncIterator[Starlette]:
    application = create_app(opportunities_settings, token_verifier=verifier)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://opportunities.test") as c:
        yield c


@pytest.fixture
def member(issuer: TokenIssuer) -> Member:
    return Member(issuer)
