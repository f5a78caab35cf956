"""Member directory search (signed-in members only; visibility-aware)."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime

import orjson

from kopano.errors import BadUserInput
from members.adapters.directory import DirectoryFilter, search
from members.domain import values as v
from members.domain.model import Member
from members.service.common import Actor, ServiceConfig, active_member

MAX_PAGE = 100


def encode_cursor(member: Member) -> str:
    raw = orjson.dumps([member.registered_at.isoformat(), str(member.id)])
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(raw: str | None) -> tuple[datetime, uuid.UUID] | None:
    if raw is None:
        return None
    try:
        when, ident = orjson.loads(base64.urlsafe_b64decode(raw.encode()))
        return datetime.fromisoformat(when), uuid.UUID(ident)
    except (ValueError, TypeError):
        raise BadUserInput("Invalid cursor.", field="after") from None


def normalise_filter(
    *,
    name: str | None = None,
    country: str | None = None,
    city: str | None = None,
    district: str | None = None,
    skill: str | None = None,
    sector: str | None = None,
    willing_to_mentor: bool | None = None,
    willing_to_invest: bool | None = None,
) -> DirectoryFilter:
    return DirectoryFilter(
        name=v.normalise_text(name, field="name") if name else None,
        country=v.normalise_country(country, field="country") if country else None,
        city=v.normalise_text(city, field="city") if city else None,
        district=v.normalise_district(district, field="districtOfOrigin"),
        skill=v.normalise_tag(skill, field="skill") if skill else None,
        sector=v.Sector(sector).value if sector else None,
        willing_to_mentor=willing_to_mentor,
        willing_to_invest=willing_to_invest,
    )


class DirectoryService:
    def __init__(self, config: ServiceConfig) -> None:
        self.config = config

    async def search(
        self, actor: Actor, flt: DirectoryFilter, *, first: int, after: str | None
    ) -> tuple[list[Member], bool]:
        if not 1 <= first <= MAX_PAGE:
            raise BadUserInput(f"first must be between 1 and {MAX_PAGE}.", field="first")
        cursor = decode_cursor(after)
        async with self.config.uow() as uow:
            viewer = await active_member(uow, actor.member_id)
            rows = await search(uow.conn, flt, viewer=viewer.id, limit=first + 1, after=cursor)
        return rows[:first], len(rows) > first
