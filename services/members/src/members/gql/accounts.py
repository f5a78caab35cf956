"""Sign-up, sessions and the caller's own profile."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

import strawberry

from members.domain import model
from members.domain import values as v
from members.gql.base import Ctx, EducationLevel, Sector, field, mutation, signed_in
from members.gql.types import AuthPayload, District, MemberType


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
class AccountQuery:
    @signed_in("The signed-in member.")
    async def me(self, info: Ctx) -> MemberType:
        principal = await info.context.principal()
        return MemberType.from_model(await info.context.services.accounts.me(principal))

    @field("Another member, with only the fields you may see.")
    async def member(self, info: Ctx, id: strawberry.ID) -> MemberType | None:
        return await MemberType.resolve_reference(info, id)

    @field("Lesotho's districts, for the district-of-origin picker.")
    def districts(self) -> list[District]:
        return [District(code=c, name=n) for c, n in v.LESOTHO_DISTRICTS.items()]


@strawberry.type
class AccountMutation:
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

    @signed_in()
    async def update_profile(self, info: Ctx, input: UpdateProfileInput) -> MemberType:
        principal = await info.context.principal()
        member = await info.context.services.accounts.update_profile(principal, input.changes())
        return MemberType.from_model(member)

    @signed_in("Requires the current password; signs out other sessions.")
    async def change_password(
        self, info: Ctx, current_password: str, new_password: str
    ) -> AuthPayload:
        principal = await info.context.principal()
        tokens = await info.context.services.accounts.change_password(
            principal, current_password, new_password
        )
        return AuthPayload.from_tokens(tokens)
