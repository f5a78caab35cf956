"""Fixtures for the content service: a fresh MongoDB database, the ASGI app and tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from content_gql import ContentHarness, make_settings
from starlette.applications import Starlette

from content.app import create_app
from content.settings import ContentSettings
from kopano.auth import SigningKey, StaticJwks, TokenIssuer, TokenVerifier


@pytest.fixture(scope="session")
def token_issuer() -> TokenIssuer:
    return TokenIssuer(
        SigningKey.generate(),
        issuer="kopano-members",
        audience="kopano",
        access_ttl=timedelta(minutes=30),
    )


@pytest.fixture(scope="session")
def token_verifier(token_issuer: TokenIssuer) -> TokenVerifier:
    return TokenVerifier(StaticJwks(token_issuer.jwks()), "kopano-members", "kopano")


@pytest.fixture
def content_settings(mongodb_url: str, mongo_database_name: str) -> ContentSettings:
    settings: ContentSettings = make_settings(mongodb_url, mongo_database_name)
    return settings


@pytest.fixture
async def app(
    content_settings: ContentSettings, token_verifier: TokenVerifier
) -> AsyncIterator[Starlette]:
    application = create_app(content_settings, token_verifier=token_verifier)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://content.test") as c:
        yield c


@pytest.fixture
def harness(client: httpx.AsyncClient, app: Starlette, token_issuer: TokenIssuer) -> ContentHarness:
    return ContentHarness(client, app, token_issuer)
