"""Queries and mutations of the payments subgraph, and the federated ``Member``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from kopano.errors import BadUserInput, NotFound
from payments.gql.types import (
    Ctx,
    LedgerCheckType,
    QuoteInput,
    QuoteType,
    RecipientInput,
    RecipientType,
    ReconciliationType,
    RemittanceType,
    SenderDetails,
    SenderDetailsInput,
    SendingLimits,
    SendRemittanceInput,
    VerificationTier,
    field,
    mutation,
    remittance,
    signed_in,
    signed_in_mutation,
)
from payments.service.common import parse_id
from payments.service.remittances import RecipientFields


def _fields(data: RecipientInput) -> RecipientFields:
    return RecipientFields(
        name=data.name,
        relationship=data.relationship,
        payout_method=data.payout_method,
        mobile_number=data.mobile_number,
        bank=data.bank,
        account_number=data.account_number,
        pickup_district=data.pickup_district,
    )


async def _remittances(
    info: Ctx, member_id: uuid.UUID, first: int, after: strawberry.ID | None
) -> list[RemittanceType]:
    anchor = parse_id(after, "after") if after is not None else None
    found = await info.context.services.remittances.remittances_for(
        member_id, first=first, after=anchor
    )
    return [remittance(d) for d in found]


@strawberry.federation.type(keys=["id"], name="Member", description="A member of the diaspora.")
class MemberType:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> MemberType:
        return cls(id=id)

    def _self_id(self, info: Ctx) -> uuid.UUID | None:
        viewer = info.context.viewer_id()
        if viewer is None or str(viewer) != str(self.id):
            return None
        return viewer

    @field("The member's remittances, newest first (the member only).")
    async def remittances(
        self, info: Ctx, first: int = 20, after: strawberry.ID | None = None
    ) -> list[RemittanceType] | None:
        viewer = self._self_id(info)
        if viewer is None:
            return None
        return await _remittances(info, viewer, first, after)

    @field("The member's saved recipients (the member only).")
    async def recipients(self, info: Ctx) -> list[RecipientType] | None:
        viewer = self._self_id(info)
        if viewer is None:
            return None
        return [
            RecipientType.of(r) for r in await info.context.services.remittances.recipients(viewer)
        ]


@strawberry.type
class Query:
    @signed_in("A remittance of the caller (administrators may read any).")
    async def remittance(self, info: Ctx, id: strawberry.ID) -> RemittanceType:
        member = info.context.member_id()
        found = await info.context.services.remittances.remittance(parse_id(id, "id"))
        if found is None or (found.transfer.sender_id != member and not info.context.is_admin()):
            raise NotFound("No such remittance.", field="id")
        return remittance(found)

    @signed_in(
        "The caller's remittances, newest first; `after` is the last id of the previous page."
    )
    async def my_remittances(
        self, info: Ctx, first: int = 20, after: strawberry.ID | None = None
    ) -> list[RemittanceType]:
        return await _remittances(info, info.context.member_id(), first, after)

    @signed_in("The caller's saved recipients.")
    async def recipients(self, info: Ctx) -> list[RecipientType]:
        found = await info.context.services.remittances.recipients(info.context.member_id())
        return [RecipientType.of(r) for r in found]

    @signed_in("One saved recipient of the caller.")
    async def recipient(self, info: Ctx, id: strawberry.ID) -> RecipientType:
        found = await info.context.services.remittances.recipient(
            info.context.member_id(), parse_id(id, "id")
        )
        return RecipientType.of(found)

    @signed_in("The caller's occupation and address, as recorded on each remittance.")
    async def sender_details(self, info: Ctx) -> SenderDetails | None:
        found = await info.context.services.remittances.sender_details(info.context.member_id())
        return SenderDetails.of(found) if found else None

    @signed_in("The caller's verification tier, limits and usage.")
    async def sending_limits(self, info: Ctx) -> SendingLimits:
        view = await info.context.services.remittances.limits(info.context.member_id())
        return SendingLimits.of(view)

    @signed_in("Everything the payments service holds about you, as one JSON document.")
    async def my_payments_data(self, info: Ctx) -> JSON:
        found = await info.context.services.data_rights.my_payments_data(info.context.member_id())
        return cast(JSON, found)

    @signed_in(
        "Administrators: what the ledger says a payout partner is owed versus what it reported."
    )
    async def reconciliation(
        self, info: Ctx, partner: str, period_start: datetime, period_end: datetime
    ) -> ReconciliationType:
        info.context.require_admin()
        found = await info.context.services.admin.reconciliation(partner, period_start, period_end)
        return ReconciliationType.of(found)

    @signed_in("Administrators: every transaction balances and every balance equals its entries.")
    async def ledger_check(self, info: Ctx) -> LedgerCheckType:
        info.context.require_admin()
        return LedgerCheckType.of(await info.context.services.admin.ledger_check())


@strawberry.type
class Mutation:
    @mutation("Price a remittance (signed-in or not): rate, fee, total and what arrives.")
    async def quote(self, info: Ctx, input: QuoteInput) -> QuoteType:
        found = await info.context.services.remittances.quote(
            info.context.viewer_id(),
            send_currency=input.send_currency,
            payout_method=input.payout_method,
            send_amount=input.send_amount,
            receive_amount=input.receive_amount,
        )
        return QuoteType.of(found)

    @signed_in_mutation("Save a recipient in Lesotho.")
    async def add_recipient(self, info: Ctx, input: RecipientInput) -> RecipientType:
        found = await info.context.services.remittances.add_recipient(
            info.context.member_id(), _fields(input)
        )
        return RecipientType.of(found)

    @signed_in_mutation("Change a saved recipient (all fields are replaced).")
    async def update_recipient(
        self, info: Ctx, id: strawberry.ID, input: RecipientInput
    ) -> RecipientType:
        found = await info.context.services.remittances.update_recipient(
            info.context.member_id(), parse_id(id, "id"), _fields(input)
        )
        return RecipientType.of(found)

    @signed_in_mutation("Remove a saved recipient (past remittances keep it).")
    async def remove_recipient(self, info: Ctx, id: strawberry.ID) -> bool:
        return await info.context.services.remittances.remove_recipient(
            info.context.member_id(), parse_id(id, "id")
        )

    @signed_in_mutation(
        "Record the occupation and address the regional rules require on remittances."
    )
    async def save_sender_details(self, info: Ctx, input: SenderDetailsInput) -> SenderDetails:
        found = await info.context.services.remittances.save_sender_details(
            info.context.member_id(), input.occupation, input.address, input.country
        )
        return SenderDetails.of(found)

    @signed_in_mutation(
        "Send money home from a valid quote. Safe to retry with the same idempotency key."
    )
    async def send_remittance(self, info: Ctx, input: SendRemittanceInput) -> RemittanceType:
        service = info.context.services.remittances
        details = await service.send(
            info.context.member_id(),
            quote_id=parse_id(input.quote_id, "quoteId"),
            recipient_id=parse_id(input.recipient_id, "recipientId"),
            purpose=input.purpose,
            idempotency_key=input.idempotency_key,
        )
        return remittance(details)

    @signed_in_mutation(
        "Cancel a remittance before its payout starts; collected money is refunded."
    )
    async def cancel_remittance(self, info: Ctx, id: strawberry.ID) -> RemittanceType:
        service = info.context.services.remittances
        transfer = await service.cancel(info.context.member_id(), parse_id(id, "id"))
        found = await service.remittance(transfer.id)
        assert found is not None
        return remittance(found)

    @signed_in_mutation(
        "Administrators: set a member's verification tier (until members publishes it)."
    )
    async def set_verification_tier(
        self, info: Ctx, member_id: strawberry.ID, tier: VerificationTier
    ) -> VerificationTier:
        admin = info.context.require_admin()
        try:
            target = uuid.UUID(str(member_id))
        except ValueError:
            raise BadUserInput("memberId is not an id", field="memberId") from None
        return await info.context.services.remittances.set_tier(admin.subject, target, tier)
