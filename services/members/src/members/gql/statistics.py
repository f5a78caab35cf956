"""Public diaspora statistics."""

from __future__ import annotations

import pycountry
import strawberry

from members.domain import values as v
from members.domain.statistics import Breakdown
from members.gql.base import Ctx, field


@strawberry.type
class StatisticCell:
    key: str
    label: str | None
    count: int


@strawberry.type(description="Cells under the threshold are never shown or named.")
class StatisticBreakdown:
    cells: list[StatisticCell]
    other_count: int | None = strawberry.field(
        description="All suppressed cells together; null when that total is itself too small."
    )


def _label(dimension: str, key: str) -> str | None:
    if dimension == "district":
        return v.LESOTHO_DISTRICTS.get(key)
    if dimension == "country":
        country = pycountry.countries.get(alpha_2=key)
        return str(country.name) if country else None
    return None


def _breakdown(dimension: str, data: Breakdown) -> StatisticBreakdown:
    return StatisticBreakdown(
        cells=[
            StatisticCell(key=c.key, label=_label(dimension, c.key), count=c.count)
            for c in data.cells
        ],
        other_count=data.other_count,
    )


@strawberry.type(description="Counts about the diaspora, with small cells suppressed.")
class DiasporaStatistics:
    minimum_cell_size: int
    total_members: int | None
    countries: int | None = strawberry.field(description="Countries where members live.")
    by_country: StatisticBreakdown
    by_district_of_origin: StatisticBreakdown
    by_sector: StatisticBreakdown
    by_skill: StatisticBreakdown
    registrations_by_month: StatisticBreakdown


@strawberry.type
class StatisticsQuery:
    @field("Public figures (members by country, district, sector, skill, month).")
    async def diaspora_statistics(self, info: Ctx) -> DiasporaStatistics:
        stats = await info.context.services.statistics.compute()
        return DiasporaStatistics(
            minimum_cell_size=stats.threshold,
            total_members=stats.total_members,
            countries=stats.countries,
            by_country=_breakdown("country", stats.by_country),
            by_district_of_origin=_breakdown("district", stats.by_district),
            by_sector=_breakdown("sector", stats.by_sector),
            by_skill=_breakdown("skill", stats.by_skill),
            registrations_by_month=_breakdown("month", stats.registrations_by_month),
        )
