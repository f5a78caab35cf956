"""a GIN index on the skills of open postings, for recommendations

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 11:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_opportunities_open_skills', 'opportunities', ['skills'], unique=False, postgresql_using='gin', postgresql_where=sa.text("status = 'OPEN'"), postgresql_with={'fastupdate': 'off'})


def downgrade() -> None:
    op.drop_index('ix_opportunities_open_skills', table_name='opportunities', postgresql_using='gin', postgresql_where=sa.text("status = 'OPEN'"))
