"""The members subgraph (strawberry, Apollo Federation v2). Thin: resolvers call the use cases."""

from __future__ import annotations

import dataclasses
import enum
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from kopano.errors import BadUserInput, MaskErrors
from members.adapters.repository import AuditEntry
from members.context import MembersContext
from members.domain import model
from members.domain import values as v
from members.domain.model import Member
from members.domain.visibility import Relation, field_visible
from members.service.accounts import AuthTokens
from members.service.common import parse_id

Sector = strawberry.enum(v.Sector, description="Economic sector of a member's work.")
EducationLevel = strawberry.enum(v.EducationLevel)
RoleEnum = strawberry.enum(model.Role, name="Role", description="Account roles.")
AccountStatus = strawberry.enum(model.MemberStatus, name="AccountStatus")
FieldVisibility = strawberry.enum(
    model.Visibility, name="Visibility", description="Who may see a profile field."
)

Ctx = Info[MembersContext, None]
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def field(description: str) -> Callable[[F], F]:
    """``strawberry.field`` with a description, typed for mypy (the overload is ``Any``)."""
    return cast(Callable[[F], F], strawberry.field(description=description))


def mutation(description: str) -> Callable[[F], F]:
    return cast(Callable[[F], F], strawberry.mutation(description=description))


async def _visible(info: Ctx, member: model.Member, name: str, value: T) -> T | None:
    """The value when the viewer may see this field, else None (never a hint that it exists)."""
    if field_visible(member, name, await info.context.relation_to(member)):
        return value
    return None


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
        member = await info.context.member_loader.load(key)
        if member is None or member.status is model.MemberStatus.ERASED:
            return None
        return cls.from_model(member)

    @strawberry.field
    async def full_name(self, info: Ctx) -> str | None:
        return await _visible(info, self.data, "fullName", self.data.full_name)

    @strawberry.field
    async def preferred_name(self, info: Ctx) -> str | None:
        return await _visible(info, self.data, "preferredName", self.data.profile.preferred_name)

    @strawberry.field
    async def email(self, info: Ctx) -> str | None:
        return await _visible(info, self.data, "email", self.data.email)

    @strawberry.field
    async def phone(self, info: Ctx) -> str | None:
        return await _visible(info, self.data, "phone", self.data.phone)

    @field("ISO 3166-1 alpha-2 code.")
    async def country_of_residence(self, info: Ctx) -> str | None:
        return await _visible(info, self.data, "countryOfResidence", self.data.country_of_residence)

    @strawberry.field
    async def district_of_origin(self, info: Ctx) -> District | None:
        code = await _visible(info, self.data, "districtOfOrigin", self.data.district_of_origin)
        return District(code=code, name=v.LESOTHO_DISTRICTS[code]) if code else None

    @strawberry.field
    async def city(self, info: Ctx) -> str | None:
        return await _visible(info, self.data, "city", self.data.profile.city)

    @strawberry.field
    async def occupation(self, info: Ctx) -> str | None:
        return await _visible(info, self.data, "occupation", self.data.profile.occupation)

    @strawberry.field
    async def sector(self, info: Ctx) -> Sector | None:  # type: ignore[valid-type]
        return await _visible(info, self.data, "sector", self.data.profile.sector)

    @strawberry.field
    async def skills(self, info: Ctx) -> list[str] | None:
        return await _visible(info, self.data, "skills", list(self.data.profile.skills))

    @field("ISO 639-1 codes, e.g. st (Sesotho), en.")
    async def languages(self, info: Ctx) -> list[str] | None:
        return await _visible(info, self.data, "languages", list(self.data.profile.languages))

    @strawberry.field
    async def bio(self, info: Ctx) -> str | None:
        return await _visible(info, self.data, "bio", self.data.profile.bio)

    @strawberry.field
    async def education_level(self, info: Ctx) -> EducationLevel | None:  # type: ignore[valid-type]
        return await _visible(info, self.data, "educationLevel", self.data.profile.education_level)

    @strawberry.field
    async def years_abroad(self, info: Ctx) -> int | None:
        return await _visible(info, self.data, "yearsAbroad", self.data.profile.years_abroad)

    @strawberry.field
    async def willing_to_mentor(self, info: Ctx) -> bool | None:
        return await _visible(
            info, self.data, "willingToMentor", self.data.profile.willing_to_mentor
        )

    @strawberry.field
    async def willing_to_invest(self, info: Ctx) -> bool | None:
        return await _visible(
            info, self.data, "willingToInvest", self.data.profile.willing_to_invest
        )

    @strawberry.field
    async def photo_url(self, info: Ctx) -> str | None:
        return await _visible(info, self.data, "photoUrl", self.data.profile.photo_url)

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

    @field("Who may see each profile field (only on your own profile).")
    async def field_visibility(self, info: Ctx) -> list[FieldVisibilitySetting] | None:
        if await info.context.relation_to(self.data) is not Relation.SELF:
            return None
        return [
            FieldVisibilitySetting(field=name, visibility=self.data.visibility_of(name))
            for name in model.DEFAULT_VISIBILITY
        ]


