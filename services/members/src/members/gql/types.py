"""GraphQL output types (entities and payloads)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from members.adapters.repository import AuditEntry
from members.domain import model
from members.domain import organisations as orgs
from members.domain import values as v
from members.domain.connections import Connection, ConnectionStatus
from members.domain.model import Member
from members.domain.organisations import Membership, Organisation
from members.domain.visibility import Relation
from members.gql.base import (
    AccountStatus,
    Ctx,
    EducationLevel,
    FieldVisibility,
    JoinPolicy,
    MembershipStatus,
    OrganisationKind,
    OrganisationRole,
    Sector,
    field,
    signed_in,
    visible,
)
from members.service.accounts import AuthTokens


@strawberry.type(description="A district of Lesotho (ISO 3166-2:LS).")
class District:
    code: str
    name: str


@strawberry.type
class FieldVisibilitySetting:
    field: str
    visibility: FieldVisibility  # type: ignore[valid-type]


@strawberry.federation.type(keys=["id"], name="Member", description="A member of the diaspora.")
class MemberType:
    id: strawberry.ID
    data: strawberry.Private[Member]

    @classmethod
    def from_model(cls, member: model.Member) -> MemberType:
        return cls(id=strawberry.ID(str(member.id)), data=member)

    @classmethod
    async def resolve_reference(cls, info: Ctx, id: strawberry.ID) -> MemberType | None:
        try:
            key = uuid.UUID(str(id))
        except ValueError:
            return None
        return await member_node(info, await info.context.member_loader.load(key))

    @strawberry.field
    async def full_name(self, info: Ctx) -> str | None:
        return await visible(info, self.data, "fullName", self.data.full_name)

    @strawberry.field
    async def preferred_name(self, info: Ctx) -> str | None:
        return await visible(info, self.data, "preferredName", self.data.profile.preferred_name)

    @strawberry.field
    async def email(self, info: Ctx) -> str | None:
        return await visible(info, self.data, "email", self.data.email)

    @strawberry.field
    async def phone(self, info: Ctx) -> str | None:
        return await visible(info, self.data, "phone", self.data.phone)

    @field("ISO 3166-1 alpha-2 code.")
    async def country_of_residence(self, info: Ctx) -> str | None:
        return await visible(info, self.data, "countryOfResidence", self.data.country_of_residence)

    @strawberry.field
    async def district_of_origin(self, info: Ctx) -> District | None:
        code = await visible(info, self.data, "districtOfOrigin", self.data.district_of_origin)
        return District(code=code, name=v.LESOTHO_DISTRICTS[code]) if code else None

    @strawberry.field
    async def city(self, info: Ctx) -> str | None:
        return await visible(info, self.data, "city", self.data.profile.city)

    @strawberry.field
    async def occupation(self, info: Ctx) -> str | None:
        return await visible(info, self.data, "occupation", self.data.profile.occupation)

    @strawberry.field
    async def sector(self, info: Ctx) -> Sector | None:  # type: ignore[valid-type]
        return await visible(info, self.data, "sector", self.data.profile.sector)

    @strawberry.field
    async def skills(self, info: Ctx) -> list[str] | None:
        return await visible(info, self.data, "skills", list(self.data.profile.skills))

    @field("ISO 639-1 codes, e.g. st (Sesotho), en.")
    async def languages(self, info: Ctx) -> list[str] | None:
        return await visible(info, self.data, "languages", list(self.data.profile.languages))

    @strawberry.field
    async def bio(self, info: Ctx) -> str | None:
        return await visible(info, self.data, "bio", self.data.profile.bio)

    @strawberry.field
    async def education_level(self, info: Ctx) -> EducationLevel | None:  # type: ignore[valid-type]
        return await visible(info, self.data, "educationLevel", self.data.profile.education_level)

    @strawberry.field
    async def years_abroad(self, info: Ctx) -> int | None:
        return await visible(info, self.data, "yearsAbroad", self.data.profile.years_abroad)

    @strawberry.field
    async def willing_to_mentor(self, info: Ctx) -> bool | None:
        return await visible(
            info, self.data, "willingToMentor", self.data.profile.willing_to_mentor
        )

    @strawberry.field
    async def willing_to_invest(self, info: Ctx) -> bool | None:
        return await visible(
            info, self.data, "willingToInvest", self.data.profile.willing_to_invest
        )

    @strawberry.field
    async def photo_url(self, info: Ctx) -> str | None:
        return await visible(info, self.data, "photoUrl", self.data.profile.photo_url)

    @strawberry.field
    async def registered_at(self, info: Ctx) -> datetime | None:
        relation = await info.context.relation_to(self.data)
        return self.data.registered_at if relation >= Relation.MEMBER else None

    @field("Your account roles (only on your own profile).")
    async def roles(self, info: Ctx) -> list[str] | None:
        if await info.context.relation_to(self.data) is not Relation.SELF:
            return None
        return sorted(r.value for r in self.data.roles)

    @field("Account status (only on your own profile and for administrators).")
    async def account_status(self, info: Ctx) -> AccountStatus | None:  # type: ignore[valid-type]
        relation = await info.context.relation_to(self.data)
        if relation is Relation.SELF or await info.context.is_admin():
            return self.data.status
        return None

    @field("Organisations you belong to or asked to join (only on your own profile).")
    async def organisations(self, info: Ctx) -> list[MembershipNode] | None:
        if await info.context.relation_to(self.data) is not Relation.SELF:
            return None
        rows = await info.context.services.organisations.memberships_of_member(self.data.id)
        return [MembershipNode(data=m) for m in rows]

    @field("Your accepted connections (only on your own profile).")
    async def connections(self, info: Ctx) -> list[ConnectionNode] | None:
        return await self._connections(info, ConnectionStatus.ACCEPTED, None)

    @field("Connection requests others sent you (only on your own profile).")
    async def incoming_requests(self, info: Ctx) -> list[ConnectionNode] | None:
        return await self._connections(info, ConnectionStatus.PENDING, False)

    @field("Connection requests you sent (only on your own profile).")
    async def outgoing_requests(self, info: Ctx) -> list[ConnectionNode] | None:
        return await self._connections(info, ConnectionStatus.PENDING, True)

    async def _connections(
        self, info: Ctx, status: ConnectionStatus, sent: bool | None
    ) -> list[ConnectionNode] | None:
        if await info.context.relation_to(self.data) is not Relation.SELF:
            return None
        rows = await info.context.services.connections.mine(self.data.id, status)
        me = self.data.id
        return [
            ConnectionNode(data=c, viewer=me)
            for c in rows
            if sent is None or (c.requested_by == me) is sent
        ]

    @field("Members you blocked (only on your own profile).")
    async def blocked_members(self, info: Ctx) -> list[strawberry.ID] | None:
        if await info.context.relation_to(self.data) is not Relation.SELF:
            return None
        ids = await info.context.services.connections.blocked(self.data.id)
        return [strawberry.ID(str(i)) for i in ids]

    @field("Who may see each profile field (only on your own profile).")
    async def field_visibility(self, info: Ctx) -> list[FieldVisibilitySetting] | None:
        if await info.context.relation_to(self.data) is not Relation.SELF:
            return None
        return [
            FieldVisibilitySetting(field=name, visibility=self.data.visibility_of(name))
            for name in model.DEFAULT_VISIBILITY
        ]


async def member_node(info: Ctx, member: Member | None) -> MemberType | None:
    """A member as the viewer may see them: None when erased or blocked either way."""
    if member is None or await info.context.hidden(member):
        return None
    return MemberType.from_model(member)


@strawberry.type(name="Connection", description="A connection (or request) with another member.")
class ConnectionNode:
    data: strawberry.Private[Connection]
    viewer: strawberry.Private[uuid.UUID]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.data.id))

    @field("The other member.")
    async def member(self, info: Ctx) -> MemberType | None:
        other = self.data.other(self.viewer)
        return await member_node(info, await info.context.member_loader.load(other))

    @strawberry.field
    def accepted(self) -> bool:
        return self.data.accepted

    @strawberry.field
    def requested_by_me(self) -> bool:
        return self.data.requested_by == self.viewer

    @strawberry.field
    def created_at(self) -> datetime:
        return self.data.created_at

    @strawberry.field
    def responded_at(self) -> datetime | None:
        return self.data.responded_at


@strawberry.type(
    name="AuditEntry", description="One privileged action, as the append-only audit log keeps it."
)
class AuditEntryType:
    id: strawberry.ID
    occurred_at: datetime
    actor_id: strawberry.ID | None
    action: str
    target_type: str
    target_id: str
    details: JSON
    request_id: str | None
    client_address: str | None

    @classmethod
    def from_entry(cls, entry: AuditEntry) -> AuditEntryType:
        return cls(
            id=strawberry.ID(str(entry.id)),
            occurred_at=entry.occurred_at,
            actor_id=strawberry.ID(str(entry.actor_id)) if entry.actor_id else None,
            action=entry.action,
            target_type=entry.target_type,
            target_id=entry.target_id,
            details=cast(JSON, entry.details),
            request_id=entry.request_id,
            client_address=entry.client_address,
        )


@strawberry.type
class AuditLogPage:
    entries: list[AuditEntryType]
    next_before: strawberry.ID | None = strawberry.field(
        description="Pass as `before` for the next (older) page; null on the last page."
    )


@strawberry.type
class AuthPayload:
    access_token: str
    access_token_expires_at: datetime
    refresh_token: str
    refresh_token_expires_at: datetime
    member_id: strawberry.ID

    @strawberry.field
    async def member(self, info: Ctx) -> MemberType | None:
        member = await info.context.member_loader.load(uuid.UUID(str(self.member_id)))
        return MemberType.from_model(member) if member else None

    @classmethod
    def from_tokens(cls, tokens: AuthTokens) -> AuthPayload:
        return cls(
            access_token=tokens.access_token,
            access_token_expires_at=tokens.access_token_expires_at,
            refresh_token=tokens.refresh_token,
            refresh_token_expires_at=tokens.refresh_token_expires_at,
            member_id=strawberry.ID(str(tokens.member_id)),
        )


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.federation.type(
    keys=["id"],
    name="Organisation",
    description="An association, burial society, chapter, business or government agency.",
)
class OrganisationNode:
    id: strawberry.ID
    data: strawberry.Private[Organisation]

    @classmethod
    def from_model(cls, org: Organisation) -> OrganisationNode:
        return cls(id=strawberry.ID(str(org.id)), data=org)

    @classmethod
    async def resolve_reference(cls, info: Ctx, id: strawberry.ID) -> OrganisationNode | None:
        try:
            key = uuid.UUID(str(id))
        except ValueError:
            return None
        org = await info.context.organisation_loader.load(key)
        return cls.from_model(org) if org else None

    @strawberry.field
    def name(self) -> str:
        return self.data.name

    @strawberry.field
    def type(self) -> OrganisationKind:  # type: ignore[valid-type]
        return self.data.type

    @strawberry.field
    def description(self) -> str | None:
        return self.data.description

    @field("ISO 3166-1 alpha-2 code.")
    def country(self) -> str:
        return self.data.country

    @strawberry.field
    def city(self) -> str | None:
        return self.data.city

    @strawberry.field
    def website(self) -> str | None:
        return self.data.website

    @strawberry.field
    def join_policy(self) -> JoinPolicy:  # type: ignore[valid-type]
        return self.data.join_policy

    @field("Checked by a platform administrator (ministries and agencies, for instance).")
    def verified(self) -> bool:
        return self.data.verified

    @strawberry.field
    def verified_at(self) -> datetime | None:
        return self.data.verified_at

    @strawberry.field
    def created_at(self) -> datetime:
        return self.data.created_at

    @strawberry.field
    async def member_count(self, info: Ctx) -> int:
        return await info.context.member_count_loader.load(self.data.id)

    @field("Your membership (null when you are not a member or not signed in).")
    async def my_membership(self, info: Ctx) -> MembershipNode | None:
        membership = await info.context.my_membership_loader.load(self.data.id)
        return MembershipNode(data=membership) if membership else None

    @signed_in("Active members (visible to the organisation's members and administrators).")
    async def members(self, info: Ctx) -> list[MembershipNode]:
        rows = await info.context.services.organisations.members_of(
            await info.context.actor(), self.data.id, orgs.MembershipStatus.ACTIVE
        )
        return [MembershipNode(data=m) for m in rows]

    @field("Requests waiting for approval (owners and admins only).")
    async def pending_requests(self, info: Ctx) -> list[MembershipNode]:
        rows = await info.context.services.organisations.members_of(
            await info.context.actor(), self.data.id, orgs.MembershipStatus.PENDING
        )
        return [MembershipNode(data=m) for m in rows]


@strawberry.type(name="OrganisationMembership")
class MembershipNode:
    data: strawberry.Private[Membership]

    @strawberry.field
    async def organisation(self, info: Ctx) -> OrganisationNode | None:
        org = await info.context.organisation_loader.load(self.data.organisation_id)
        return OrganisationNode.from_model(org) if org else None

    @strawberry.field
    async def member(self, info: Ctx) -> MemberType | None:
        return await member_node(info, await info.context.member_loader.load(self.data.member_id))

    @strawberry.field
    def role(self) -> OrganisationRole:  # type: ignore[valid-type]
        return self.data.role

    @strawberry.field
    def status(self) -> MembershipStatus:  # type: ignore[valid-type]
        return self.data.status

    @strawberry.field
    def requested_at(self) -> datetime:
        return self.data.requested_at

    @strawberry.field
    def joined_at(self) -> datetime | None:
        return self.data.joined_at


@strawberry.type
class OrganisationEdge:
    cursor: str
    node: OrganisationNode


@strawberry.type
class OrganisationConnection:
    edges: list[OrganisationEdge]
    page_info: PageInfo
