"""The member directory."""

from __future__ import annotations

import strawberry

from members.gql.base import Ctx, Sector, signed_in
from members.gql.types import MemberType, PageInfo
from members.service.directory import encode_cursor, normalise_filter


@strawberry.input(description="Each filter only matches fields the viewer may see.")
class MemberFilter:
    name: str | None = None
    country: str | None = strawberry.field(default=None, description="Country of residence.")
    city: str | None = None
    district_of_origin: str | None = strawberry.field(default=None, description="LS-A … LS-K.")
    skill: str | None = None
    sector: Sector | None = None  # type: ignore[valid-type]
    willing_to_mentor: bool | None = None
    willing_to_invest: bool | None = None


@strawberry.type
class MemberEdge:
    cursor: str
    node: MemberType


@strawberry.type
class MemberConnection:
    edges: list[MemberEdge]
    page_info: PageInfo


@strawberry.type
class DirectoryQuery:
    @signed_in("Find members (signed-in only), newest first, with cursor pagination.")
    async def members(
        self,
        info: Ctx,
        filter: MemberFilter | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> MemberConnection:
        f = filter or MemberFilter()
        flt = normalise_filter(
            name=f.name,
            country=f.country,
            city=f.city,
            district=f.district_of_origin,
            skill=f.skill,
            sector=str(f.sector) if f.sector else None,
            willing_to_mentor=f.willing_to_mentor,
            willing_to_invest=f.willing_to_invest,
        )
        rows, has_next = await info.context.services.directory.search(
            await info.context.actor(), flt, first=first, after=after
        )
        edges = [MemberEdge(cursor=encode_cursor(m), node=MemberType.from_model(m)) for m in rows]
        return MemberConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=has_next, end_cursor=edges[-1].cursor if edges else None
            ),
        )