@strawberry.type(description="One privileged action, as the append-only audit log keeps it.")
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


@strawberry.input
class RegisterInput:
    email: str
    password: str
    full_name: str
    country_of_residence: str = strawberry.field(description="ISO 3166-1 alpha-2, e.g. ZA.")
    accept_terms: bool
    accept_data_processing: bool
    phone: str | None = strawberry.field(default=None, description="E.164, e.g. +26650123456.")
    district_of_origin: str | None = strawberry.field(default=None, description="LS-A … LS-K.")
    consent_version: str | None = strawberry.field(
        default=None, description="The terms version the member read; must be the current one."
    )


@strawberry.input(description="Only the fields you send change; null clears an optional field.")
class UpdateProfileInput:
    full_name: str | None = strawberry.UNSET
    preferred_name: str | None = strawberry.UNSET
    country_of_residence: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    district_of_origin: str | None = strawberry.UNSET
    occupation: str | None = strawberry.UNSET
    sector: Sector | None = strawberry.UNSET  # type: ignore[valid-type]
    skills: list[str] | None = strawberry.UNSET
    languages: list[str] | None = strawberry.UNSET
    city: str | None = strawberry.UNSET
    bio: str | None = strawberry.UNSET
    education_level: EducationLevel | None = strawberry.UNSET  # type: ignore[valid-type]
    years_abroad: int | None = strawberry.UNSET
    willing_to_mentor: bool | None = strawberry.UNSET
    willing_to_invest: bool | None = strawberry.UNSET
    photo_url: str | None = strawberry.UNSET

    def changes(self) -> dict[str, Any]:
        raw: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is strawberry.UNSET:
                continue
            raw[f.name] = value.value if isinstance(value, enum.Enum) else value
        return raw


@strawberry.type
class Query:
    @field("The signed-in member.")
    async def me(self, info: Ctx) -> MemberType:
        principal = await info.context.principal()
        return MemberType.from_model(await info.context.services.accounts.me(principal))

    @field("Another member, with only the fields you may see.")
    async def member(self, info: Ctx, id: strawberry.ID) -> MemberType | None:
        return await MemberType.resolve_reference(info, id)

    @field("The audit log, newest first (administrators only).")
    async def audit_log(
        self,
        info: Ctx,
        first: int = 50,
        before: strawberry.ID | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
    ) -> AuditLogPage:
        before_id = _int_cursor(before, "before")
        entries = await info.context.services.admin.audit_log(
            await info.context.actor(),
            first=first,
            before_id=before_id,
            target_type=target_type,
            target_id=target_id,
        )
        return AuditLogPage(
            entries=[AuditEntryType.from_entry(e) for e in entries],
            next_before=strawberry.ID(str(entries[-1].id)) if len(entries) == first else None,
        )

    @field("Lesotho's districts, for the district-of-origin picker.")
    def districts(self) -> list[District]:
        return [District(code=c, name=n) for c, n in v.LESOTHO_DISTRICTS.items()]


