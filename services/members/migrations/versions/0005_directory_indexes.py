"""indexes for the member directory

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 10:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_members_directory",
        "members",
        [sa.text("registered_at DESC"), sa.text("id DESC")],
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_index("ix_members_skills", "members", ["skills"], postgresql_using="gin")
    op.create_index("ix_members_country", "members", ["country_of_residence"])


def downgrade() -> None:
    op.drop_index("ix_members_country", table_name="members")
    op.drop_index("ix_members_skills", table_name="members")
    op.drop_index("ix_members_directory", table_name="members")
