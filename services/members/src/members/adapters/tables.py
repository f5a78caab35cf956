"""The members database schema: one ``MetaData`` holding our tables and the kit's outbox/inbox."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from kopano.outbox import inbox_table, outbox_table

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TZ = sa.DateTime(timezone=True)

members = sa.Table(
    "members",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("full_name", sa.Text, nullable=False),
    sa.Column("country_of_residence", sa.String(2), nullable=False),
    sa.Column("phone", sa.Text),
    sa.Column("district_of_origin", sa.String(4)),
    sa.Column("roles", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{member}'")),
    sa.Column("status", sa.Text, nullable=False, server_default="active"),
    sa.Column("preferred_name", sa.Text),
    sa.Column("occupation", sa.Text),
    sa.Column("sector", sa.Text),
    sa.Column("skills", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
    sa.Column("languages", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
    sa.Column("city", sa.Text),
    sa.Column("bio", sa.Text),
    sa.Column("education_level", sa.Text),
    sa.Column("years_abroad", sa.SmallInteger),
    sa.Column("willing_to_mentor", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("willing_to_invest", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("photo_url", sa.Text),
    sa.Column("visibility", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("registered_at", TZ, nullable=False),
    sa.Column("updated_at", TZ, nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.CheckConstraint("status IN ('active', 'suspended', 'erased')", name="status"),
    # Case-insensitive uniqueness lives in the database so concurrent sign-ups cannot race.
    sa.Index("uq_members_email_lower", sa.func.lower(sa.column("email")), unique=True),
    # The directory pages active members newest first.
    sa.Index(
        "ix_members_directory",
        sa.column("registered_at").desc(),
        sa.column("id").desc(),
        postgresql_where=sa.text("status = 'active'"),
    ),
    sa.Index("ix_members_skills", "skills", postgresql_using="gin"),
    sa.Index("ix_members_country", "country_of_residence"),
    # Trigram indexes (pg_trgm) serve the directory's case-insensitive name search.
    sa.Index(
        "ix_members_full_name_trgm",
        "full_name",
        postgresql_using="gin",
        postgresql_ops={"full_name": "gin_trgm_ops"},
    ),
    sa.Index(
        "ix_members_preferred_name_trgm",
        "preferred_name",
        postgresql_using="gin",
        postgresql_ops={"preferred_name": "gin_trgm_ops"},
    ),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column(
        "member_id",
        UUID(as_uuid=True),
        sa.ForeignKey("members.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    # All tokens rotated from one login share a family; reuse of a spent one revokes it all.
    sa.Column("family_id", UUID(as_uuid=True), nullable=False, index=True),
    # SHA-256 of the opaque token: a database leak does not hand out sessions.
    sa.Column("token_hash", sa.Text, nullable=False, unique=True),
    sa.Column("issued_at", TZ, nullable=False),
    sa.Column("expires_at", TZ, nullable=False),
    sa.Column("used_at", TZ),
    sa.Column("revoked_at", TZ),
    sa.Column("replaced_by", UUID(as_uuid=True)),
)

consents = sa.Table(
    "consents",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column(
        "member_id",
        UUID(as_uuid=True),
        sa.ForeignKey("members.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("version", sa.Text, nullable=False),
    sa.Column("granted_at", TZ, nullable=False),
    sa.Column("withdrawn_at", TZ),
    sa.UniqueConstraint("member_id", "kind", "version"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)

# Append-only record of privileged actions (a trigger refuses UPDATE, DELETE and TRUNCATE).
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("occurred_at", TZ, nullable=False),
    # NULL when the action came from the command line (bootstrap of the first admin).
    sa.Column("actor_id", UUID(as_uuid=True)),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("target_type", sa.Text, nullable=False),
    sa.Column("target_id", sa.Text, nullable=False),
    sa.Column("details", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("request_id", sa.Text),
    sa.Column("client_address", sa.Text),
    sa.Index("ix_audit_log_target", "target_type", "target_id"),
)

organisations = sa.Table(
    "organisations",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    # Lower-cased name: the directory's sort key (with id as the tie-breaker).
    sa.Column("name_key", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("country", sa.String(2), nullable=False),
    sa.Column("city", sa.Text),
    sa.Column("website", sa.Text),
    sa.Column("join_policy", sa.Text, nullable=False),
    sa.Column("verified", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("verified_at", TZ),
    sa.Column("status", sa.Text, nullable=False, server_default="active"),
    sa.Column("created_by", UUID(as_uuid=True), nullable=False),
    sa.Column("created_at", TZ, nullable=False),
    sa.Column("updated_at", TZ, nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    # One live organisation per name: nobody can register a second "Ministry of Foreign Affairs".
    sa.Index(
        "uq_organisations_name_active",
        "name_key",
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
    ),
    sa.Index("ix_organisations_directory", "status", "name_key", "id"),
    sa.Index("ix_organisations_country_city", "country", "city"),
)

organisation_memberships = sa.Table(
    "organisation_memberships",
    metadata,
    sa.Column(
        "organisation_id",
        UUID(as_uuid=True),
        sa.ForeignKey("organisations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "member_id",
        UUID(as_uuid=True),
        sa.ForeignKey("members.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("requested_at", TZ, nullable=False),
    sa.Column("joined_at", TZ),
    sa.Index("ix_organisation_memberships_member", "member_id"),
)

# One row per unordered pair (member_low < member_high by UUID bytes).
connections = sa.Table(
    "connections",
    metadata,
    sa.Column(
        "member_low",
        UUID(as_uuid=True),
        sa.ForeignKey("members.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "member_high",
        UUID(as_uuid=True),
        sa.ForeignKey("members.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("requested_by", UUID(as_uuid=True), nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("created_at", TZ, nullable=False),
    sa.Column("responded_at", TZ),
    sa.CheckConstraint("member_low < member_high", name="ordered_pair"),
    sa.Index("ix_connections_member_high", "member_high"),
)

blocks = sa.Table(
    "blocks",
    metadata,
    sa.Column(
        "blocker_id",
        UUID(as_uuid=True),
        sa.ForeignKey("members.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "blocked_id",
        UUID(as_uuid=True),
        sa.ForeignKey("members.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("created_at", TZ, nullable=False),
    sa.Index("ix_blocks_blocked", "blocked_id"),
)
