"""index of unfinished transfers by state, for the transfer metrics

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 13:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_STATES = "state IN ('CREATED', 'AWAITING_FUNDS', 'FUNDED', 'PAYOUT_PENDING')"


def upgrade() -> None:
    # Concurrently, outside the migration's transaction: sends and webhooks keep writing
    # to transfers while the index builds.
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_transfers_open_state",
            "transfers",
            ["state", "updated_at"],
            unique=False,
            postgresql_where=sa.text(OPEN_STATES),
            postgresql_concurrently=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(
            "ix_transfers_open_state",
            table_name="transfers",
            postgresql_concurrently=True,
            if_exists=True,
        )
