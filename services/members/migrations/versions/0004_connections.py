"""connections and blocks

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 10:01:15.283548
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Hand-checked autogenerate output.
    op.create_table('blocks',
    sa.Column('blocker_id', sa.UUID(), nullable=False),
    sa.Column('blocked_id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['blocked_id'], ['members.id'], name=op.f('fk_blocks_blocked_id_members'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['blocker_id'], ['members.id'], name=op.f('fk_blocks_blocker_id_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('blocker_id', 'blocked_id', name=op.f('pk_blocks'))
    )
    op.create_index('ix_blocks_blocked', 'blocks', ['blocked_id'], unique=False)
    op.create_table('connections',
    sa.Column('member_low', sa.UUID(), nullable=False),
    sa.Column('member_high', sa.UUID(), nullable=False),
    sa.Column('requested_by', sa.UUID(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('responded_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('member_low < member_high', name=op.f('ck_connections_ordered_pair')),
    sa.ForeignKeyConstraint(['member_high'], ['members.id'], name=op.f('fk_connections_member_high_members'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['member_low'], ['members.id'], name=op.f('fk_connections_member_low_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('member_low', 'member_high', name=op.f('pk_connections'))
    )
    op.create_index('ix_connections_member_high', 'connections', ['member_high'], unique=False)


def downgrade() -> None:
    # Hand-checked autogenerate output.
    op.drop_index('ix_connections_member_high', table_name='connections')
    op.drop_table('connections')
    op.drop_index('ix_blocks_blocked', table_name='blocks')
    op.drop_table('blocks')
