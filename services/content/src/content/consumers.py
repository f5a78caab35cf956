"""What the content service does with other services' events (consumer group `content`).

- `member.erased`: the member's posts and gatherings are attributed to a removed member,
  their comments' text is scrubbed, their reactions, RSVPs, organisation roles and
  suspension record are removed (counts and seats follow).
- `member.suspended`: their posts waiting for moderation go back to drafts, and the
  member is recorded as suspended (`suspensions`): every write of theirs is refused
  (FORBIDDEN, `reason: MEMBER_SUSPENDED`) until `member.restored` lifts it.
- organisation events: a projection of which verified organisations each member
  officiates for (OWNER or ADMIN), which decides who publishes without moderation.

Each event is applied through the kit's Mongo inbox: the effect and the inbox document
commit in one transaction, so a redelivered event changes nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from content.adapters.store import ContentStore
from content.service import ContentService
from content.settings import ContentSettings
from content.unit_of_work import UnitOfWork
from kopano.consumer import IdempotentConsumer
from kopano.events import CloudEvent, parse_time
from kopano.logging import get_logger
from kopano.outbox import MongoInbox

log = get_logger("content.consumers")

MEMBER_ERASED = "member.erased"
MEMBER_SUSPENDED = "member.suspended"
MEMBER_RESTORED = "member.restored"
ORGANISATION_FACTS = ("organisation.created", "organisation.updated", "organisation.verified")
ROLE_EVENTS = ("organisation.member_joined", "organisation.member_role_changed")


class ContentEventHandler:
    def __init__(self, service: ContentService, store: ContentStore) -> None:
        self.service = service
        self.store = store

    async def __call__(self, event: CloudEvent, session: AsyncClientSession) -> None:
        data: dict[str, Any] = dict(event.data or {})
        uow = UnitOfWork(self.store, session)
        kind = event.type
        if kind == MEMBER_ERASED:
            await self.service.scrub_member(uow, uuid.UUID(data["memberId"]))
        elif kind == MEMBER_SUSPENDED:
            member_id = uuid.UUID(data["memberId"])
            at = parse_time(data["suspendedAt"])
            if await self.service.record_suspension(uow, member_id, suspended=True, at=at):
                withdrawn = await self.service.withdraw_pending(uow, member_id)
                log.info(
                    "content.pending_posts_withdrawn", member_id=data["memberId"], count=withdrawn
                )
        elif kind == MEMBER_RESTORED:
            at = parse_time(data["restoredAt"])
            await self.service.record_suspension(
                uow, uuid.UUID(data["memberId"]), suspended=False, at=at
            )
        elif kind in ORGANISATION_FACTS:
            if "verified" in data:
                await self.store.organisations.update_one(
                    {"_id": data["organisationId"]},
                    {"$set": {"verified": bool(data["verified"])}},
                    upsert=True,
                    session=session,
                )
        elif kind == "organisation.removed":
            await self.store.organisations.update_one(
                {"_id": data["organisationId"]},
                {"$set": {"removed": True, "verified": False}},
                upsert=True,
                session=session,
            )
            await self.store.org_roles.delete_many(
                {"organisationId": data["organisationId"]}, session=session
            )
        elif kind in ROLE_EVENTS:
            org, member = data["organisationId"], data["memberId"]
            await self.store.org_roles.update_one(
                {"_id": f"{org}:{member}"},
                {"$set": {"organisationId": org, "memberId": member, "role": data["role"]}},
                upsert=True,
                session=session,
            )
            # Same topic and key as the organisation's own events: this is the latest state.
            await self.store.organisations.update_one(
                {"_id": org},
                {"$set": {"verified": bool(data.get("organisationVerified", False))}},
                upsert=True,
                session=session,
            )
        elif kind == "organisation.member_left":
            await self.store.org_roles.delete_one(
                {"_id": f"{data['organisationId']}:{data['memberId']}"}, session=session
            )
        # Anything else on these topics is not ours to act on.


def create_consumer(
    settings: ContentSettings, service: ContentService, store: ContentStore
) -> IdempotentConsumer:
    return IdempotentConsumer(
        settings,
        topics=[settings.member_topic, settings.organisation_topic],
        group_id=settings.consumer_group,
        handler=ContentEventHandler(service, store),
        inbox=MongoInbox(store.db),
        consumer_options={
            "session_timeout_ms": settings.consumer_session_timeout_ms,
            "heartbeat_interval_ms": settings.consumer_heartbeat_interval_ms,
        },
    )