@strawberry.type
class Mutation:
    @mutation("Join Kopano.")
    async def register(self, info: Ctx, input: RegisterInput) -> MemberType:
        member = await info.context.services.accounts.register(
            model.RegistrationInput(
                email=input.email,
                password=input.password,
                full_name=input.full_name,
                country_of_residence=input.country_of_residence,
                accept_terms=input.accept_terms,
                accept_data_processing=input.accept_data_processing,
                phone=input.phone,
                district_of_origin=input.district_of_origin,
                consent_version=input.consent_version,
            )
        )
        info.context.acting_as = member.id
        return MemberType.from_model(member)

    @strawberry.mutation
    async def login(self, info: Ctx, email: str, password: str) -> AuthPayload:
        tokens = await info.context.services.accounts.login(email, password)
        info.context.acting_as = tokens.member_id
        return AuthPayload.from_tokens(tokens)

    @mutation("Exchange a refresh token for new tokens (it rotates).")
    async def refresh_token(self, info: Ctx, refresh_token: str) -> AuthPayload:
        tokens = await info.context.services.accounts.refresh(refresh_token)
        info.context.acting_as = tokens.member_id
        return AuthPayload.from_tokens(tokens)

    @mutation("End the session the refresh token belongs to.")
    async def logout(self, info: Ctx, refresh_token: str) -> bool:
        return await info.context.services.accounts.logout(refresh_token)

    @strawberry.mutation
    async def update_profile(self, info: Ctx, input: UpdateProfileInput) -> MemberType:
        principal = await info.context.principal()
        member = await info.context.services.accounts.update_profile(principal, input.changes())
        return MemberType.from_model(member)

    @mutation("Requires the current password; signs out other sessions.")
    async def change_password(
        self, info: Ctx, current_password: str, new_password: str
    ) -> AuthPayload:
        principal = await info.context.principal()
        tokens = await info.context.services.accounts.change_password(
            principal, current_password, new_password
        )
        return AuthPayload.from_tokens(tokens)

    @mutation("Give a member a role (administrators only; audited).")
    async def grant_role(
        self,
        info: Ctx,
        member_id: strawberry.ID,
        role: RoleEnum,  # type: ignore[valid-type]
    ) -> MemberType:
        member = await info.context.services.admin.grant_role(
            await info.context.actor(), parse_id(member_id, "memberId"), str(role)
        )
        return MemberType.from_model(member)

    @mutation("Take a role away (administrators only; audited).")
    async def revoke_role(
        self,
        info: Ctx,
        member_id: strawberry.ID,
        role: RoleEnum,  # type: ignore[valid-type]
    ) -> MemberType:
        member = await info.context.services.admin.revoke_role(
            await info.context.actor(), parse_id(member_id, "memberId"), str(role)
        )
        return MemberType.from_model(member)

    @mutation("Suspend a member: their sessions end and other services are told (audited).")
    async def suspend_member(self, info: Ctx, member_id: strawberry.ID, reason: str) -> MemberType:
        member = await info.context.services.admin.suspend_member(
            await info.context.actor(), parse_id(member_id, "memberId"), reason
        )
        return MemberType.from_model(member)

    @mutation("Lift a suspension (administrators only; audited).")
    async def restore_member(self, info: Ctx, member_id: strawberry.ID) -> MemberType:
        member = await info.context.services.admin.restore_member(
            await info.context.actor(), parse_id(member_id, "memberId")
        )
        return MemberType.from_model(member)


def _int_cursor(raw: strawberry.ID | None, field_name: str) -> int | None:
    if raw is None:
        return None
    try:
        return int(str(raw))
    except ValueError:
        raise BadUserInput("Invalid cursor.", field=field_name) from None


def build_schema() -> strawberry.federation.Schema:
    return strawberry.federation.Schema(
        query=Query, mutation=Mutation, types=[MemberType], extensions=[MaskErrors]
    )
