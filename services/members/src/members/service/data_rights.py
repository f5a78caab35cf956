"""Data rights (Lesotho Data Protection Act 2011): a copy of your data, and erasure."""

from __future__ import annotations

from typing import Any

from kopano.auth import PasswordHasher
from kopano.data_export import member_export
from kopano.errors import BadUserInput
from members import events
from members.adapters.repository import delete_member_satellites, sessions_of
from members.domain.connections import ConnectionStatus
from members.domain.model import Member
from members.service.common import Actor, ServiceConfig, active_member


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


class DataRightsService:
    def __init__(self, config: ServiceConfig, hasher: PasswordHasher) -> None:
        self.config = config
        self.hasher = hasher

    async def my_data(self, actor: Actor) -> dict[str, Any]:
        """Everything this service holds about the caller, as one JSON document."""
        async with self.config.uow() as uow:
            me = await active_member(uow, actor.member_id)
            consents = await uow.consents.for_member(me.id)
            sessions = await sessions_of(uow.conn, me.id)
            memberships = await uow.organisations.memberships_of_member(me.id)
            orgs = await uow.organisations.get_many([m.organisation_id for m in memberships])
            connections = await uow.connections.of_member(me.id)
            blocked = await uow.connections.blocked_by(me.id)
            audit = await uow.audit.page(limit=1000, target_type="member", target_id=str(me.id))
        p = me.profile
        records = {
            "account": {
                "id": str(me.id),
                "email": me.email,
                "fullName": me.full_name,
                "phone": me.phone,
                "countryOfResidence": me.country_of_residence,
                "districtOfOrigin": me.district_of_origin,
                "roles": sorted(r.value for r in me.roles),
                "status": me.status.value,
                "registeredAt": me.registered_at.isoformat(),
                "updatedAt": me.updated_at.isoformat(),
            },
            "profile": {
                "preferredName": p.preferred_name,
                "occupation": p.occupation,
                "sector": p.sector.value if p.sector else None,
                "skills": list(p.skills),
                "languages": list(p.languages),
                "city": p.city,
                "bio": p.bio,
                "educationLevel": p.education_level.value if p.education_level else None,
                "yearsAbroad": p.years_abroad,
                "willingToMentor": p.willing_to_mentor,
                "willingToInvest": p.willing_to_invest,
                "photoUrl": p.photo_url,
            },
            "fieldVisibility": {k: me.visibility_of(k).value for k in sorted(me.visibility)},
            "consents": [
                {"kind": c.kind.value, "version": c.version, "grantedAt": c.granted_at.isoformat()}
                for c in consents
            ],
            "sessions": [{k: _iso(v) for k, v in s.items()} for s in sessions],
            "organisations": [
                {
                    "organisationId": str(m.organisation_id),
                    "name": orgs[m.organisation_id].name if m.organisation_id in orgs else None,
                    "role": m.role.value,
                    "status": m.status.value,
                    "requestedAt": m.requested_at.isoformat(),
                    "joinedAt": _iso(m.joined_at),
                }
                for m in memberships
            ],
            "connections": [
                {
                    "memberId": str(c.other(me.id)),
                    "status": c.status.value,
                    "requestedByMe": c.requested_by == me.id,
                    "createdAt": c.created_at.isoformat(),
                    "respondedAt": _iso(c.responded_at),
                }
                for c in connections
            ],
            "blockedMembers": [str(b) for b in blocked],
            "administrativeActions": [
                {"occurredAt": a.occurred_at.isoformat(), "action": a.action, "details": a.details}
                for a in audit
            ],
        }
        # The head every service's part shares (kopano.data_export), so a client can join
        # the parts of one person's copy.
        return member_export("members", me.id, self.config.clock(), records)

    async def erase_me(self, actor: Actor, password: str) -> bool:
        """Pseudonymise the caller and remove everything that ties the account to a person."""
        cfg = self.config
        async with cfg.uow() as uow:
            me: Member = await active_member(uow, actor.member_id, for_update=True)
            if not await self.hasher.verify_async(me.password_hash, password):
                raise BadUserInput("Password is incorrect.", field="password")
            now = cfg.clock()
            src = cfg.event_source
            for membership in await uow.organisations.memberships_of_member(me.id):
                await uow.organisations.delete_membership(membership.organisation_id, me.id)
                org = await uow.organisations.get(membership.organisation_id)
                if membership.is_active and org is not None:
                    uow.publish(
                        events.membership_event(
                            events.ORGANISATION_MEMBER_LEFT,
                            org,
                            membership,
                            src,
                            reason="erased",
                            leftAt=now.isoformat(),
                        ),
                        cfg.organisation_topic,
                    )
            for connection in await uow.connections.delete_all_for(me.id):
                if connection.status is ConnectionStatus.ACCEPTED:
                    uow.publish(
                        events.connection_event(
                            events.CONNECTION_REMOVED,
                            connection,
                            src,
                            reason="erased",
                            removedAt=now.isoformat(),
                        ),
                        cfg.connection_topic,
                    )
            await delete_member_satellites(uow.conn, me.id)
            me.erase(now)
            await uow.members.update(me)
            uow.publish(events.member_erased(me, src), cfg.member_topic)
            await uow.commit()
        return True
