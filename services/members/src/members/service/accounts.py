"""Use cases of the members service. Each one is a single transaction: state and events together."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kopano.auth import (
    PasswordHasher,
    Principal,
    TokenIssuer,
    hash_refresh_token,
    new_refresh_token,
)
from kopano.errors import BadUserInput, Forbidden, Unauthenticated
from members import events
from members.adapters.repository import RefreshTokenRecord
from members.domain import model
from members.domain import values as v
from members.service.common import Clock, active_member, require_member_id, utc_now
from members.unit_of_work import UnitOfWork

INVALID_CREDENTIALS = "Email or password is incorrect."
INVALID_REFRESH = "Refresh token is invalid or expired; please log in again."


@dataclass(frozen=True, slots=True)
class AuthTokens:
    member_id: uuid.UUID
    access_token: str
    access_token_expires_at: datetime
    refresh_token: str
    refresh_token_expires_at: datetime
    # Row id of the refresh token (what a rotation records as its replacement).
    refresh_token_id: uuid.UUID


class MembersService:
    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        hasher: PasswordHasher,
        issuer: TokenIssuer,
        *,
        consent_version: str,
        refresh_ttl: timedelta,
        event_source: str,
        member_topic: str = events.MEMBER_TOPIC,
        clock: Clock = utc_now,
    ) -> None:
        self.uow = uow_factory
        self.hasher = hasher
        self.issuer = issuer
        self.consent_version = consent_version
        self.refresh_ttl = refresh_ttl
        self.source = event_source
        self.member_topic = member_topic
        self.clock = clock

    # ------------------------------------------------------------------ registration

    async def register(self, data: model.RegistrationInput) -> model.Member:
        reg = model.validate_registration(data, current_consent_version=self.consent_version)
        # Hash outside the transaction: argon2 is deliberately slow; hold no locks meanwhile.
        password_hash = await self.hasher.hash_async(reg.password)
        now = self.clock()
        member = model.new_member(reg, member_id=uuid.uuid4(), password_hash=password_hash, now=now)
        async with self.uow() as uow:
            await uow.members.add(member)  # Conflict on a duplicate email (unique index)
            await uow.consents.add_many(member.id, model.consents_for(self.consent_version, now))
            uow.publish(events.member_registered(member, self.source), self.member_topic)
            await uow.commit()
        return member

    # ------------------------------------------------------------------ sessions

    async def login(self, email: str, password: str) -> AuthTokens:
        try:
            address = v.normalise_email(email)
        except BadUserInput:
            address = None
        async with self.uow() as uow:
            member = await uow.members.get_by_email(address) if address else None
            if member is None or member.status is model.MemberStatus.ERASED:
                # Same work and same answer as a wrong password: no account enumeration.
                await self.hasher.dummy_verify_async(password)
                raise Unauthenticated(INVALID_CREDENTIALS)
            if not await self.hasher.verify_async(member.password_hash, password):
                raise Unauthenticated(INVALID_CREDENTIALS)
            if member.status is model.MemberStatus.SUSPENDED:
                raise Forbidden("This account is suspended.")
            if self.hasher.needs_rehash(member.password_hash):
                member.password_hash = await self.hasher.hash_async(password)
                await uow.members.update(member)
            tokens = await self._start_session(uow, member, family_id=uuid.uuid4())
            await uow.commit()
        return tokens

    async def refresh(self, refresh_token: str) -> AuthTokens:
        now = self.clock()
        async with self.uow() as uow:
            record = await uow.refresh_tokens.get_by_hash_for_update(
                hash_refresh_token(refresh_token)
            )
            if record is None or record.revoked_at is not None:
                raise Unauthenticated(INVALID_REFRESH)
            if record.used_at is not None:
                # A spent token came back: someone holds a copy. End the whole session.
                await uow.refresh_tokens.revoke_family(record.family_id, now)
                await uow.commit()
                raise Unauthenticated(INVALID_REFRESH)
            if record.expires_at <= now:
                raise Unauthenticated(INVALID_REFRESH)
            member = await uow.members.get(record.member_id)
            if member is None or not member.can_log_in:
                await uow.refresh_tokens.revoke_family(record.family_id, now)
                await uow.commit()
                raise Unauthenticated(INVALID_REFRESH)
            tokens = await self._start_session(uow, member, family_id=record.family_id)
            await uow.refresh_tokens.mark_used(record.id, tokens.refresh_token_id, now)
            await uow.commit()
        return tokens

    async def logout(self, refresh_token: str) -> bool:
        """Revoke the session the refresh token belongs to. Unknown tokens are ignored."""
        now = self.clock()
        async with self.uow() as uow:
            record = await uow.refresh_tokens.get_by_hash_for_update(
                hash_refresh_token(refresh_token)
            )
            if record is not None:
                await uow.refresh_tokens.revoke_family(record.family_id, now)
                await uow.commit()
        return True

    async def _start_session(
        self, uow: UnitOfWork, member: model.Member, *, family_id: uuid.UUID
    ) -> AuthTokens:
        now = self.clock()
        token, token_hash = new_refresh_token()
        record = RefreshTokenRecord(
            id=uuid.uuid4(),
            member_id=member.id,
            family_id=family_id,
            issued_at=now,
            expires_at=now + self.refresh_ttl,
            used_at=None,
            revoked_at=None,
        )
        await uow.refresh_tokens.add(record, token_hash)
        access = self.issuer.issue_access_token(
            str(member.id), roles=sorted(r.value for r in member.roles)
        )
        tokens = AuthTokens(
            member_id=member.id,
            access_token=access,
            access_token_expires_at=now + self.issuer.access_ttl,
            refresh_token=token,
            refresh_token_expires_at=record.expires_at,
            refresh_token_id=record.id,
        )
        return tokens

    # ------------------------------------------------------------------ the caller's account

    async def me(self, principal: Principal | None) -> model.Member:
        member_id = require_member_id(principal)
        async with self.uow() as uow:
            member = await uow.members.get(member_id)
        if member is None or member.status is model.MemberStatus.ERASED:
            raise Unauthenticated("Your account no longer exists.")
        return member

    async def update_profile(
        self, principal: Principal | None, raw_changes: Mapping[str, Any]
    ) -> model.Member:
        member_id = require_member_id(principal)
        changes = model.validate_profile_changes(raw_changes)
        async with self.uow() as uow:
            member = await self._active_for_update(uow, member_id)
            before = _shared_projection(member)
            if member.apply_profile(changes, self.clock()):
                await uow.members.update(member)
                # Other services only hear about changes to what they keep (not a new bio).
                if _shared_projection(member) != before:
                    uow.publish(
                        events.member_profile_updated(member, self.source), self.member_topic
                    )
                await uow.commit()
        return member

    async def change_password(
        self, principal: Principal | None, current_password: str, new_password: str
    ) -> AuthTokens:
        """Requires the current password; ends every other session and starts a fresh one."""
        member_id = require_member_id(principal)
        async with self.uow() as uow:
            member = await self._active_for_update(uow, member_id)
            if not await self.hasher.verify_async(member.password_hash, current_password):
                raise BadUserInput("Current password is incorrect.", field="currentPassword")
            password = v.check_password(new_password, email=member.email, field="newPassword")
            if await self.hasher.verify_async(member.password_hash, password):
                raise BadUserInput(
                    "New password must differ from the current one.", field="newPassword"
                )
            now = self.clock()
            member.password_hash = await self.hasher.hash_async(password)
            member.updated_at = now
            await uow.members.update(member)
            await uow.refresh_tokens.revoke_all_for_member(member.id, now)
            tokens = await self._start_session(uow, member, family_id=uuid.uuid4())
            await uow.commit()
        return tokens

    async def _active_for_update(self, uow: UnitOfWork, member_id: uuid.UUID) -> model.Member:
        return await active_member(uow, member_id, for_update=True)

    async def set_visibility(
        self, principal: Principal | None, settings: Mapping[str, model.Visibility]
    ) -> model.Member:
        member_id = require_member_id(principal)
        async with self.uow() as uow:
            member = await self._active_for_update(uow, member_id)
            member.set_visibility(settings, self.clock())
            await uow.members.update(member)
            await uow.commit()
        return member

    # ------------------------------------------------------------------ federation

    async def members_by_ids(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, model.Member]:
        async with self.uow() as uow:
            return await uow.members.get_many(ids)


def _shared_projection(member: model.Member) -> dict[str, Any]:
    data = member.profile_event_data()
    del data["updatedAt"]
    return data
