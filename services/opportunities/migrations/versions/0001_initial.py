"""opportunities, applications, saved searches, projections, outbox and inbox

Revision ID: 0001
Revises:
Create Date: 2026-11-27 10:44:00.958033
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Hand-checked autogenerate output.
    op.create_table('erased_members',
    sa.Column('member_id', sa.UUID(), nullable=False),
    sa.Column('erased_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('member_id', name=op.f('pk_erased_members'))
    )
    op.create_table('inbox',
    sa.Column('consumer', sa.Text(), nullable=False),
    sa.Column('event_id', sa.Text(), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('consumer', 'event_id', name='pk_inbox')
    )
    op.create_table('member_profiles',
    sa.Column('member_id', sa.UUID(), nullable=False),
    sa.Column('skills', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('sector', sa.Text(), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('languages', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('mentor', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('investor', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('as_of', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('member_id', name=op.f('pk_member_profiles'))
    )
    op.create_index('ix_member_profiles_country', 'member_profiles', ['country'], unique=False)
    op.create_index('ix_member_profiles_sector', 'member_profiles', ['sector'], unique=False)
    op.create_index('ix_member_profiles_skills', 'member_profiles', ['skills'], unique=False, postgresql_using='gin')
    op.create_table('opportunities',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('organisation_id', sa.UUID(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('sector', sa.Text(), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('city', sa.Text(), nullable=True),
    sa.Column('remote', sa.Boolean(), nullable=False),
    sa.Column('skills', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('languages', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('deadline', sa.Date(), nullable=True),
    sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('created_by', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('listed_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('DRAFT', 'OPEN', 'CLOSED', 'WITHDRAWN')", name=op.f('ck_opportunities_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opportunities'))
    )
    op.create_index('ix_opportunities_listing', 'opportunities', [sa.literal_column('status'), sa.literal_column('listed_at DESC'), sa.literal_column('id DESC')], unique=False)
    op.create_index('ix_opportunities_open_deadline', 'opportunities', ['deadline', 'id'], unique=False, postgresql_where=sa.text("status = 'OPEN'"))
    op.create_index('ix_opportunities_organisation', 'opportunities', ['organisation_id', sa.literal_column('listed_at DESC'), sa.literal_column('id DESC')], unique=False)
    op.create_index('ix_opportunities_skills', 'opportunities', ['skills'], unique=False, postgresql_using='gin')
    op.create_table('organisation_officials',
    sa.Column('organisation_id', sa.UUID(), nullable=False),
    sa.Column('member_id', sa.UUID(), nullable=False),
    sa.Column('role', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('organisation_id', 'member_id', name=op.f('pk_organisation_officials'))
    )
    op.create_index('ix_organisation_officials_member', 'organisation_officials', ['member_id'], unique=False)
    op.create_table('organisations',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('verified', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('removed', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organisations'))
    )
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('event_id', sa.Uuid(), nullable=False),
    sa.Column('topic', sa.Text(), nullable=False),
    sa.Column('key', sa.Text(), nullable=True),
    sa.Column('type', sa.Text(), nullable=False),
    sa.Column('headers', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('event_id', name=op.f('uq_outbox_event_id'))
    )
    op.create_index('ix_outbox_unsent', 'outbox', ['id'], unique=False, postgresql_where=sa.text('sent_at IS NULL'))
    op.create_table('saved_searches',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('member_id', sa.UUID(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('kinds', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('sector', sa.Text(), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('remote', sa.Boolean(), nullable=True),
    sa.Column('skills', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_searches'))
    )
    op.create_index(op.f('ix_saved_searches_member_id'), 'saved_searches', ['member_id'], unique=False)
    op.create_table('applications',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('opportunity_id', sa.UUID(), nullable=False),
    sa.Column('applicant_id', sa.UUID(), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('links', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('history', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['opportunity_id'], ['opportunities.id'], name=op.f('fk_applications_opportunity_id_opportunities'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_applications')),
    sa.UniqueConstraint('opportunity_id', 'applicant_id', name=op.f('uq_applications_opportunity_id_applicant_id'))
    )
    op.create_index('ix_applications_applicant', 'applications', ['applicant_id', sa.literal_column('submitted_at DESC'), 'id'], unique=False)
    op.create_index('ix_applications_opportunity_order', 'applications', ['opportunity_id', sa.literal_column('submitted_at DESC'), 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_applications_opportunity_order', table_name='applications')
    op.drop_index('ix_applications_applicant', table_name='applications')
    op.drop_table('applications')
    op.drop_index(op.f('ix_saved_searches_member_id'), table_name='saved_searches')
    op.drop_table('saved_searches')
    op.drop_index('ix_outbox_unsent', table_name='outbox', postgresql_where=sa.text('sent_at IS NULL'))
    op.drop_table('outbox')
    op.drop_table('organisations')
    op.drop_index('ix_organisation_officials_member', table_name='organisation_officials')
    op.drop_table('organisation_officials')
    op.drop_index('ix_opportunities_skills', table_name='opportunities', postgresql_using='gin')
    op.drop_index('ix_opportunities_organisation', table_name='opportunities')
    op.drop_index('ix_opportunities_open_deadline', table_name='opportunities', postgresql_where=sa.text("status = 'OPEN'"))
    op.drop_index('ix_opportunities_listing', table_name='opportunities')
    op.drop_table('opportunities')
    op.drop_index('ix_member_profiles_skills', table_name='member_profiles', postgresql_using='gin')
    op.drop_index('ix_member_profiles_sector', table_name='member_profiles')
    op.drop_index('ix_member_profiles_country', table_name='member_profiles')
    op.drop_table('member_profiles')
    op.drop_table('inbox')
    op.drop_table('erased_members')
