"""The member directory query: every filter only matches on fields the viewer may see.

A filter on a field the viewer may not see behaves as if the field were empty, so search
results, their order (registration time, never a personal field) and their number reveal
nothing that the profile itself would hide.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from members.adapters import tables as t
from members.adapters.repository import member_from_row
from members.domain.connections import ConnectionStatus
from members.domain.model import DEFAULT_VISIBILITY, Member, MemberStatus, Visibility

m = t.members
c = t.connections
b = t.blocks


@dataclass(frozen=True, slots=True)
class DirectoryFilter:
    name: str | None = None
    country: str | None = None
    city: str | None = None
    district: str | None = None
    skill: str | None = None
    sector: str | None = None
    willing_to_mentor: bool | None = None
    willing_to_invest: bool | None = None


def _is_connected(viewer: uuid.UUID) -> sa.ColumnElement[bool]:
    return sa.exists().where(
        c.c.status == ConnectionStatus.ACCEPTED.value,
        sa.or_(
            sa.and_(c.c.member_low == viewer, c.c.member_high == m.c.id),
            sa.and_(c.c.member_high == viewer, c.c.member_low == m.c.id),
        ),
    )


def visible(field: str, viewer: uuid.UUID | None) -> sa.ColumnElement[bool]:
    """SQL twin of ``members.domain.visibility.field_visible`` for the row being filtered."""
    level = sa.func.coalesce(m.c.visibility[field].astext, DEFAULT_VISIBILITY[field].value)
    if viewer is None:
        return level == Visibility.PUBLIC.value
    is_self = m.c.id == viewer
    return sa.case(
        (level == Visibility.PUBLIC.value, sa.true()),
        (level == Visibility.MEMBERS.value, sa.true()),
        (level == Visibility.CONNECTIONS.value, sa.or_(is_self, _is_connected(viewer))),
        else_=is_self,
    )


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search(
    conn: AsyncConnection,
    flt: DirectoryFilter,
    *,
    viewer: uuid.UUID | None,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Member]:
    conditions: list[sa.ColumnElement[bool]] = [m.c.status == MemberStatus.ACTIVE.value]
    if viewer is not None:
        conditions.append(
            ~sa.exists().where(
                sa.or_(
                    sa.and_(b.c.blocker_id == viewer, b.c.blocked_id == m.c.id),
                    sa.and_(b.c.blocker_id == m.c.id, b.c.blocked_id == viewer),
                )
            )
        )
    if flt.name:
        pattern = _like(flt.name)
        conditions.append(
            sa.or_(
                sa.and_(m.c.full_name.ilike(pattern, escape="\\"), visible("fullName", viewer)),
                sa.and_(
                    m.c.preferred_name.ilike(pattern, escape="\\"),
                    visible("preferredName", viewer),
                ),
            )
        )
    simple: list[tuple[Any, str, Any]] = [
        (m.c.country_of_residence, "countryOfResidence", flt.country),
        (m.c.district_of_origin, "districtOfOrigin", flt.district),
        (m.c.sector, "sector", flt.sector),
        (m.c.willing_to_mentor, "willingToMentor", flt.willing_to_mentor),
        (m.c.willing_to_invest, "willingToInvest", flt.willing_to_invest),
    ]
    for column, field, value in simple:
        if value is not None:
            conditions.append(sa.and_(column == value, visible(field, viewer)))
    if flt.city:
        conditions.append(
            sa.and_(sa.func.lower(m.c.city) == flt.city.casefold(), visible("city", viewer))
        )
    if flt.skill:
        conditions.append(sa.and_(m.c.skills.contains([flt.skill]), visible("skills", viewer)))
    if after is not None:
        conditions.append(sa.tuple_(m.c.registered_at, m.c.id) < sa.tuple_(*after))
    query = (
        sa.select(m)
        .where(*conditions)
        .order_by(m.c.registered_at.desc(), m.c.id.desc())
        .limit(limit)
    )
    return [member_from_row(row) for row in await conn.execute(query)]
