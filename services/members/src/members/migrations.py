"""Run the members Alembic migrations programmatically (``python -m members migrate``)."""

from __future__ import annotations

from kopano.migrations import Migrations, script_location

_migrations = Migrations(script_location(__file__))

alembic_config = _migrations.config
upgrade = _migrations.upgrade
upgrade_async = _migrations.upgrade_async
downgrade = _migrations.downgrade
check = _migrations.check
