"""Gatherings on the events calendar and the RSVP rules, including capacity and the waitlist."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pycountry

from content.domain.errors import InvalidInput
from content.domain.markdown import validate_body
from content.domain.posts import validate_https_url

MAX_TITLE: Final = 200
MAX_DESCRIPTION: Final = 10_000
MAX_DURATION: Final = timedelta(days=14)


class Attendance(StrEnum):
    GOING = "GOING"
    INTERESTED = "INTERESTED"
    NOT_GOING = "NOT_GOING"
    WAITLISTED = "WAITLISTED"  # asked to go while the gathering was full


class GatheringStatus(StrEnum):
    SCHEDULED = "SCHEDULED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True, slots=True)
class Place:
    city: str
    country: str  # ISO 3166-1 alpha-2
    address: str | None = None


@dataclass(frozen=True, slots=True)
class GatheringDetails:
    title: str
    description: str
    starts_at: datetime
    ends_at: datetime
    time_zone: str
    place: Place | None
    online_url: str | None
    organiser_member_id: uuid.UUID | None
    organiser_organisation_id: uuid.UUID | None
    capacity: int | None

    @classmethod
    def create(
        cls,
        *,
        title: str,
        description: str,
        starts_at: datetime,
        ends_at: datetime,
        time_zone: str,
        place: Place | None,
        online_url: str | None,
        organiser_member_id: uuid.UUID | None,
        organiser_organisation_id: uuid.UUID | None,
        capacity: int | None,
    ) -> GatheringDetails:
        title = title.strip()
        if not title:
            raise InvalidInput("must not be empty", field="title")
        if len(title) > MAX_TITLE:
            raise InvalidInput(f"must be at most {MAX_TITLE} characters", field="title")
        if len(description) > MAX_DESCRIPTION:
            raise InvalidInput(f"must be at most {MAX_DESCRIPTION} characters", field="description")
        validate_body(description, field="description")
        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(
                "unknown time zone (use an IANA name such as Africa/Maseru)", field="timeZone"
            ) from None
        if starts_at.tzinfo is None or ends_at.tzinfo is None:
            raise InvalidInput("times need a UTC offset", field="startsAt")
        if ends_at <= starts_at:
            raise InvalidInput("must be after the start", field="endsAt")
        if ends_at - starts_at > MAX_DURATION:
            raise InvalidInput("a gathering lasts at most 14 days", field="endsAt")
        online = validate_https_url(online_url, field_name="onlineUrl")
        if place is None and online is None:
            raise InvalidInput("give a place or an online link", field="place")
        if place is not None:
            if not place.city.strip():
                raise InvalidInput("must not be empty", field="place.city")
            if pycountry.countries.get(alpha_2=place.country.upper()) is None:
                raise InvalidInput("unknown country code", field="place.country")
            place = Place(
                place.city.strip(), place.country.upper(), (place.address or "").strip() or None
            )
        if (organiser_member_id is None) == (organiser_organisation_id is None):
            raise InvalidInput("the organiser is a member or an organisation", field="organiser")
        if capacity is not None and not 1 <= capacity <= 100_000:
            raise InvalidInput("must be between 1 and 100000", field="capacity")
        return cls(
            title=title,
            description=description,
            starts_at=starts_at,
            ends_at=ends_at,
            time_zone=time_zone,
            place=place,
            online_url=online,
            organiser_member_id=organiser_member_id,
            organiser_organisation_id=organiser_organisation_id,
            capacity=capacity,
        )


def attendance_on_request(wanted: Attendance, *, going: int, capacity: int | None) -> Attendance:
    """What a member gets when asking for `wanted` while `going` others already go."""
    if wanted is Attendance.WAITLISTED:
        raise InvalidInput("ask for GOING; the waitlist is automatic", field="response")
    if wanted is Attendance.GOING and capacity is not None and going >= capacity:
        return Attendance.WAITLISTED
    return wanted
