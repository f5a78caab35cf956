"""Fixtures for the payments service: a migrated database, the ASGI app and signed-in members."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest
from payments_gql import Member, make_settings
from starlette.applications import Starlette

from kopano.auth import SigningKey, StaticJwks, TokenIssuer, TokenVerifier
from kopano.devstack import pg
from payments.app import create_app
from payments.migrations import upgrade_async
from payments.settings import PaymentsSettings


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
def shared_payments_database(postgres_server: str) -> Iterator[str]:
    """One migrated database shared by the API tests (each test uses its own members)."""
    name = f"t_payments_api_{uuid.uuid4().hex[:10]}"
    url = pg.ensure_database(postgres_server, name)
    pg.run_sync(upgrade_async(url))
    yield url
    pg.run_sync(pg.drop_database(postgres_server, name))


@pytest.fixture
async def migrated_database_url(fresh_database_url: str) -> str:
    """A new database of its own, migrated to head (for tests that count rows)."""
    await upgrade_async(fresh_database_url)
    return fresh_database_url


@pytest.fixture
def payments_settings(shared_payments_database: str) -> PaymentsSettings:
    settings: PaymentsSettings = make_settings(shared_payments_database)
    return settings


@pytest.fixture
async def app(
    payments_settings: PaymentsSettings, verifier: TokenVerifier
) -> AsyncIterator[Starlette]:
    application = create_app(payments_settings, token_verifier=verifier)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://payments.test") as c:
        yield c


@pytest.fixture
def member(issuer: TokenIssuer) -> Member:
    return Member(issuer)


@pytest.fixture
def admin(issuer: TokenIssuer) -> Member:
    return Member(issuer, roles=("member", "admin"))
