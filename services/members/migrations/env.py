"""Alembic environment for the members database (async, asyncpg)."""

from __future__ import annotations

from kopano.migrations import run_env
from members.adapters.tables import metadata


def _settings_url() -> str:
    from members.settings import MembersSettings

    return MembersSettings().database_url


run_env(metadata, _settings_url)
