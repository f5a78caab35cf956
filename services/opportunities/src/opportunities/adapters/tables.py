"""The opportunities database schema: one ``MetaData`` with our tables and the kit's outbox/inbox."""

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
TEXTS = ARRAY(sa.Text)
EMPTY = sa.text("'{}'")

opportunities = sa.Table(
    "opportunities",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("organisation_id", UUID(as_uuid=True), nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("sector", sa.Text),
    sa.Column("country", sa.String(2)),
    sa.Column("city", sa.Text),
    sa.Column("remote", sa.Boolean, nullable=False),
    sa.Column("skills", TEXTS, nullable=False, server_default=EMPTY),
    sa.Column("languages", TEXTS, nullable=False, server_default=EMPTY),
    sa.Column("deadline", sa.Date),
    # Kind-specific parts (job: employment type, salary range; investment: amounts, return).
    sa.Column("details", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("created_by", UUID(as_uuid=True), nullable=False),
    sa.Column("created_at", TZ, nullable=False),
    sa.Column("updated_at", TZ, nullable=False),
    sa.Column("published_at", TZ),
    sa.Column("closed_at", TZ),
    # The browse order: creation time for drafts, publication time once open.
    sa.Column("listed_at", TZ, nullable=False),
    sa.CheckConstraint("status IN ('DRAFT', 'OPEN', 'CLOSED', 'WITHDRAWN')", name="status"),
    sa.Index("ix_opportunities_skills", "skills", postgresql_using="gin"),
    # Recommendations look up open postings one member skill at a time. Postings are written
    # rarely and read often: no pending list (fastupdate) for reads to scan.
    sa.Index(
        "ix_opportunities_open_skills",
        "skills",
        postgresql_using="gin",
        postgresql_where=sa.text("status = 'OPEN'"),
        postgresql_with={"fastupdate": "off"},
    ),
    sa.Index(
        "ix_opportunities_listing",
        sa.column("status"),
        sa.column("listed_at").desc(),
        sa.column("id").desc(),
    ),
    sa.Index(
        "ix_opportunities_organisation",
        "organisation_id",
        sa.column("listed_at").desc(),
        sa.column("id").desc(),
    ),
    # The deadline sweep and "closing soon" look only at open opportunities.
    sa.Index(
        "ix_opportunities_open_deadline",
        "deadline",
        "id",
        postgresql_where=sa.text("status = 'OPEN'"),
    ),
)

applications = sa.Table(
    "applications",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column(
        "opportunity_id",
        UUID(as_uuid=True),
        sa.ForeignKey("opportunities.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("applicant_id", UUID(as_uuid=True), nullable=False),
    # Free text; NULL once the applicant erased their account.
    sa.Column("message", sa.Text),
    sa.Column("links", TEXTS, nullable=False, server_default=EMPTY),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("history", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    sa.Column("submitted_at", TZ, nullable=False),
    sa.Column("updated_at", TZ, nullable=False),
    # Once per member per opportunity, enforced where concurrent requests cannot race it.
    sa.UniqueConstraint("opportunity_id", "applicant_id"),
    sa.Index("ix_applications_applicant", "applicant_id", sa.column("submitted_at").desc(), "id"),
    sa.Index(
        "ix_applications_opportunity_order",
        "opportunity_id",
        sa.column("submitted_at").desc(),
        "id",
    ),
)

saved_searches = sa.Table(
    "saved_searches",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("member_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("name", sa.Text, nullable=False),
    # Empty array / NULL = any.
    sa.Column("kinds", TEXTS, nullable=False, server_default=EMPTY),
    sa.Column("sector", sa.Text),
    sa.Column("country", sa.String(2)),
    sa.Column("remote", sa.Boolean),
    sa.Column("skills", TEXTS, nullable=False, server_default=EMPTY),
    sa.Column("created_at", TZ, nullable=False),
)

# The service's own view of members, fed by member events (never the members database).
member_profiles = sa.Table(
    "member_profiles",
    metadata,
    sa.Column("member_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("skills", TEXTS, nullable=False, server_default=EMPTY),
    sa.Column("sector", sa.Text),
    sa.Column("country", sa.String(2)),
    sa.Column("languages", TEXTS, nullable=False, server_default=EMPTY),
    sa.Column("mentor", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("investor", sa.Boolean, nullable=False, server_default=sa.false()),
    # When the members service made the change: an older event never overwrites a newer one.
    sa.Column("as_of", TZ, nullable=False),
    sa.Index("ix_member_profiles_skills", "skills", postgresql_using="gin"),
    sa.Index("ix_member_profiles_sector", "sector"),
    sa.Index("ix_member_profiles_country", "country"),
)

# Ids only: a late or replayed event about an erased member must not bring its profile back.
erased_members = sa.Table(
    "erased_members",
    metadata,
    sa.Column("member_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("erased_at", TZ, nullable=False),
)

# Who may post: organisations' verified badge and their officials (owners and admins).
organisations = sa.Table(
    "organisations",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("verified", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("removed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("updated_at", TZ, nullable=False),
)

organisation_officials = sa.Table(
    "organisation_officials",
    metadata,
    sa.Column("organisation_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("member_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("role", sa.Text, nullable=False),
    sa.Index("ix_organisation_officials_member", "member_id"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
