"""Alembic migrations of a service's PostgreSQL database: run from code, and Alembic's env.py.

A service keeps its revisions in ``services/<name>/migrations`` (``env.py`` + ``versions/``);
its wheel carries them as ``<package>/_migrations`` (hatch ``force-include``), so an image
migrates without the source tree. ``python -m <service> migrate`` calls :meth:`upgrade`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

PACKAGED_DIR = "_migrations"


def script_location(package_file: str) -> Path:
    """Where the migrations of the package holding ``package_file`` are: inside the installed
    wheel, else next to ``src/`` in the repository."""
    package_dir = Path(package_file).resolve().parent
    packaged = package_dir / PACKAGED_DIR
    if (packaged / "env.py").exists():
        return packaged
    return package_dir.parents[1] / "migrations"


class Migrations:
    """Upgrade, downgrade and check one service's database."""

    def __init__(self, location: Path) -> None:
        self.location = location

    def config(self, database_url: str) -> Config:
        config = Config()
        config.set_main_option("script_location", str(self.location))
        # ConfigParser interpolation would choke on '%' in passwords.
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
        return config

    def upgrade(self, database_url: str, revision: str = "head") -> None:
        command.upgrade(self.config(database_url), revision)

    async def upgrade_async(self, database_url: str, revision: str = "head") -> None:
        # env.py runs its own event loop, so from async code it runs in a worker thread.
        await asyncio.to_thread(self.upgrade, database_url, revision)

    def downgrade(self, database_url: str, revision: str) -> None:
        command.downgrade(self.config(database_url), revision)

    def check(self, database_url: str) -> None:
        """Raise when the models and the migrated schema differ (a migration is missing)."""
        command.check(self.config(database_url))


def run_env(metadata: MetaData, default_url: Callable[[], str]) -> None:
    """The whole of a service's Alembic ``env.py``: offline (SQL script) or online through an
    async engine. ``default_url`` (the service's settings) is asked only when the caller gave
    Alembic no URL, as the ``alembic`` command line does."""
    from alembic import context

    config = context.config
    url = config.get_main_option("sqlalchemy.url") or default_url()

    if context.is_offline_mode():
        context.configure(
            url=url,
            target_metadata=metadata,
            literal_binds=True,
            dialect_opts={"paramstyle": "named"},
        )
        with context.begin_transaction():
            context.run_migrations()
        return

    def run(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()

    async def online() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(run)
        finally:
            await engine.dispose()

    asyncio.run(online())
