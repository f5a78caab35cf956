"""The events the members service publishes: topics, types and their (non-sensitive) payloads."""

from __future__ import annotations

from typing import Any

from kopano.events import CloudEvent
from members.domain.connections import Connection
from members.domain.model import Member
from members.domain.organisations import Membership, Organisation

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


ORGANISATION_CREATED = "organisation.created"
ORGANISATION_UPDATED = "organisation.updated"
ORGANISATION_VERIFIED = "organisation.verified"
ORGANISATION_REMOVED = "organisation.removed"
ORGANISATION_MEMBER_JOINED = "organisation.member_joined"
ORGANISATION_MEMBER_LEFT = "organisation.member_left"
ORGANISATION_MEMBER_ROLE_CHANGED = "organisation.member_role_changed"


def organisation_event(kind: str, org: Organisation, source: str, **extra: Any) -> CloudEvent:
    """Organisation events carry its public facts, including the verified badge."""
    data = {**org.public_data(), **extra}
    return CloudEvent.new(kind, source, str(org.id), data)


def membership_event(
    kind: str, org: Organisation, membership: Membership, source: str, **extra: Any
) -> CloudEvent:
    data: dict[str, Any] = {
        "organisationId": str(org.id),
        "memberId": str(membership.member_id),
        "role": membership.role.value,
        "organisationVerified": org.verified,
        **extra,
    }
    # Keyed by the organisation: its membership changes stay in order on one partition.
    return CloudEvent.new(kind, source, str(org.id), data)


CONNECTION_ACCEPTED = "connection.accepted"
CONNECTION_REMOVED = "connection.removed"


def connection_event(kind: str, connection: Connection, source: str, **extra: Any) -> CloudEvent:
    data: dict[str, Any] = {
        "connectionId": str(connection.id),
        "memberIds": [str(connection.member_low), str(connection.member_high)],
        **extra,
    }
    return CloudEvent.new(kind, source, str(connection.id), data)


MEMBER_ERASED = "member.erased"


def member_erased(member: Member, source: str) -> CloudEvent:
    return CloudEvent.new(
        MEMBER_ERASED,
        source,
        str(member.id),
        {"memberId": str(member.id), "erasedAt": member.updated_at.isoformat()},
    )
