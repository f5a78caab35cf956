"""The projections fed by the members service's events (group ``opportunities``).

Every handler runs in the inbox's transaction, so an event's effect and its inbox row commit
together: a redelivered or duplicated event changes nothing. Member events are keyed by member
and organisation events by organisation, so each aggregate's events arrive in order; profile
updates also carry their time, and an older one never overwrites a newer one.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from kopano.consumer import IdempotentConsumer, NonRetryableError
from kopano.events import CloudEvent, parse_time
from kopano.logging import get_logger
from kopano.outbox import SqlInbox
from opportunities import events as ev
from opportunities.adapters import tables as t
from opportunities.domain.model import MemberProfile, OpportunityError, normalise_skills
from opportunities.settings import OpportunitiesSettings
from opportunities.unit_of_work import InboxUnitOfWork

log = get_logger("opportunities.consumers")


def _uuid(data: dict[str, Any], key: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(data[key]))
    except (KeyError, ValueError):
        raise NonRetryableError(f"event data lacks a valid {key}") from None


def _time(data: dict[str, Any], key: str, event: CloudEvent) -> datetime:
    raw = data.get(key)
    if isinstance(raw, str):
        try:
            return parse_time(raw)
        except ValueError:
            pass
    return event.time


class ProjectionHandler:
    """``handler(event, conn)`` for the kit's ``IdempotentConsumer``."""

    def __init__(self, *, event_source: str, opportunity_topic: str) -> None:
        self.event_source = event_source
        self.opportunity_topic = opportunity_topic
        self._handlers: dict[str, Callable[[InboxUnitOfWork, CloudEvent], Awaitable[None]]] = {
            "member.registered": self._registered,
            "member.profile_updated": self._profile_updated,
            "member.erased": self._erased,
            "organisation.created": self._organisation,
            "organisation.updated": self._organisation,
            "organisation.verified": self._organisation,
            "organisation.removed": self._organisation_removed,
            "organisation.member_joined": self._membership,
            "organisation.member_role_changed": self._membership,
            "organisation.member_left": self._member_left,
        }

    async def __call__(self, event: CloudEvent, tx: Any) -> None:
        handler = self._handlers.get(event.type)
        if handler is None:
            return  # other member/organisation events do not concern us
        if not isinstance(event.data, dict):
            raise NonRetryableError("event data is not an object")
        assert isinstance(tx, AsyncConnection)
        uow = InboxUnitOfWork(tx)
        await handler(uow, event)
        await uow.flush()

    # ----- members

    async def _registered(self, uow: InboxUnitOfWork, event: CloudEvent) -> None:
        data = event.data
        member_id = _uuid(data, "memberId")
        if await uow.projections.is_erased(member_id):
            return
        country = data.get("countryOfResidence")
        await uow.projections.register(
            member_id, country if isinstance(country, str) else None, event.time
        )

    async def _profile_updated(self, uow: InboxUnitOfWork, event: CloudEvent) -> None:
        data = event.data
        member_id = _uuid(data, "memberId")
        if await uow.projections.is_erased(member_id):
            return
        try:
            skills = normalise_skills(data.get("skills") or ())
        except OpportunityError as exc:
            raise NonRetryableError(exc.message) from None
        profile = MemberProfile(
            member_id=member_id,
            skills=frozenset(skills),
            sector=data.get("sector"),
            country=data.get("countryOfResidence"),
            mentor=bool(data.get("willingToMentor")),
            investor=bool(data.get("willingToInvest")),
        )
        await uow.projections.upsert_profile(
            profile, list(data.get("languages") or ()), _time(data, "updatedAt", event)
        )

    async def _erased(self, uow: InboxUnitOfWork, event: CloudEvent) -> None:
        member_id = _uuid(event.data, "memberId")
        now = datetime.now(UTC)
        await uow.projections.erase(member_id, _time(event.data, "erasedAt", event))
        await uow.saved_searches.delete_for_member(member_id)
        await uow.applications.scrub_applicant(member_id, now)
        await uow.projections.remove_officials(member_id=member_id)

    # ----- organisations

    async def _organisation(self, uow: InboxUnitOfWork, event: CloudEvent) -> None:
        data = event.data
        await uow.projections.set_organisation(
            _uuid(data, "organisationId"), verified=bool(data.get("verified")), at=event.time
        )

    async def _organisation_removed(self, uow: InboxUnitOfWork, event: CloudEvent) -> None:
        organisation_id = _uuid(event.data, "organisationId")
        now = datetime.now(UTC)
        await uow.projections.set_organisation(
            organisation_id, verified=False, at=event.time, removed=True
        )
        await uow.projections.remove_officials(organisation_id=organisation_id)
        # A removed organisation's postings go with it; open ones announce their end.
        for opp, before in await uow.opportunities.withdraw_for_organisation(organisation_id, now):
            if before.value == "OPEN":
                uow.publish(
                    ev.opportunity_closed(opp, "organisation_removed", self.event_source),
                    self.opportunity_topic,
                )

    async def _membership(self, uow: InboxUnitOfWork, event: CloudEvent) -> None:
        data = event.data
        organisation_id = _uuid(data, "organisationId")
        member_id = _uuid(data, "memberId")
        if "organisationVerified" in data:
            await uow.projections.set_organisation(
                organisation_id, verified=bool(data["organisationVerified"]), at=event.time
            )
        await uow.projections.set_official(organisation_id, member_id, str(data.get("role")))

    async def _member_left(self, uow: InboxUnitOfWork, event: CloudEvent) -> None:
        data = event.data
        await uow.projections.set_official(
            _uuid(data, "organisationId"), _uuid(data, "memberId"), None
        )


def build_consumer(
    settings: OpportunitiesSettings, engine: Any, handler: ProjectionHandler | None = None
) -> IdempotentConsumer:
    handler = handler or ProjectionHandler(
        event_source=settings.event_source, opportunity_topic=settings.opportunity_topic
    )
    return IdempotentConsumer(
        settings,
        topics=[settings.member_topic, settings.organisation_topic],
        group_id=settings.consumer_group,
        handler=handler,
        inbox=SqlInbox(engine, t.inbox),
        consumer_options={
            "session_timeout_ms": settings.consumer_session_timeout_ms,
            "heartbeat_interval_ms": settings.consumer_heartbeat_interval_ms,
        },
    )


__all__ = ["ProjectionHandler", "build_consumer", "log"]
