"""What the payments service does with other services' events.

``member.erased`` (topic ``members.member``): the member's saved recipients lose their personal
data and the sender profile is deleted. Transfers stay as they are: remittance records (with the
regulator-required sender fields) must be retained for the statutory period.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from kopano.consumer import IdempotentConsumer
from kopano.events import CloudEvent
from kopano.outbox import SqlInbox
from payments.adapters import tables as t
from payments.settings import PaymentsSettings

MEMBER_ERASED = "member.erased"
ERASED_NAME = "[erased]"


async def handle_member_event(event: CloudEvent, tx: AsyncConnection) -> None:
    """Runs in one transaction with the inbox row (a redelivery does nothing)."""
    if event.type != MEMBER_ERASED:
        return  # other member events are not ours to act on
    member_id = uuid.UUID(str(event.data["memberId"]))
    now = datetime.now(UTC)
    await tx.execute(
        t.recipients.update()
        .where(t.recipients.c.member_id == member_id)
        .values(
            name=ERASED_NAME,
            mobile_number=None,
            bank=None,
            account_number=None,
            pickup_district=None,
            updated_at=now,
            removed_at=sa.func.coalesce(t.recipients.c.removed_at, now),
        )
    )
    await tx.execute(t.sender_profiles.delete().where(t.sender_profiles.c.member_id == member_id))


def create_consumer(settings: PaymentsSettings, inbox: SqlInbox) -> IdempotentConsumer:
    return IdempotentConsumer(
        settings,
        topics=[settings.member_topic],
        group_id=settings.consumer_group,
        handler=handle_member_event,
        inbox=inbox,
    )
