"""Shared pieces of the use cases: the clock, the caller, configuration."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from kopano.auth import Principal
from kopano.errors import Forbidden, NotFound, Unauthenticated
from members.domain import model
from members.unit_of_work import UnitOfWork

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is calling and from which request (what the audit log records)."""

    principal: Principal | None
    request_id: str | None = None
    client_address: str | None = None

    @property
    def member_id(self) -> uuid.UUID:
        return require_member_id(self.principal)


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    uow: Callable[[], UnitOfWork]
    event_source: str
    member_topic: str = "members.member"
    organisation_topic: str = "members.organisation"
    connection_topic: str = "members.connection"
    clock: Clock = utc_now


def require_member_id(principal: Principal | None) -> uuid.UUID:
    if principal is None:
        raise Unauthenticated("You must be signed in.")
    try:
        return uuid.UUID(principal.subject)
    except ValueError:
        raise Unauthenticated("Access token subject is not a member.") from None


async def active_member(
    uow: UnitOfWork, member_id: uuid.UUID, *, for_update: bool = False
) -> model.Member:
    """The caller's own account; erased accounts are gone and suspended ones may not act."""
    member = await uow.members.get(member_id, for_update=for_update)
    if member is None or member.status is model.MemberStatus.ERASED:
        raise Unauthenticated("Your account no longer exists.")
    if member.status is model.MemberStatus.SUSPENDED:
        raise Forbidden("This account is suspended.")
    return member


async def existing_member(
    uow: UnitOfWork, member_id: uuid.UUID, *, for_update: bool = False
) -> model.Member:
    """Another member, by id; erased members are not found."""
    member = await uow.members.get(member_id, for_update=for_update)
    if member is None or member.status is model.MemberStatus.ERASED:
        raise NotFound("No such member.", field="memberId")
    return member


def parse_id(raw: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise NotFound("No such record.", field=field) from None
