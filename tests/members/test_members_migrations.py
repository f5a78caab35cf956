"""Migrations: they apply on an empty database, match the models, upgrade the first release's
schema with its data in place, and go down and up again."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import httpx
import sqlalchemy as sa
from members_gql import LOGIN, PASSWORD, gql, make_settings
from sqlalchemy.ext.asyncio import create_async_engine

from kopano.auth import PasswordHasher
from members.app import create_app
from members.migrations import check, downgrade, upgrade, upgrade_async

FIRST_RELEASE = "0001"


async def test_empty_database_upgrades_to_a_schema_matching_the_models(
    fresh_database_url: str,
) -> None:
    await upgrade_async(fresh_database_url)
    await asyncio.to_thread(check, fresh_database_url)  # raises on drift
    # And back down to nothing, then up again.
    await asyncio.to_thread(downgrade, fresh_database_url, "base")
    engine = create_async_engine(fresh_database_url)
    try:
        async with engine.connect() as conn:
            tables = (
                await conn.scalars(
                    sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                )
            ).all()
    finally:
        await engine.dispose()
    assert set(tables) <= {"alembic_version"}
    await upgrade_async(fresh_database_url)
    await asyncio.to_thread(check, fresh_database_url)


async def test_first_release_schema_and_data_upgrade_in_place(
    fresh_database_url: str, signing_key_pem: str
) -> None:
    await asyncio.to_thread(upgrade, fresh_database_url, FIRST_RELEASE)
    member_id = uuid.uuid4()
    now = datetime.now(UTC)
    password_hash = PasswordHasher(memory_cost_kib=1024, time_cost=1).hash(PASSWORD)
    engine = create_async_engine(fresh_database_url)
    try:
        async with engine.begin() as conn:
            # Written with plain SQL against the first release's tables.
            await conn.execute(
                sa.text(
                    "INSERT INTO members (id, email, password_hash, full_name,"
                    " country_of_residence, phone, district_of_origin, registered_at, updated_at)"
                    " VALUES (:id, :email, :hash, 'Old Timer', 'BW', NULL, 'LS-C', :now, :now)"
                ),
                {
                    "id": member_id,
                    "email": "old.timer@example.org",
                    "hash": password_hash,
                    "now": now,
                },
            )
    finally:
        await engine.dispose()

    await upgrade_async(fresh_database_url)
    await asyncio.to_thread(check, fresh_database_url)

    app = create_app(make_settings(fresh_database_url, signing_key_pem))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://members.test") as client:
            body = await gql(
                client, LOGIN, {"email": "OLD.TIMER@example.org", "password": PASSWORD}
            )
            assert "errors" not in body, body
            token = body["data"]["login"]["accessToken"]
            me = await gql(
                client,
                "{ me { id fullName countryOfResidence roles organisations { role } } }",
                token=token,
            )
    assert me["data"]["me"] == {
        "id": str(member_id),
        "fullName": "Old Timer",
        "countryOfResidence": "BW",
        "roles": ["member"],
        "organisations": [],
    }
