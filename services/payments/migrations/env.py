"""Alembic environment for the payments database (async, asyncpg)."""

from __future__ import annotations

from kopano.migrations import run_env
from payments.adapters.tables import metadata


def _settings_url() -> str:
    from payments.settings import PaymentsSettings

    return PaymentsSettings().database_url


run_env(metadata, _settings_url)
