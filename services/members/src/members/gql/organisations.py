"""Organisations: directory, life cycle, membership and verification."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

import strawberry

from members.domain import organisations as orgs
from members.domain import values as v
from members.gql.base import (
    Ctx,
    JoinPolicy,
    OrganisationKind,
    OrganisationRole,
    field,
    signed_in,
)
from members.gql.types import (
    MembershipNode,
    OrganisationConnection,
    OrganisationEdge,
    OrganisationNode,
    PageInfo,
)
from members.service.common import parse_id
from members.service.organisations import encode_cursor


@strawberry.input
class CreateOrganisationInput:
    name: str
    type: OrganisationKind  # type: ignore[valid-type]
    country: str = strawberry.field(description="ISO 3166-1 alpha-2 code.")
    join_policy: JoinPolicy = orgs.JoinPolicy.OPEN  # type: ignore[valid-type]
    description: str | None = None
    city: str | None = None
    website: str | None = strawberry.field(default=None, description="An https:// URL.")


@strawberry.input(description="Only the fields you send change; null clears an optional field.")
class UpdateOrganisationInput:
    name: str | None = strawberry.UNSET
    type: OrganisationKind | None = strawberry.UNSET  # type: ignore[valid-type]
    country: str | None = strawberry.UNSET
    join_policy: JoinPolicy | None = strawberry.UNSET  # type: ignore[valid-type]
    description: str | None = strawberry.UNSET
    city: str | None = strawberry.UNSET
    website: str | None = strawberry.UNSET

    def changes(self) -> dict[str, Any]:
        raw: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not strawberry.UNSET:
                raw[f.name] = value.value if isinstance(value, enum.Enum) else value
        return raw


@strawberry.input
class OrganisationFilter:
    type: OrganisationKind | None = None  # type: ignore[valid-type]
    country: str | None = None
    city: str | None = None
    verified: bool | None = None
    search: str | None = strawberry.field(default=None, description="Part of the name.")

    def to_domain(self) -> orgs.OrganisationFilter:
        search = v.normalise_text(self.search, field="search") if self.search else None
        return orgs.OrganisationFilter(
            type=orgs.OrganisationType(self.type) if self.type else None,
            country=v.normalise_country(self.country, field="country") if self.country else None,
            city=v.normalise_text(self.city, field="city") if self.city else None,
            verified=self.verified,
            search=search,
        )


@strawberry.type
class OrganisationQuery:
    @strawberry.field
    async def organisation(self, info: Ctx, id: strawberry.ID) -> OrganisationNode | None:
        return await OrganisationNode.resolve_reference(info, id)

    @field("The directory of organisations, by name, with cursor pagination.")
    async def organisations(
        self,
        info: Ctx,
        filter: OrganisationFilter | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> OrganisationConnection:
        flt = filter.to_domain() if filter else orgs.OrganisationFilter()
        rows, has_next = await info.context.services.organisations.directory(
            flt, first=first, after=after
        )
        edges = [
            OrganisationEdge(cursor=encode_cursor(o), node=OrganisationNode.from_model(o))
            for o in rows
        ]
        return OrganisationConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=has_next, end_cursor=edges[-1].cursor if edges else None
            ),
        )


@strawberry.type
class OrganisationMutation:
    @signed_in("Create an organisation; you become its owner.")
    async def create_organisation(
        self, info: Ctx, input: CreateOrganisationInput
    ) -> OrganisationNode:
        org = await info.context.services.organisations.create(
            await info.context.actor(),
            orgs.OrganisationInput(
                name=input.name,
                type=orgs.OrganisationType(input.type),
                country=input.country,
                join_policy=orgs.JoinPolicy(input.join_policy),
                description=input.description,
                city=input.city,
                website=input.website,
            ),
        )
        return OrganisationNode.from_model(org)

    @signed_in("Owners and admins; renaming or retyping a verified organisation needs a new check.")
    async def update_organisation(
        self, info: Ctx, id: strawberry.ID, input: UpdateOrganisationInput
    ) -> OrganisationNode:
        org = await info.context.services.organisations.update(
            await info.context.actor(), parse_id(id, "organisationId"), input.changes()
        )
        return OrganisationNode.from_model(org)

    @signed_in("Join (open organisations) or ask to join (by approval).")
    async def join_organisation(self, info: Ctx, id: strawberry.ID) -> MembershipNode:
        membership = await info.context.services.organisations.join(
            await info.context.actor(), parse_id(id, "organisationId")
        )
        return MembershipNode(data=membership)

    @signed_in()
    async def approve_membership(
        self, info: Ctx, organisation_id: strawberry.ID, member_id: strawberry.ID
    ) -> MembershipNode:
        membership = await info.context.services.organisations.approve(
            await info.context.actor(),
            parse_id(organisation_id, "organisationId"),
            parse_id(member_id, "memberId"),
        )
        return MembershipNode(data=membership)

    @signed_in()
    async def decline_membership(
        self, info: Ctx, organisation_id: strawberry.ID, member_id: strawberry.ID
    ) -> bool:
        return await info.context.services.organisations.decline(
            await info.context.actor(),
            parse_id(organisation_id, "organisationId"),
            parse_id(member_id, "memberId"),
        )

    @signed_in("Leave an organisation (or withdraw a pending request).")
    async def leave_organisation(self, info: Ctx, id: strawberry.ID) -> bool:
        return await info.context.services.organisations.leave(
            await info.context.actor(), parse_id(id, "organisationId")
        )

    @signed_in()
    async def remove_organisation_member(
        self, info: Ctx, organisation_id: strawberry.ID, member_id: strawberry.ID
    ) -> bool:
        return await info.context.services.organisations.remove_member(
            await info.context.actor(),
            parse_id(organisation_id, "organisationId"),
            parse_id(member_id, "memberId"),
        )

    @signed_in("Owners only: make a member an owner, admin or plain member.")
    async def set_organisation_role(
        self,
        info: Ctx,
        organisation_id: strawberry.ID,
        member_id: strawberry.ID,
        role: OrganisationRole,  # type: ignore[valid-type]
    ) -> MembershipNode:
        membership = await info.context.services.organisations.set_role(
            await info.context.actor(),
            parse_id(organisation_id, "organisationId"),
            parse_id(member_id, "memberId"),
            orgs.OrganisationRole(role),
        )
        return MembershipNode(data=membership)

    @signed_in("Owners, or platform administrators (audited).")
    async def remove_organisation(self, info: Ctx, id: strawberry.ID) -> bool:
        return await info.context.services.organisations.remove(
            await info.context.actor(), parse_id(id, "organisationId")
        )

    @signed_in("Platform administrators: grant or withdraw the verified badge (audited).")
    async def verify_organisation(
        self, info: Ctx, id: strawberry.ID, verified: bool = True
    ) -> OrganisationNode:
        org = await info.context.services.organisations.verify(
            await info.context.actor(), parse_id(id, "organisationId"), verified
        )
        return OrganisationNode.from_model(org)
