"""Public diaspora statistics with small-cell suppression."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from members.adapters import tables as t
from members.domain.model import DEFAULT_VISIBILITY, MemberStatus, Visibility
from members.domain.statistics import Breakdown, suppress, suppress_total
from members.service.common import ServiceConfig

m = t.members
TOP_SKILLS = 50


@dataclass(frozen=True, slots=True)
class DiasporaStatistics:
    threshold: int
    total_members: int | None
    countries: int | None
    by_country: Breakdown
    by_district: Breakdown
    by_sector: Breakdown
    by_skill: Breakdown
    registrations_by_month: Breakdown


def _not_private(field: str) -> sa.ColumnElement[bool]:
    # A field a member keeps PRIVATE is left out of that breakdown; anything they show to
    # other members may be counted (anonymously, with suppression).
    level = sa.func.coalesce(m.c.visibility[field].astext, DEFAULT_VISIBILITY[field].value)
    return level != Visibility.PRIVATE.value


class StatisticsService:
    def __init__(self, config: ServiceConfig, threshold: int) -> None:
        self.config = config
        self.threshold = threshold

    async def compute(self) -> DiasporaStatistics:
        active = m.c.status == MemberStatus.ACTIVE.value
        k = self.threshold
        async with self.config.uow() as uow:
            conn = uow.conn

            async def grouped(
                key: sa.ColumnElement[Any],
                *where: sa.ColumnElement[bool],
                from_: sa.FromClause = m,
            ) -> dict[str, int]:
                query = sa.select(key, sa.func.count()).select_from(from_).where(key.is_not(None))
                if from_ is m:
                    query = query.where(active)
                rows = await conn.execute(query.where(*where).group_by(key))
                return {str(r[0]): int(r[1]) for r in rows}

            total = int(await conn.scalar(sa.select(sa.func.count()).where(active)) or 0)
            by_country = await grouped(m.c.country_of_residence, _not_private("countryOfResidence"))
            by_district = await grouped(m.c.district_of_origin, _not_private("districtOfOrigin"))
            by_sector = await grouped(m.c.sector, _not_private("sector"))
            skills = (
                sa.select(sa.func.unnest(m.c.skills).label("skill"))
                .where(active, _not_private("skills"))
                .subquery()
            )
            by_skill = await grouped(skills.c.skill, from_=skills)
            month = sa.func.to_char(sa.func.timezone("UTC", m.c.registered_at), "YYYY-MM")
            by_month = await grouped(month)
        return DiasporaStatistics(
            threshold=k,
            total_members=suppress_total(total, k),
            countries=len(by_country) if total >= k else None,
            by_country=suppress(by_country, k),
            by_district=suppress(by_district, k),
            by_sector=suppress(by_sector, k),
            by_skill=suppress(by_skill, k, limit=TOP_SKILLS),
            registrations_by_month=suppress(by_month, k, by_key=True),
        )
