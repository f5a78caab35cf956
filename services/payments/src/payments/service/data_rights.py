"""Data rights (Lesotho Data Protection Act 2011): a copy of what payments holds about you.

Erasure is the ``member.erased`` consumer (payments.consumers): recipients are scrubbed and the
sender profile deleted. Transfers keep the sender fields copied onto them at send time, which
regulators require us to retain, so those still appear in the copy after erasure: the copy
shows what is held.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from kopano.data_export import iso_time_or_none, member_export
from payments.adapters.repository import IdempotencyKeyRecord, TransferRecord
from payments.domain.compliance import SenderDetails
from payments.domain.limits import VerificationTier
from payments.domain.money import PAYOUT_CURRENCY, Money
from payments.domain.quotes import Quote
from payments.domain.recipients import PICKUP_DISTRICTS, Recipient
from payments.domain.transfers import Transition
from payments.service.common import ServiceConfig

SERVICE = "payments"


def _money(money: Money) -> dict[str, str]:
    return {"amount": str(money.amount), "currency": money.currency}


def _rate(rate: Decimal) -> str:
    return format(rate.normalize(), "f")


class DataRightsService:
    def __init__(self, config: ServiceConfig) -> None:
        self.config = config

    async def my_payments_data(self, member_id: uuid.UUID) -> dict[str, Any]:
        """Everything this service holds about the member, as one JSON document."""
        # One read-only snapshot: transfers, their transitions and the keys that created
        # them agree with each other even while the dispatcher moves a transfer.
        async with self.config.uow(snapshot=True) as uow:
            sender = await uow.members.sender_details_updated_at(member_id)
            tier = await uow.members.tier_set_at(member_id)
            recipients = await uow.recipients.all_for_member(member_id)
            quotes = await uow.quotes.for_member(member_id)
            transfers = await uow.transfers.all_for_member(member_id)
            histories = await uow.transfers.histories_of_member(member_id)
            keys = await uow.idempotency.for_member(member_id)
        records = {
            "senderDetails": [_sender(*sender)] if sender else [],
            "verification": [self._verification(tier)],
            "recipients": [_recipient(r, removed_at) for r, removed_at in recipients],
            "quotes": [_quote(q) for q in quotes],
            "transfers": [_transfer(r, histories.get(r.transfer.id, [])) for r in transfers],
            "idempotencyKeys": [_key(k) for k in keys],
        }
        return member_export(SERVICE, member_id, self.config.clock(), records)

    def _verification(self, stored: tuple[VerificationTier, datetime] | None) -> dict[str, Any]:
        # Without a stored row the member has the default tier; setAt is then null.
        tier, set_at = stored if stored else (VerificationTier.UNVERIFIED, None)
        limits = self.config.limits[tier]
        return {
            "tier": tier.name,
            "setAt": iso_time_or_none(set_at),
            "limits": {
                "perTransfer": _money(Money(limits.per_transfer, PAYOUT_CURRENCY)),
                "daily": _money(Money(limits.daily, PAYOUT_CURRENCY)),
                "monthly": _money(Money(limits.monthly, PAYOUT_CURRENCY)),
            },
        }


def _sender(details: SenderDetails, updated_at: datetime) -> dict[str, Any]:
    return {
        "occupation": details.occupation,
        "address": details.address,
        "country": details.country,
        "updatedAt": iso_time_or_none(updated_at),
    }


def _recipient(r: Recipient, removed_at: datetime | None) -> dict[str, Any]:
    return {
        "id": str(r.id),
        "name": r.name,
        "relationship": r.relationship.name,
        "payoutMethod": r.payout_method.name,
        "mobileNumber": r.mobile_number,
        "bank": r.bank.name if r.bank else None,
        "accountNumber": r.account_number,
        "pickupDistrict": r.pickup_district,
        "pickupDistrictName": PICKUP_DISTRICTS.get(r.pickup_district or ""),
        "createdAt": iso_time_or_none(r.created_at),
        "updatedAt": iso_time_or_none(r.updated_at),
        "removedAt": iso_time_or_none(removed_at),
    }


def _quote(q: Quote) -> dict[str, Any]:
    return {
        "id": str(q.id),
        "payoutMethod": q.payout_method.name,
        "sendAmount": _money(q.send_amount),
        "fee": _money(q.fee),
        "totalCharged": _money(q.total_charged),
        "receiveAmount": _money(q.receive_amount),
        "rate": _rate(q.rate),
        "feeFixed": _money(q.corridor.fee.fixed),
        "feePercentage": f"{q.corridor.fee.percentage_bp / 100:.2f}",
        "createdAt": iso_time_or_none(q.created_at),
        "expiresAt": iso_time_or_none(q.expires_at),
    }


def _transfer(record: TransferRecord, history: list[Transition]) -> dict[str, Any]:
    tr = record.transfer
    return {
        "id": str(tr.id),
        "reference": tr.reference,
        "state": tr.state.name,
        "sendAmount": _money(tr.send_amount),
        "fee": _money(tr.fee),
        "totalCharged": _money(tr.total_charged),
        "receiveAmount": _money(tr.receive_amount),
        "rate": _rate(record.rate),
        "purpose": tr.purpose,
        "payoutMethod": tr.payout_method.name,
        "payoutPartner": tr.payout_partner,
        "payinProvider": tr.payin_provider,
        "recipientId": str(tr.recipient_id),
        "quoteId": str(record.quote_id),
        # As recorded on the transfer at send time (retained for the regulator).
        "senderDetails": {
            "occupation": record.sender.occupation,
            "address": record.sender.address,
            "country": record.sender.country,
        },
        "createdAt": iso_time_or_none(tr.created_at),
        "updatedAt": iso_time_or_none(record.updated_at),
        "fundedAt": iso_time_or_none(record.funded_at),
        "paidOutAt": iso_time_or_none(record.paid_out_at),
        "history": [
            {
                "from": h.source.name,
                "to": h.target.name,
                "cause": h.cause,
                "at": iso_time_or_none(h.at),
            }
            for h in history
        ],
    }


def _key(k: IdempotencyKeyRecord) -> dict[str, Any]:
    return {
        "key": k.key,
        "transferId": str(k.transfer_id),
        "createdAt": iso_time_or_none(k.created_at),
    }
