"""The events the members service publishes: topics, types and their (non-sensitive) payloads."""

from __future__ import annotations

from kopano.events import CloudEvent
from members.domain.model import Member

MEMBER_TOPIC = "members.member"

MEMBER_REGISTERED = "member.registered"
MEMBER_PROFILE_UPDATED = "member.profile_updated"


def member_registered(member: Member, source: str) -> CloudEvent:
    # No email, phone or name: other services only need where members are, not who they are.
    return CloudEvent.new(
        MEMBER_REGISTERED,
        source,
        str(member.id),
        {
            "memberId": str(member.id),
            "countryOfResidence": member.country_of_residence,
            "districtOfOrigin": member.district_of_origin,
            "registeredAt": member.registered_at.isoformat(),
        },
    )


def member_profile_updated(member: Member, source: str) -> CloudEvent:
    return CloudEvent.new(
        MEMBER_PROFILE_UPDATED, source, str(member.id), member.profile_event_data()
    )


MEMBER_SUSPENDED = "member.suspended"
MEMBER_RESTORED = "member.restored"


def member_suspended(member: Member, source: str) -> CloudEvent:
    # The reason stays in the audit log: it is free text written about a person.
    return CloudEvent.new(
        MEMBER_SUSPENDED,
        source,
        str(member.id),
        {"memberId": str(member.id), "suspendedAt": member.updated_at.isoformat()},
    )


def member_restored(member: Member, source: str) -> CloudEvent:
    return CloudEvent.new(
        MEMBER_RESTORED,
        source,
        str(member.id),
        {"memberId": str(member.id), "restoredAt": member.updated_at.isoformat()},
    )
