"""Platform administration: roles, suspension, the audit log."""

from __future__ import annotations

import strawberry

from members.gql.base import Ctx, RoleEnum, int_cursor, signed_in
from members.gql.types import AuditEntryType, AuditLogPage, MemberType
from members.service.common import parse_id


@strawberry.type
class AdminQuery:
    @signed_in("The audit log, newest first (administrators only).")
    async def audit_log(
        self,
        info: Ctx,
        first: int = 50,
        before: strawberry.ID | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
    ) -> AuditLogPage:
        before_id = int_cursor(before, "before")
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


@strawberry.type
class AdminMutation:
    @signed_in("Give a member a role (administrators only; audited).")
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

    @signed_in("Take a role away (administrators only; audited).")
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

    @signed_in("Suspend a member: their sessions end and other services are told (audited).")
    async def suspend_member(self, info: Ctx, member_id: strawberry.ID, reason: str) -> MemberType:
        member = await info.context.services.admin.suspend_member(
            await info.context.actor(), parse_id(member_id, "memberId"), reason
        )
        return MemberType.from_model(member)

    @signed_in("Lift a suspension (administrators only; audited).")
    async def restore_member(self, info: Ctx, member_id: strawberry.ID) -> MemberType:
        member = await info.context.services.admin.restore_member(
            await info.context.actor(), parse_id(member_id, "memberId")
        )
        return MemberType.from_model(member)
