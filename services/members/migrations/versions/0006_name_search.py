"""trigram indexes for the directory's name search

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 10:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index(
        "ix_members_full_name_trgm",
        "members",
        ["full_name"],
        postgresql_using="gin",
        postgresql_ops={"full_name": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_members_preferred_name_trgm",
        "members",
        ["preferred_name"],
        postgresql_using="gin",
        postgresql_ops={"preferred_name": "gin_trgm_ops"},
    )


def downgrade() -> None:
    op.drop_index("ix_members_preferred_name_trgm", table_name="members")
    op.drop_index("ix_members_full_name_trgm", table_name="members")
    # The extension stays: other objects may depend on it.
