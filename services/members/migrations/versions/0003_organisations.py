"""organisations and memberships

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 09:54:22.403598
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Hand-checked autogenerate output.
    op.create_table('organisations',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('name_key', sa.Text(), nullable=False),
    sa.Column('type', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('city', sa.Text(), nullable=True),
    sa.Column('website', sa.Text(), nullable=True),
    sa.Column('join_policy', sa.Text(), nullable=False),
    sa.Column('verified', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.Text(), server_default='active', nullable=False),
    sa.Column('created_by', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organisations'))
    )
    op.create_index('ix_organisations_country_city', 'organisations', ['country', 'city'], unique=False)
    op.create_index('ix_organisations_directory', 'organisations', ['status', 'name_key', 'id'], unique=False)
    op.create_index('uq_organisations_name_active', 'organisations', ['name_key'], unique=True, postgresql_where=sa.text("status = 'active'"))
    op.create_table('organisation_memberships',
    sa.Column('organisation_id', sa.UUID(), nullable=False),
    sa.Column('member_id', sa.UUID(), nullable=False),
    sa.Column('role', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_organisation_memberships_member_id_members'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_organisation_memberships_organisation_id_organisations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organisation_id', 'member_id', name=op.f('pk_organisation_memberships'))
    )
    op.create_index('ix_organisation_memberships_member', 'organisation_memberships', ['member_id'], unique=False)


def downgrade() -> None:
    # Hand-checked autogenerate output.
    op.drop_index('ix_organisation_memberships_member', table_name='organisation_memberships')
    op.drop_table('organisation_memberships')
    op.drop_index('uq_organisations_name_active', table_name='organisations', postgresql_where=sa.text("status = 'active'"))
    op.drop_index('ix_organisations_directory', table_name='organisations')
    op.drop_index('ix_organisations_country_city', table_name='organisations')
    op.drop_table('organisations')
