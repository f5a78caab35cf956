"""Queries and mutations: thin, they translate GraphQL input and call the use cases."""

from __future__ import annotations

from typing import Any, cast

import strawberry
from strawberry.scalars import JSON

from kopano.errors import NotFound
from kopano.graphql import decode_cursor, page_size
from opportunities.adapters.repository import OpportunityFilter
from opportunities.domain import model as m
from opportunities.gql.types import (
    ApplicationType,
    Connection,
    CreateOpportunityInput,
    Ctx,
    OpportunityContentInput,
    OpportunityFilterInput,
    OpportunityType,
    ReviewDecision,
    SavedSearchType,
    SearchCriteriaInput,
    connection,
    deadline_cursor,
    field,
    listing_cursor,
    parse_id,
    signed_in,
    signed_in_mutation,
)
from opportunities.service import normalise_country, normalise_sector


def page_args(first: int, after: str | None) -> tuple[int, tuple[Any, ...] | None]:
    return page_size(first), decode_cursor(after, length=2) if after is not None else None


@strawberry.type
class Query:
    @field("One opportunity (drafts and withdrawn ones only for the organisation's officials).")
    async def opportunity(self, info: Ctx, id: strawberry.ID) -> OpportunityType | None:
        return await OpportunityType.resolve_reference(info, id)

    @field(
        "Search and browse: newest first, or soonest deadline first with closingSoon. Cursor "
        "pagination with a stable order."
    )
    async def opportunities(
        self,
        info: Ctx,
        filter: OpportunityFilterInput | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[OpportunityType]:
        f = filter or OpportunityFilterInput()
        service = info.context.service
        closing_by = (
            service.closing_by(f.closing_within_days)
            if f.closing_soon or f.closing_within_days is not None
            else None
        )
        skills: frozenset[str] = frozenset()
        if f.skills:
            from opportunities.service import domain_errors

            with domain_errors():
                skills = frozenset(m.normalise_skills(f.skills))
        flt = OpportunityFilter(
            kinds=frozenset(f.kinds or ()),
            sector=normalise_sector(f.sector),
            country=normalise_country(f.country),
            remote=f.remote,
            skills=skills,
            organisation_id=parse_id(f.organisation_id, "organisationId")
            if f.organisation_id
            else None,
            open_only=f.open_only,
            closing_by=closing_by,
        )
        size, cursor = page_args(first, after)
        page = await service.search(info.context.viewer_id(), flt, first=size, after=cursor)
        return connection(
            page,
            OpportunityType.wrap,
            deadline_cursor if closing_by is not None else listing_cursor,
        )

    @signed_in("An application: for its applicant and the organisation's officials only.")
    async def application(self, info: Ctx, id: strawberry.ID) -> ApplicationType | None:
        info.context.member_id()
        return await ApplicationType.resolve_reference(info, id)

    @signed_in("Your saved searches.")
    async def my_saved_searches(self, info: Ctx) -> list[SavedSearchType]:
        viewer = info.context.member_id()
        return [SavedSearchType.of(s) for s in await info.context.service.saved_searches(viewer)]

    @signed_in("Everything the opportunities service holds about you, as one JSON document.")
    async def my_opportunities_data(self, info: Ctx) -> JSON:
        data = await info.context.service.my_data(info.context.member_id())
        return cast(JSON, data)


@strawberry.type
class Mutation:
    @signed_in_mutation("A draft posting; only officials of a verified organisation may post.")
    async def create_opportunity(self, info: Ctx, input: CreateOpportunityInput) -> OpportunityType:
        member = info.context.member_id()
        details = input.to_domain(input.kind, parse_id(input.organisation_id, "organisationId"))
        return OpportunityType(data=await info.context.service.create(member, details))

    @signed_in_mutation("Replace a draft or open posting's content (kind and organisation stay).")
    async def update_opportunity(
        self, info: Ctx, id: strawberry.ID, input: OpportunityContentInput
    ) -> OpportunityType:
        member = info.context.member_id()
        opp_id = parse_id(id, "id")
        current = await info.context.service.visible(member, [opp_id])
        if opp_id not in current:
            raise NotFound("No such opportunity.", field="id")
        existing = current[opp_id].details
        details = input.to_domain(existing.kind, existing.organisation_id)
        return OpportunityType(data=await info.context.service.update(member, opp_id, details))

    @signed_in_mutation("Open a draft for applications (announced, and matched to saved searches).")
    async def publish_opportunity(self, info: Ctx, id: strawberry.ID) -> OpportunityType:
        opp = await info.context.service.publish(info.context.member_id(), parse_id(id, "id"))
        return OpportunityType(data=opp)

    @signed_in_mutation("Stop taking applications.")
    async def close_opportunity(self, info: Ctx, id: strawberry.ID) -> OpportunityType:
        opp = await info.context.service.close(info.context.member_id(), parse_id(id, "id"))
        return OpportunityType(data=opp)

    @signed_in_mutation("Take a draft or open posting down.")
    async def withdraw_opportunity(self, info: Ctx, id: strawberry.ID) -> OpportunityType:
        opp = await info.context.service.withdraw(info.context.member_id(), parse_id(id, "id"))
        return OpportunityType(data=opp)

    @signed_in_mutation("Apply to a job, scholarship or volunteering post (once).")
    async def apply(
        self,
        info: Ctx,
        opportunity_id: strawberry.ID,
        message: str,
        links: list[str] | None = None,
    ) -> ApplicationType:
        app = await info.context.service.apply(
            info.context.member_id(),
            parse_id(opportunity_id, "opportunityId"),
            message,
            links or [],
            interest=False,
        )
        return ApplicationType(data=app)

    @signed_in_mutation("Express interest in an investment, tender or mentorship request (once).")
    async def express_interest(
        self,
        info: Ctx,
        opportunity_id: strawberry.ID,
        message: str,
        links: list[str] | None = None,
    ) -> ApplicationType:
        app = await info.context.service.apply(
            info.context.member_id(),
            parse_id(opportunity_id, "opportunityId"),
            message,
            links or [],
            interest=True,
        )
        return ApplicationType(data=app)

    @signed_in_mutation("Withdraw your application while the posting is open.")
    async def withdraw_application(self, info: Ctx, id: strawberry.ID) -> ApplicationType:
        app = await info.context.service.withdraw_application(
            info.context.member_id(), parse_id(id, "id")
        )
        return ApplicationType(data=app)

    @signed_in_mutation("Shortlist, reject or accept (the organisation's officials).")
    async def review_application(
        self,
        info: Ctx,
        id: strawberry.ID,
        decision: ReviewDecision,
    ) -> ApplicationType:
        status = m.ApplicationStatus(decision.value)
        app = await info.context.service.review(
            info.context.member_id(), parse_id(id, "id"), status
        )
        return ApplicationType(data=app)

    @signed_in_mutation("Save search criteria; matching new postings raise opportunity.matched.")
    async def save_search(
        self, info: Ctx, name: str, criteria: SearchCriteriaInput
    ) -> SavedSearchType:
        search = await info.context.service.save_search(
            info.context.member_id(), name, criteria.to_domain()
        )
        return SavedSearchType.of(search)

    @signed_in_mutation("Delete one of your saved searches.")
    async def delete_search(self, info: Ctx, id: strawberry.ID) -> bool:
        return await info.context.service.delete_search(
            info.context.member_id(), parse_id(id, "id")
        )
