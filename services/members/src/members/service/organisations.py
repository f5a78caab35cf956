"""Organisations: create, update, join (open or by approval), roles, leave, remove, verify."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import orjson

from kopano.errors import BadUserInput, Conflict, Forbidden, NotFound
from members import events
from members.domain import model
from members.domain import organisations as orgs
from members.domain.organisations import (
    Membership,
    MembershipStatus,
    Organisation,
    OrganisationRole,
)
from members.service.admin import audit, require_admin
from members.service.common import Actor, ServiceConfig, active_member, existing_member
from members.unit_of_work import UnitOfWork

MAX_PAGE = 100


def encode_cursor(org: Organisation) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([org.name.casefold(), str(org.id)])).decode()


def decode_cursor(raw: str | None) -> tuple[str, uuid.UUID] | None:
    if raw is None:
        return None
    try:
        key, ident = orjson.loads(base64.urlsafe_b64decode(raw.encode()))
        return str(key), uuid.UUID(ident)
    except (ValueError, TypeError):
        raise BadUserInput("Invalid cursor.", field="after") from None


class OrganisationService:
    def __init__(self, config: ServiceConfig) -> None:
        self.config = config

    def _publish(self, uow: UnitOfWork, event: Any) -> None:
        uow.publish(event, self.config.organisation_topic)

    async def _org(
        self, uow: UnitOfWork, org_id: uuid.UUID, *, for_update: bool = False
    ) -> Organisation:
        org = await uow.organisations.get(org_id, for_update=for_update)
        if org is None or not org.is_active:
            raise NotFound("No such organisation.", field="organisationId")
        return org

    # ------------------------------------------------------------------ life cycle

    async def create(self, actor: Actor, data: orgs.OrganisationInput) -> Organisation:
        fields = orgs.validate_new(data)
        async with self.config.uow() as uow:
            creator = await active_member(uow, actor.member_id)
            now = self.config.clock()
            org = Organisation(
                id=uuid.uuid4(), created_by=creator.id, created_at=now, updated_at=now, **fields
            )
            await uow.organisations.add(org)  # Conflict on a taken name
            owner = Membership(
                org.id, creator.id, OrganisationRole.OWNER, MembershipStatus.ACTIVE, now, now
            )
            await uow.organisations.add_membership(owner)
            src = self.config.event_source
            self._publish(
                uow,
                events.organisation_event(
                    events.ORGANISATION_CREATED, org, src, createdAt=now.isoformat()
                ),
            )
            self._publish(
                uow,
                events.membership_event(
                    events.ORGANISATION_MEMBER_JOINED, org, owner, src, joinedAt=now.isoformat()
                ),
            )
            await uow.commit()
        return org

    async def update(
        self, actor: Actor, org_id: uuid.UUID, raw_changes: dict[str, Any]
    ) -> Organisation:
        changes = orgs.validate_changes(raw_changes)
        async with self.config.uow() as uow:
            await active_member(uow, actor.member_id)
            org = await self._org(uow, org_id, for_update=True)
            orgs.require_manager(await uow.organisations.membership(org.id, actor.member_id))
            now = self.config.clock()
            identity_changed = any(
                k in changes and changes[k] != getattr(org, k) for k in ("name", "type")
            )
            if org.apply(changes, now):
                src = self.config.event_source
                if identity_changed and org.verified:
                    # The badge vouches for a name and a kind: changing either needs a new check.
                    org.set_verified(False, now)
                    self._publish(
                        uow,
                        events.organisation_event(
                            events.ORGANISATION_VERIFIED, org, src, changedAt=now.isoformat()
                        ),
                    )
                await uow.organisations.update(org)
                self._publish(
                    uow,
                    events.organisation_event(
                        events.ORGANISATION_UPDATED, org, src, updatedAt=now.isoformat()
                    ),
                )
                await uow.commit()
        return org

    async def verify(self, actor: Actor, org_id: uuid.UUID, verified: bool) -> Organisation:
        async with self.config.uow() as uow:
            await require_admin(uow, actor)
            org = await self._org(uow, org_id, for_update=True)
            now = self.config.clock()
            changed = org.set_verified(verified, now)
            if changed:
                await uow.organisations.update(org)
                self._publish(
                    uow,
                    events.organisation_event(
                        events.ORGANISATION_VERIFIED,
                        org,
                        self.config.event_source,
                        changedAt=now.isoformat(),
                    ),
                )
            await audit(
                uow,
                actor,
                "organisation.verified" if verified else "organisation.unverified",
                "organisation",
                org.id,
                now,
                {"changed": changed, "name": org.name},
            )
            await uow.commit()
        return org

    async def remove(self, actor: Actor, org_id: uuid.UUID) -> bool:
        async with self.config.uow() as uow:
            member = await active_member(uow, actor.member_id)
            org = await self._org(uow, org_id, for_update=True)
            membership = await uow.organisations.membership(org.id, member.id)
            is_owner = (
                membership is not None
                and membership.is_active
                and membership.role is OrganisationRole.OWNER
            )
            if not is_owner and model.Role.ADMIN not in member.roles:
                raise Forbidden("Only the organisation's owners may remove it.")
            now = self.config.clock()
            org.remove(now)
            await uow.organisations.update(org)
            for status in MembershipStatus:
                for m in await uow.organisations.memberships_of_organisation(org.id, status):
                    await uow.organisations.delete_membership(org.id, m.member_id)
            self._publish(
                uow,
                events.organisation_event(
                    events.ORGANISATION_REMOVED,
                    org,
                    self.config.event_source,
                    removedAt=now.isoformat(),
                ),
            )
            if not is_owner:
                await audit(
                    uow,
                    actor,
                    "organisation.removed",
                    "organisation",
                    org.id,
                    now,
                    {"name": org.name},
                )
            await uow.commit()
        return True

    # ------------------------------------------------------------------ membership

    async def join(self, actor: Actor, org_id: uuid.UUID) -> Membership:
        async with self.config.uow() as uow:
            member = await active_member(uow, actor.member_id)
            org = await self._org(uow, org_id)
            now = self.config.clock()
            open_join = org.join_policy is orgs.JoinPolicy.OPEN
            membership = Membership(
                org.id,
                member.id,
                OrganisationRole.MEMBER,
                MembershipStatus.ACTIVE if open_join else MembershipStatus.PENDING,
                now,
                now if open_join else None,
            )
            if not await uow.organisations.add_membership(membership):
                existing = await uow.organisations.membership(org.id, member.id)
                pending = existing is not None and not existing.is_active
                raise Conflict(
                    "Your request to join is already pending."
                    if pending
                    else "You are already a member of this organisation.",
                    field="organisationId",
                )
            if open_join:
                self._publish(
                    uow,
                    events.membership_event(
                        events.ORGANISATION_MEMBER_JOINED,
                        org,
                        membership,
                        self.config.event_source,
                        joinedAt=now.isoformat(),
                    ),
                )
            await uow.commit()
        return membership

    async def _managed(
        self, uow: UnitOfWork, actor: Actor, org_id: uuid.UUID
    ) -> tuple[Organisation, Membership]:
        await active_member(uow, actor.member_id)
        org = await self._org(uow, org_id, for_update=True)
        mine = orgs.require_manager(await uow.organisations.membership(org.id, actor.member_id))
        return org, mine

    async def approve(self, actor: Actor, org_id: uuid.UUID, member_id: uuid.UUID) -> Membership:
        async with self.config.uow() as uow:
            org, _ = await self._managed(uow, actor, org_id)
            request = await uow.organisations.membership(org.id, member_id, for_update=True)
            if request is None or request.is_active:
                raise NotFound("No pending request from this member.", field="memberId")
            await existing_member(uow, member_id)
            now = self.config.clock()
            request.status = MembershipStatus.ACTIVE
            request.joined_at = now
            await uow.organisations.update_membership(request)
            self._publish(
                uow,
                events.membership_event(
                    events.ORGANISATION_MEMBER_JOINED,
                    org,
                    request,
                    self.config.event_source,
                    joinedAt=now.isoformat(),
                ),
            )
            await uow.commit()
        return request

    async def decline(self, actor: Actor, org_id: uuid.UUID, member_id: uuid.UUID) -> bool:
        async with self.config.uow() as uow:
            org, _ = await self._managed(uow, actor, org_id)
            request = await uow.organisations.membership(org.id, member_id, for_update=True)
            if request is None or request.is_active:
                raise NotFound("No pending request from this member.", field="memberId")
            await uow.organisations.delete_membership(org.id, member_id)
            await uow.commit()
        return True

    async def leave(self, actor: Actor, org_id: uuid.UUID) -> bool:
        async with self.config.uow() as uow:
            member = await active_member(uow, actor.member_id)
            org = await self._org(uow, org_id, for_update=True)
            mine = await uow.organisations.membership(org.id, member.id, for_update=True)
            if mine is None:
                raise NotFound("You are not a member of this organisation.", field="organisationId")
            if (
                mine.is_active
                and mine.role is OrganisationRole.OWNER
                and await uow.organisations.count_owners(org.id) <= 1
            ):
                raise BadUserInput(
                    "You are the only owner: make someone else an owner, or remove the "
                    "organisation.",
                    field="organisationId",
                )
            await uow.organisations.delete_membership(org.id, member.id)
            if mine.is_active:
                self._left(uow, org, mine, "left")
            await uow.commit()
        return True

    async def remove_member(self, actor: Actor, org_id: uuid.UUID, member_id: uuid.UUID) -> bool:
        async with self.config.uow() as uow:
            org, mine = await self._managed(uow, actor, org_id)
            if member_id == mine.member_id:
                raise BadUserInput("Use leaveOrganisation to leave.", field="memberId")
            target = await uow.organisations.membership(org.id, member_id, for_update=True)
            if target is None or not target.is_active:
                raise NotFound("This member is not in the organisation.", field="memberId")
            if (
                target.role is not OrganisationRole.MEMBER
                and mine.role is not OrganisationRole.OWNER
            ):
                raise Forbidden("Only owners may remove owners and admins.")
            await uow.organisations.delete_membership(org.id, member_id)
            self._left(uow, org, target, "removed")
            await uow.commit()
        return True

    def _left(
        self, uow: UnitOfWork, org: Organisation, membership: Membership, reason: str
    ) -> None:
        self._publish(
            uow,
            events.membership_event(
                events.ORGANISATION_MEMBER_LEFT,
                org,
                membership,
                self.config.event_source,
                reason=reason,
                leftAt=self.config.clock().isoformat(),
            ),
        )

    async def set_role(
        self, actor: Actor, org_id: uuid.UUID, member_id: uuid.UUID, role: OrganisationRole
    ) -> Membership:
        async with self.config.uow() as uow:
            await active_member(uow, actor.member_id)
            org = await self._org(uow, org_id, for_update=True)
            orgs.require_owner(await uow.organisations.membership(org.id, actor.member_id))
            target = await uow.organisations.membership(org.id, member_id, for_update=True)
            if target is None or not target.is_active:
                raise NotFound("This member is not in the organisation.", field="memberId")
            if (
                target.role is OrganisationRole.OWNER
                and role is not OrganisationRole.OWNER
                and await uow.organisations.count_owners(org.id) <= 1
            ):
                raise BadUserInput("An organisation needs at least one owner.", field="role")
            if target.role is not role:
                target.role = role
                await uow.organisations.update_membership(target)
                self._publish(
                    uow,
                    events.membership_event(
                        events.ORGANISATION_MEMBER_ROLE_CHANGED,
                        org,
                        target,
                        self.config.event_source,
                        changedAt=self.config.clock().isoformat(),
                    ),
                )
                await uow.commit()
        return target

    # ------------------------------------------------------------------ reading

    async def get_many(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, Organisation]:
        async with self.config.uow() as uow:
            found = await uow.organisations.get_many(ids)
        return {k: org for k, org in found.items() if org.is_active}

    async def directory(
        self, flt: orgs.OrganisationFilter, *, first: int, after: str | None
    ) -> tuple[list[Organisation], bool]:
        if not 1 <= first <= MAX_PAGE:
            raise BadUserInput(f"first must be between 1 and {MAX_PAGE}.", field="first")
        cursor = decode_cursor(after)
        async with self.config.uow() as uow:
            rows = await uow.organisations.page(flt, limit=first + 1, after=cursor)
        return rows[:first], len(rows) > first

    async def member_counts(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        async with self.config.uow() as uow:
            return await uow.organisations.member_counts(ids)

    async def memberships_for(
        self, member_id: uuid.UUID, ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, Membership]:
        async with self.config.uow() as uow:
            return await uow.organisations.memberships_for(member_id, ids)

    async def members_of(
        self, actor: Actor, org_id: uuid.UUID, status: MembershipStatus
    ) -> list[Membership]:
        """Active members: visible to the organisation's members and platform admins.
        Pending requests: to its owners and admins."""
        async with self.config.uow() as uow:
            viewer = await active_member(uow, actor.member_id)
            org = await self._org(uow, org_id)
            mine = await uow.organisations.membership(org.id, viewer.id)
            platform_admin = model.Role.ADMIN in viewer.roles
            if status is MembershipStatus.PENDING:
                if not platform_admin:
                    orgs.require_manager(mine)
            elif not platform_admin and (mine is None or not mine.is_active):
                raise Forbidden("Only the organisation's members can see who belongs to it.")
            return await uow.organisations.memberships_of_organisation(org.id, status)

    async def memberships_of_member(self, member_id: uuid.UUID) -> list[Membership]:
        async with self.config.uow() as uow:
            return await uow.organisations.memberships_of_member(member_id)
