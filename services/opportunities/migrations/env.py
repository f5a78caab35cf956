"""Alembic environment for the opportunities database (async, asyncpg)."""

from __future__ import annotations

from kopano.migrations import run_env
from opportunities.adapters.tables import metadata


def _settings_url() -> str:
    from opportunities.settings import OpportunitiesSettings

    return OpportunitiesSettings().database_url


run_env(metadata, _settings_url)
