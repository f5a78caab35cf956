"""Platform administration: roles, suspension — every action written to the audit log."""

from __future__ import annotations

import uuid
from typing import Any

from kopano.errors import BadUserInput, Forbidden
from members import events
from members.adapters.repository import AuditEntry
from members.domain import model
from members.service.common import Actor, ServiceConfig, active_member, existing_member
from members.unit_of_work import UnitOfWork

MAX_PAGE = 100


async def require_admin(uow: UnitOfWork, actor: Actor) -> model.Member:
    """The roles in the database decide, not the (up to 15 minutes old) token."""
    admin = await active_member(uow, actor.member_id)
    if model.Role.ADMIN not in admin.roles:
        raise Forbidden("Only platform administrators may do this.")
    return admin


async def audit(
    uow: UnitOfWork,
    actor: Actor | None,
    action: str,
    target_type: str,
    target_id: object,
    now: Any,
    details: dict[str, Any] | None = None,
) -> None:
    await uow.audit.append(
        occurred_at=now,
        actor_id=actor.member_id if actor is not None and actor.principal else None,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        details=details,
        request_id=actor.request_id if actor else None,
        client_address=actor.client_address if actor else None,
    )


def parse_role(raw: str) -> model.Role:
    try:
        return model.Role(raw.strip().lower())
    except ValueError:
        raise BadUserInput(
            f"Unknown role {raw!r}; roles are {', '.join(r.value for r in model.Role)}.",
            field="role",
        ) from None


class AdminService:
    def __init__(self, config: ServiceConfig) -> None:
        self.config = config

    async def grant_role(self, actor: Actor, member_id: uuid.UUID, role: str) -> model.Member:
        wanted = parse_role(role)
        async with self.config.uow() as uow:
            await require_admin(uow, actor)
            now = self.config.clock()
            member = await existing_member(uow, member_id, for_update=True)
            changed = member.grant(wanted, now)
            if changed:
                await uow.members.update(member)
            await audit(
                uow,
                actor,
                "role.granted",
                "member",
                member.id,
                now,
                {"role": wanted.value, "changed": changed},
            )
            await uow.commit()
        return member

    async def revoke_role(self, actor: Actor, member_id: uuid.UUID, role: str) -> model.Member:
        wanted = parse_role(role)
        async with self.config.uow() as uow:
            admin = await require_admin(uow, actor)
            if admin.id == member_id and wanted is model.Role.ADMIN:
                raise BadUserInput("You cannot remove your own admin role.", field="memberId")
            now = self.config.clock()
            member = await existing_member(uow, member_id, for_update=True)
            changed = member.revoke(wanted, now)
            if changed:
                await uow.members.update(member)
            await audit(
                uow,
                actor,
                "role.revoked",
                "member",
                member.id,
                now,
                {"role": wanted.value, "changed": changed},
            )
            await uow.commit()
        return member

    async def suspend_member(self, actor: Actor, member_id: uuid.UUID, reason: str) -> model.Member:
        reason = reason.strip()
        if not reason or len(reason) > 1000:
            raise BadUserInput("Give a reason (at most 1000 characters).", field="reason")
        async with self.config.uow() as uow:
            admin = await require_admin(uow, actor)
            if admin.id == member_id:
                raise BadUserInput("You cannot suspend yourself.", field="memberId")
            now = self.config.clock()
            member = await existing_member(uow, member_id, for_update=True)
            changed = member.suspend(now)
            if changed:
                await uow.members.update(member)
                # A suspended member's sessions end now, not when their tokens expire.
                await uow.refresh_tokens.revoke_all_for_member(member.id, now)
                uow.publish(
                    events.member_suspended(member, self.config.event_source),
                    self.config.member_topic,
                )
            await audit(
                uow,
                actor,
                "member.suspended",
                "member",
                member.id,
                now,
                {"reason": reason, "changed": changed},
            )
            await uow.commit()
        return member

    async def restore_member(self, actor: Actor, member_id: uuid.UUID) -> model.Member:
        async with self.config.uow() as uow:
            await require_admin(uow, actor)
            now = self.config.clock()
            member = await existing_member(uow, member_id, for_update=True)
            changed = member.restore(now)
            if changed:
                await uow.members.update(member)
                uow.publish(
                    events.member_restored(member, self.config.event_source),
                    self.config.member_topic,
                )
            await audit(
                uow, actor, "member.restored", "member", member.id, now, {"changed": changed}
            )
            await uow.commit()
        return member

    async def audit_log(
        self,
        actor: Actor,
        *,
        first: int = 50,
        before_id: int | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
    ) -> list[AuditEntry]:
        if not 1 <= first <= MAX_PAGE:
            raise BadUserInput(f"first must be between 1 and {MAX_PAGE}.", field="first")
        async with self.config.uow() as uow:
            await require_admin(uow, actor)
            return await uow.audit.page(
                limit=first, before_id=before_id, target_type=target_type, target_id=target_id
            )


async def grant_role_from_cli(config: ServiceConfig, email: str, role: str) -> model.Member:
    """Bootstrap (the first admin): run by an operator, audited with no actor."""
    wanted = parse_role(role)
    async with config.uow() as uow:
        member = await uow.members.get_by_email(email)
        if member is None or member.status is model.MemberStatus.ERASED:
            raise BadUserInput(f"No member with email {email!r}.", field="email")
        now = config.clock()
        changed = member.grant(wanted, now)
        if changed:
            await uow.members.update(member)
        await audit(
            uow,
            None,
            "role.granted",
            "member",
            member.id,
            now,
            {"role": wanted.value, "changed": changed, "via": "command line"},
        )
        await uow.commit()
    return member
