"""Organisations: associations, burial societies, chapters, businesses and ministries (pure rules)."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kopano.errors import BadUserInput, Forbidden
from members.domain import values as v

NAME_MIN_LENGTH = 2
NAME_MAX_LENGTH = 120
DESCRIPTION_MAX_LENGTH = 4000


class OrganisationType(enum.StrEnum):
    BDA_CHAPTER = "BDA_CHAPTER"  # Basotho diaspora association chapter
    BURIAL_SOCIETY = "BURIAL_SOCIETY"
    CULTURAL_GROUP = "CULTURAL_GROUP"
    PROFESSIONAL_NETWORK = "PROFESSIONAL_NETWORK"
    STUDENT_ASSOCIATION = "STUDENT_ASSOCIATION"
    BUSINESS = "BUSINESS"
    GOVERNMENT_AGENCY = "GOVERNMENT_AGENCY"  # ministries and agencies


class JoinPolicy(enum.StrEnum):
    OPEN = "OPEN"
    APPROVAL = "APPROVAL"


class OrganisationRole(enum.StrEnum):
    OWNER = "OWNER"
    ADMIN = "ADMIN"
    MEMBER = "MEMBER"


class MembershipStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    PENDING = "PENDING"


class OrganisationStatus(enum.StrEnum):
    ACTIVE = "active"
    REMOVED = "removed"


MANAGERS = frozenset({OrganisationRole.OWNER, OrganisationRole.ADMIN})


@dataclass(slots=True)
class Organisation:
    id: uuid.UUID
    name: str
    type: OrganisationType
    description: str | None
    country: str
    city: str | None
    website: str | None
    join_policy: JoinPolicy
    created_by: uuid.UUID
    created_at: datetime
    updated_at: datetime
    verified: bool = False
    verified_at: datetime | None = None
    status: OrganisationStatus = OrganisationStatus.ACTIVE
    version: int = 1

    @property
    def is_active(self) -> bool:
        return self.status is OrganisationStatus.ACTIVE

    def set_verified(self, verified: bool, now: datetime) -> bool:
        if self.verified == verified:
            return False
        self.verified = verified
        self.verified_at = now if verified else None
        self._touch(now)
        return True

    def apply(self, changes: dict[str, Any], now: datetime) -> bool:
        changed = False
        for name, value in changes.items():
            if getattr(self, name) != value:
                setattr(self, name, value)
                changed = True
        if changed:
            self._touch(now)
        return changed

    def remove(self, now: datetime) -> None:
        self.status = OrganisationStatus.REMOVED
        self._touch(now)

    def _touch(self, now: datetime) -> None:
        self.updated_at = now
        self.version += 1

    def public_data(self) -> dict[str, Any]:
        """What other services may keep about an organisation (it is public information)."""
        return {
            "organisationId": str(self.id),
            "name": self.name,
            "type": self.type.value,
            "country": self.country,
            "city": self.city,
            "verified": self.verified,
        }


@dataclass(slots=True)
class Membership:
    organisation_id: uuid.UUID
    member_id: uuid.UUID
    role: OrganisationRole
    status: MembershipStatus
    requested_at: datetime
    joined_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        return self.status is MembershipStatus.ACTIVE

    @property
    def manages(self) -> bool:
        return self.is_active and self.role in MANAGERS


@dataclass(frozen=True, slots=True)
class OrganisationFilter:
    type: OrganisationType | None = None
    country: str | None = None
    city: str | None = None
    verified: bool | None = None
    search: str | None = None


@dataclass(frozen=True, slots=True)
class OrganisationInput:
    name: str
    type: OrganisationType
    country: str
    join_policy: JoinPolicy = JoinPolicy.OPEN
    description: str | None = None
    city: str | None = None
    website: str | None = None


def normalise_name(raw: str) -> str:
    name = v.normalise_text(raw, field="name", max_length=NAME_MAX_LENGTH)
    if name is None or len(name) < NAME_MIN_LENGTH:
        raise BadUserInput(
            f"Name must be {NAME_MIN_LENGTH} to {NAME_MAX_LENGTH} characters.", field="name"
        )
    return name


def validate_new(data: OrganisationInput) -> dict[str, Any]:
    return {
        "name": normalise_name(data.name),
        "type": data.type,
        "country": v.normalise_country(data.country, field="country"),
        "city": v.normalise_text(data.city, field="city"),
        "description": v.normalise_text(
            data.description, field="description", max_length=DESCRIPTION_MAX_LENGTH, multiline=True
        ),
        "website": v.normalise_url(data.website, field="website"),
        "join_policy": data.join_policy,
    }


def validate_changes(raw: dict[str, Any]) -> dict[str, Any]:
    """A partial update; keys absent stay unchanged. Name, type and country cannot be cleared."""
    out: dict[str, Any] = {}
    for required in ("name", "type", "country", "join_policy"):
        if required in raw and raw[required] is None:
            raise BadUserInput("This field cannot be removed.", field=_gql(required))
    if "name" in raw:
        out["name"] = normalise_name(raw["name"])
    if "type" in raw:
        out["type"] = OrganisationType(raw["type"])
    if "country" in raw:
        out["country"] = v.normalise_country(raw["country"], field="country")
    if "join_policy" in raw:
        out["join_policy"] = JoinPolicy(raw["join_policy"])
    if "city" in raw:
        out["city"] = v.normalise_text(raw["city"], field="city")
    if "description" in raw:
        out["description"] = v.normalise_text(
            raw["description"],
            field="description",
            max_length=DESCRIPTION_MAX_LENGTH,
            multiline=True,
        )
    if "website" in raw:
        out["website"] = v.normalise_url(raw["website"], field="website")
    return out


def _gql(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def require_manager(membership: Membership | None) -> Membership:
    if membership is None or not membership.manages:
        raise Forbidden("Only the organisation's owners and admins may do this.")
    return membership


def require_owner(membership: Membership | None) -> Membership:
    if (
        membership is None
        or not membership.is_active
        or membership.role is not OrganisationRole.OWNER
    ):
        raise Forbidden("Only the organisation's owners may do this.")
    return membership
