"""The member aggregate and the commands that create and change it (pure: no I/O, no clock)."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from kopano.errors import BadUserInput
from members.domain import values as v

E = TypeVar("E", bound=enum.StrEnum)


class Role(enum.StrEnum):
    MEMBER = "member"
    MODERATOR = "moderator"
    OFFICIAL = "official"
    ADMIN = "admin"


class MemberStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    ERASED = "erased"


class Visibility(enum.StrEnum):
    PUBLIC = "PUBLIC"
    MEMBERS = "MEMBERS"
    CONNECTIONS = "CONNECTIONS"
    PRIVATE = "PRIVATE"


# Fields whose visibility a member controls, with privacy-first defaults.
DEFAULT_VISIBILITY: dict[str, Visibility] = {
    "fullName": Visibility.MEMBERS,
    "preferredName": Visibility.MEMBERS,
    "email": Visibility.PRIVATE,
    "phone": Visibility.PRIVATE,
    "countryOfResidence": Visibility.MEMBERS,
    "districtOfOrigin": Visibility.MEMBERS,
    "city": Visibility.CONNECTIONS,
    "occupation": Visibility.MEMBERS,
    "sector": Visibility.MEMBERS,
    "skills": Visibility.MEMBERS,
    "languages": Visibility.MEMBERS,
    "bio": Visibility.MEMBERS,
    "educationLevel": Visibility.CONNECTIONS,
    "yearsAbroad": Visibility.CONNECTIONS,
    "willingToMentor": Visibility.MEMBERS,
    "willingToInvest": Visibility.MEMBERS,
    "photoUrl": Visibility.MEMBERS,
}


ERASED_NAME = "Removed member"
# Not a valid argon2 hash: verification always fails, so nobody can log in again.
ERASED_PASSWORD_HASH = "!erased"  # noqa: S105
# ISO 3166 user-assigned code: "unknown".
ERASED_COUNTRY = "ZZ"


def erased_email(member_id: uuid.UUID) -> str:
    # Unique (the email index must hold) and in the reserved .invalid TLD.
    return f"erased-{member_id}@erased.invalid"


@dataclass(frozen=True, slots=True)
class Profile:
    preferred_name: str | None = None
    occupation: str | None = None
    sector: v.Sector | None = None
    skills: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    city: str | None = None
    bio: str | None = None
    education_level: v.EducationLevel | None = None
    years_abroad: int | None = None
    willing_to_mentor: bool = False
    willing_to_invest: bool = False
    photo_url: str | None = None


PROFILE_FIELDS = frozenset(Profile.__dataclass_fields__)


@dataclass(slots=True)
class Member:
    id: uuid.UUID
    email: str
    password_hash: str
    full_name: str
    country_of_residence: str
    phone: str | None
    district_of_origin: str | None
    registered_at: datetime
    updated_at: datetime
    roles: frozenset[Role] = frozenset({Role.MEMBER})
    status: MemberStatus = MemberStatus.ACTIVE
    profile: Profile = field(default_factory=Profile)
    visibility: dict[str, Visibility] = field(default_factory=lambda: dict(DEFAULT_VISIBILITY))
    version: int = 1

    @property
    def can_log_in(self) -> bool:
        return self.status is MemberStatus.ACTIVE

    def grant(self, role: Role, now: datetime) -> bool:
        if role in self.roles:
            return False
        self.roles = self.roles | {role}
        self._touch(now)
        return True

    def revoke(self, role: Role, now: datetime) -> bool:
        if role is Role.MEMBER:
            raise BadUserInput("Every account keeps the member role.", field="role")
        if role not in self.roles:
            return False
        self.roles = self.roles - {role}
        self._touch(now)
        return True

    def suspend(self, now: datetime) -> bool:
        if self.status is MemberStatus.SUSPENDED:
            return False
        if self.status is MemberStatus.ERASED:
            raise BadUserInput("An erased account cannot be suspended.", field="memberId")
        self.status = MemberStatus.SUSPENDED
        self._touch(now)
        return True

    def restore(self, now: datetime) -> bool:
        if self.status is not MemberStatus.SUSPENDED:
            return False
        self.status = MemberStatus.ACTIVE
        self._touch(now)
        return True

    def erase(self, now: datetime) -> None:
        """Pseudonymise: the id stays (other records point at it), everything personal goes."""
        self.email = erased_email(self.id)
        self.password_hash = ERASED_PASSWORD_HASH
        self.full_name = ERASED_NAME
        self.phone = None
        self.district_of_origin = None
        self.country_of_residence = ERASED_COUNTRY
        self.profile = Profile()
        self.visibility = dict(DEFAULT_VISIBILITY)
        self.roles = frozenset({Role.MEMBER})
        self.status = MemberStatus.ERASED
        self._touch(now)

    def _touch(self, now: datetime) -> None:
        self.updated_at = now
        self.version += 1

    def visibility_of(self, field_name: str) -> Visibility:
        return self.visibility.get(
            field_name, DEFAULT_VISIBILITY.get(field_name, Visibility.PRIVATE)
        )

    def apply_profile(self, changes: ProfileChanges, now: datetime) -> bool:
        """Apply a validated partial update; returns whether anything changed."""
        updated = replace(self.profile, **changes.profile)
        country = changes.country_of_residence or self.country_of_residence
        changed = updated != self.profile or country != self.country_of_residence
        if changes.set_phone:
            changed = changed or changes.phone != self.phone
            self.phone = changes.phone
        if changes.set_district:
            changed = changed or changes.district_of_origin != self.district_of_origin
            self.district_of_origin = changes.district_of_origin
        if changes.full_name is not None and changes.full_name != self.full_name:
            self.full_name = changes.full_name
            changed = True
        if changed:
            self.profile = updated
            self.country_of_residence = country
            self.updated_at = now
            self.version += 1
        return changed

    def set_visibility(self, settings: Mapping[str, Visibility], now: datetime) -> None:
        for name in settings:
            if name not in DEFAULT_VISIBILITY:
                raise BadUserInput(f"Unknown profile field {name!r}.", field="visibility")
        self.visibility = {**self.visibility, **settings}
        self.updated_at = now
        self.version += 1

    def profile_event_data(self) -> dict[str, Any]:
        """The non-sensitive projection other services may keep (no name, email or phone)."""
        return {
            "memberId": str(self.id),
            "countryOfResidence": self.country_of_residence,
            "districtOfOrigin": self.district_of_origin,
            "sector": self.profile.sector.value if self.profile.sector else None,
            "skills": list(self.profile.skills),
            "languages": list(self.profile.languages),
            "willingToMentor": self.profile.willing_to_mentor,
            "willingToInvest": self.profile.willing_to_invest,
            "updatedAt": self.updated_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class RegistrationInput:
    email: str
    password: str
    full_name: str
    country_of_residence: str
    accept_terms: bool
    accept_data_processing: bool
    phone: str | None = None
    district_of_origin: str | None = None
    consent_version: str | None = None


@dataclass(frozen=True, slots=True)
class ValidRegistration:
    email: str
    password: str
    full_name: str
    country_of_residence: str
    phone: str | None
    district_of_origin: str | None


def validate_registration(
    data: RegistrationInput, *, current_consent_version: str
) -> ValidRegistration:
    """Check every registration rule; the first broken rule is reported with its field."""
    email = v.normalise_email(data.email)
    password = v.check_password(data.password, email=email)
    full_name = v.normalise_full_name(data.full_name)
    country = v.normalise_country(data.country_of_residence)
    phone = v.normalise_phone(data.phone)
    district = v.normalise_district(data.district_of_origin)
    if not data.accept_terms:
        raise BadUserInput("You must accept the terms of use to join.", field="acceptTerms")
    if not data.accept_data_processing:
        raise BadUserInput(
            "You must consent to the processing of your data to join.",
            field="acceptDataProcessing",
        )
    if data.consent_version is not None and data.consent_version != current_consent_version:
        raise BadUserInput(
            "The terms have changed since you read them; please review the current version.",
            field="consentVersion",
        )
    return ValidRegistration(email, password, full_name, country, phone, district)


def new_member(
    reg: ValidRegistration, *, member_id: uuid.UUID, password_hash: str, now: datetime
) -> Member:
    return Member(
        id=member_id,
        email=reg.email,
        password_hash=password_hash,
        full_name=reg.full_name,
        country_of_residence=reg.country_of_residence,
        phone=reg.phone,
        district_of_origin=reg.district_of_origin,
        registered_at=now,
        updated_at=now,
    )


def consents_for(version: str, now: datetime) -> list[v.Consent]:
    return [v.Consent(kind, version, now) for kind in v.ConsentKind]


@dataclass(frozen=True, slots=True)
class ProfileChanges:
    """A validated partial profile update: only the keys present change."""

    profile: dict[str, Any] = field(default_factory=dict)
    full_name: str | None = None
    country_of_residence: str | None = None
    set_phone: bool = False
    phone: str | None = None
    set_district: bool = False
    district_of_origin: str | None = None


_MISSING: Any = object()


def validate_profile_changes(raw: Mapping[str, Any]) -> ProfileChanges:
    """Validate a partial update ``{python_field_name: value}``; absent keys stay unchanged.

    An explicit ``None`` clears an optional field (flags and lists are reset to their empty value).
    """
    allowed = PROFILE_FIELDS | {"full_name", "country_of_residence", "phone", "district_of_origin"}
    unknown = set(raw) - allowed
    if unknown:
        raise BadUserInput(f"Unknown profile fields: {sorted(unknown)}.", field=sorted(unknown)[0])
    profile: dict[str, Any] = {}

    def get(name: str) -> Any:
        return raw.get(name, _MISSING)

    def text(name: str, gql: str, max_length: int, multiline: bool = False) -> None:
        value = get(name)
        if value is not _MISSING:
            profile[name] = v.normalise_text(
                value, field=gql, max_length=max_length, multiline=multiline
            )

    text("occupation", "occupation", v.SHORT_TEXT_MAX_LENGTH)
    text("city", "city", v.SHORT_TEXT_MAX_LENGTH)
    text("bio", "bio", v.BIO_MAX_LENGTH, multiline=True)
    if (value := get("preferred_name")) is not _MISSING:
        profile["preferred_name"] = v.normalise_optional_name(value, field="preferredName")
    if (value := get("skills")) is not _MISSING:
        profile["skills"] = v.normalise_tags(value or ())
    if (value := get("languages")) is not _MISSING:
        profile["languages"] = v.normalise_languages(value or ())
    if (value := get("sector")) is not _MISSING:
        profile["sector"] = _enum(v.Sector, value, "sector")
    if (value := get("education_level")) is not _MISSING:
        profile["education_level"] = _enum(v.EducationLevel, value, "educationLevel")
    if (value := get("years_abroad")) is not _MISSING:
        profile["years_abroad"] = v.normalise_years(value)
    if (value := get("photo_url")) is not _MISSING:
        profile["photo_url"] = v.normalise_url(value, field="photoUrl")
    for flag in ("willing_to_mentor", "willing_to_invest"):
        if (value := get(flag)) is not _MISSING:
            profile[flag] = bool(value)

    full_name = get("full_name")
    country = get("country_of_residence")
    phone = get("phone")
    district = get("district_of_origin")
    if full_name is None:
        raise BadUserInput("Full name cannot be removed.", field="fullName")
    if country is None:
        raise BadUserInput("Country of residence cannot be removed.", field="countryOfResidence")
    return ProfileChanges(
        profile=profile,
        full_name=None if full_name is _MISSING else v.normalise_full_name(full_name),
        country_of_residence=None if country is _MISSING else v.normalise_country(country),
        set_phone=phone is not _MISSING,
        phone=None if phone is _MISSING else v.normalise_phone(phone),
        set_district=district is not _MISSING,
        district_of_origin=None if district is _MISSING else v.normalise_district(district),
    )


def _enum(kind: type[E], value: Any, field_name: str) -> E | None:
    if value is None:
        return None
    try:
        return kind(str(value).upper())
    except ValueError:
        raise BadUserInput(f"Unknown value {value!r}.", field=field_name) from None


def parse_roles(raw: Iterable[str]) -> frozenset[Role]:
    return frozenset(Role(r) for r in raw)
