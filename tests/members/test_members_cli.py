"""``python -m members``: migrate and grant-role (the first admin's bootstrap)."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from members.__main__ import main


async def test_migrate_then_grant_role(
    fresh_database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MEMBERS_DATABASE_URL", fresh_database_url)
    monkeypatch.setenv("MEMBERS_ENVIRONMENT", "test")
    # The commands run their own event loops: keep them off the test's thread.
    assert await asyncio.to_thread(main, ["migrate"]) == 0

    async def seed() -> None:
        engine = create_async_engine(fresh_database_url)
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO members (id, email, password_hash, full_name,"
                    " country_of_residence, registered_at, updated_at) VALUES"
                    " (gen_random_uuid(), 'first.admin@example.org', 'x', 'First Admin', 'LS',"
                    " now(), now())"
                )
            )
        await engine.dispose()

    await seed()
    assert await asyncio.to_thread(main, ["grant-role", "First.Admin@example.org", "admin"]) == 0
    assert "['admin', 'member']" in capsys.readouterr().out

    async def audit() -> list[tuple[object, ...]]:
        engine = create_async_engine(fresh_database_url)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(sa.text("SELECT actor_id, action, details FROM audit_log"))
            ).all()
        await engine.dispose()
        return [tuple(r) for r in rows]

    [(actor, action, details)] = await audit()
    assert actor is None
    assert action == "role.granted"
    assert details == {"role": "admin", "changed": True, "via": "command line"}
