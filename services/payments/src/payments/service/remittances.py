"""Quotes, recipients, sender details and remittances: the member-facing use cases."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import orjson
from sqlalchemy.exc import IntegrityError

from kopano.errors import BadUserInput, Conflict, Forbidden, NotFound
from payments.domain.compliance import PurposeCode, SenderDetails
from payments.domain.errors import QuoteExpired
from payments.domain.limits import TierLimits, Usage, VerificationTier, check_limits, period_starts
from payments.domain.money import MAX_MINOR_UNITS, PAYOUT_CURRENCY, Money
from payments.domain.quotes import PayoutMethod, Quote
from payments.domain.recipients import (
    LesothoBank,
    Recipient,
    Relationship,
    validated_recipient,
)
from payments.domain.transfers import CANCELLABLE, Transfer, TransferState, Transition
from payments.events import REMITTANCE_CREATED, remittance_event
from payments.partners.base import PAYIN_PROVIDER, PAYOUT_PARTNERS
from payments.service.common import ServiceConfig, record_moves
from payments.unit_of_work import UnitOfWork

_MINOR_UNITS = re.compile(r"^\d{1,16}$")
_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_\-:.]{8,128}$")
_REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read over the phone


def parse_minor_units(text: str, currency: str, field: str) -> Money:
    """A decimal string of minor units ("125050" = 1250.50): exact, no 32-bit limit."""
    if not _MINOR_UNITS.match(text.strip()):
        raise BadUserInput(
            'amount must be a whole number of minor units, e.g. "125050"', field=field
        )
    value = int(text)
    if value <= 0 or value > MAX_MINOR_UNITS:
        raise BadUserInput("amount must be positive and within range", field=field)
    return Money(value, currency)


def new_reference(now: datetime) -> str:
    tail = "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))
    return f"KP{now:%y%m%d}-{tail}"


def request_hash(quote_id: uuid.UUID, recipient_id: uuid.UUID, purpose: PurposeCode) -> str:
    canonical = orjson.dumps(
        {"quoteId": str(quote_id), "recipientId": str(recipient_id), "purpose": purpose.value},
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(canonical).hexdigest()


@dataclass(frozen=True, slots=True)
class RecipientFields:
    name: str
    relationship: Relationship
    payout_method: PayoutMethod
    mobile_number: str | None = None
    bank: LesothoBank | None = None
    account_number: str | None = None
    pickup_district: str | None = None


@dataclass(frozen=True, slots=True)
class LimitsView:
    tier: VerificationTier
    limits: TierLimits
    usage: Usage


class RemittanceService:
    """Read-only use cases run on autocommit connections: under READ COMMITTED each statement
    sees its own snapshot inside a transaction too, so BEGIN/ROLLBACK would only add round
    trips."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config

    # ------------------------------------------------------------------ quotes

    async def quote(
        self,
        member_id: uuid.UUID | None,
        *,
        send_currency: str,
        payout_method: PayoutMethod,
        send_amount: str | None,
        receive_amount: str | None,
    ) -> Quote:
        currency = send_currency.strip().upper()
        if (send_amount is None) == (receive_amount is None):
            raise BadUserInput(
                "give exactly one of sendAmount and receiveAmount", field="sendAmount"
            )
        now = self.config.clock()
        quote = self.config.corridors.quote(
            send_currency=currency,
            payout_method=payout_method,
            now=now,
            send_amount=parse_minor_units(send_amount, currency, "sendAmount")
            if send_amount is not None
            else None,
            receive_amount=parse_minor_units(receive_amount, PAYOUT_CURRENCY, "receiveAmount")
            if receive_amount is not None
            else None,
        )
        # One INSERT: atomic without a surrounding transaction.
        async with self.config.uow(autocommit=True) as uow:
            await uow.quotes.add(quote, member_id)
        return quote

    async def get_quote(self, quote_id: uuid.UUID) -> Quote | None:
        async with self.config.uow(autocommit=True) as uow:
            found = await uow.quotes.get(quote_id)
        return found[0] if found else None

    # ------------------------------------------------------------------ recipients

    async def add_recipient(self, member_id: uuid.UUID, fields: RecipientFields) -> Recipient:
        recipient = _build(fields, uuid.uuid4(), member_id, self.config.clock(), None)
        async with self.config.uow() as uow:
            await uow.recipients.add(recipient)
            await uow.commit()
        return recipient

    async def update_recipient(
        self, member_id: uuid.UUID, recipient_id: uuid.UUID, fields: RecipientFields
    ) -> Recipient:
        async with self.config.uow() as uow:
            current = await self._own_recipient(uow, member_id, recipient_id)
            recipient = _build(
                fields, current.id, member_id, self.config.clock(), current.created_at
            )
            await uow.recipients.update(recipient)
            await uow.commit()
        return recipient

    async def remove_recipient(self, member_id: uuid.UUID, recipient_id: uuid.UUID) -> bool:
        async with self.config.uow() as uow:
            await self._own_recipient(uow, member_id, recipient_id)
            await uow.recipients.remove(recipient_id, self.config.clock())
            await uow.commit()
        return True

    async def recipients(self, member_id: uuid.UUID) -> list[Recipient]:
        async with self.config.uow(autocommit=True) as uow:
            return await uow.recipients.for_member(member_id)

    async def recipient(self, member_id: uuid.UUID, recipient_id: uuid.UUID) -> Recipient:
        async with self.config.uow(autocommit=True) as uow:
            return await self._own_recipient(uow, member_id, recipient_id)

    async def recipients_by_ids(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, Recipient]:
        async with self.config.uow(autocommit=True) as uow:
            return await uow.recipients.get_many(ids)

    @staticmethod
    async def _own_recipient(
        uow: UnitOfWork, member_id: uuid.UUID, recipient_id: uuid.UUID
    ) -> Recipient:
        recipient = await uow.recipients.get(recipient_id)
        # Someone else's recipient is reported exactly like a missing one.
        if recipient is None or recipient.member_id != member_id:
            raise NotFound("No such recipient.", field="recipientId")
        return recipient

    # ------------------------------------------------------------------ sender details, limits

    async def save_sender_details(
        self, member_id: uuid.UUID, occupation: str, address: str, country: str
    ) -> SenderDetails:
        details = SenderDetails.validated(occupation, address, country)
        async with self.config.uow() as uow:
            await uow.members.save_sender_details(member_id, details, self.config.clock())
            await uow.commit()
        return details

    async def sender_details(self, member_id: uuid.UUID) -> SenderDetails | None:
        async with self.config.uow(autocommit=True) as uow:
            return await uow.members.sender_details(member_id)

    async def limits(self, member_id: uuid.UUID) -> LimitsView:
        day, month = period_starts(self.config.clock())
        async with self.config.uow(autocommit=True) as uow:
            tier = await uow.members.tier(member_id)
            usage = await uow.transfers.usage(member_id, day, month)
        return LimitsView(tier, self.config.limits[tier], usage)

    # ------------------------------------------------------------------ sending

    async def send(
        self,
        member_id: uuid.UUID,
        *,
        quote_id: uuid.UUID,
        recipient_id: uuid.UUID,
        purpose: PurposeCode,
        idempotency_key: str,
    ) -> TransferDetails:
        """Create a transfer from a valid quote, exactly once per idempotency key.

        One transaction: the key claim, the limit check under the member's lock, the transfer
        and its `remittance.created` event commit together or not at all.
        """
        key = idempotency_key.strip()
        if not _IDEMPOTENCY_KEY.match(key):
            raise BadUserInput(
                "idempotency key must be 8 to 128 characters of letters, digits, _ - : .",
                field="idempotencyKey",
            )
        fingerprint = request_hash(quote_id, recipient_id, purpose)
        now = self.config.clock()
        transfer_id = uuid.uuid4()
        async with self.config.uow() as uow:
            # Waits while a concurrent request holds the same key, then sees its outcome.
            if not await uow.idempotency.claim(member_id, key, fingerprint, transfer_id, now):
                stored = await uow.idempotency.get(member_id, key)
                assert stored is not None
                if stored[0] != fingerprint:
                    raise Conflict(
                        "this idempotency key was used for a different request",
                        field="idempotencyKey",
                    )
                record = await uow.transfers.get(stored[1])
                assert record is not None
                return TransferDetails(
                    record.transfer,
                    record.rate,
                    record.funded_at,
                    record.paid_out_at,
                    record.updated_at,
                    None,
                )
            tier = await uow.members.lock_tier(member_id)
            found, recipient, sender = await uow.quotes.get_for_send(
                quote_id, recipient_id, member_id
            )
            if found is None or (found[1] is not None and found[1] != member_id):
                raise NotFound("No such quote.", field="quoteId")
            quote = found[0]
            if not quote.is_valid_at(now):
                raise QuoteExpired()
            if recipient is None or recipient.member_id != member_id:
                raise NotFound("No such recipient.", field="recipientId")
            if recipient.payout_method is not quote.payout_method:
                raise BadUserInput(
                    "the recipient's payout method differs from the quote's", field="recipientId"
                )
            if sender is None:
                raise BadUserInput(
                    "save your occupation and address (saveSenderDetails) before sending",
                    field="senderDetails",
                )
            day, month = period_starts(now)
            usage = await uow.transfers.usage(member_id, day, month)
            check_limits(tier, self.config.limits[tier], quote.receive_amount, usage)
            transfer = Transfer(
                id=transfer_id,
                sender_id=member_id,
                recipient_id=recipient.id,
                send_amount=quote.send_amount,
                fee=quote.fee,
                receive_amount=quote.receive_amount,
                payout_method=quote.payout_method,
                payout_partner=PAYOUT_PARTNERS[quote.payout_method],
                payin_provider=PAYIN_PROVIDER,
                purpose=purpose.value,
                reference=new_reference(now),
                created_at=now,
            )
            try:
                await uow.transfers.add(
                    transfer, quote_id=quote.id, rate=quote.rate, sender=sender, dispatch_after=now
                )
            except IntegrityError:
                raise Conflict(
                    "this quote was already used; ask for a new one", field="quoteId"
                ) from None
            uow.publish(
                remittance_event(
                    REMITTANCE_CREATED, transfer, source=self.config.event_source, at=now
                ),
                self.config.remittance_topic,
            )
            await uow.commit()
        self.config.on_dispatch_due()
        return TransferDetails(transfer, quote.rate, None, None, now, [])

    async def cancel(self, member_id: uuid.UUID, transfer_id: uuid.UUID) -> Transfer:
        now = self.config.clock()
        async with self.config.uow() as uow:
            record = await uow.transfers.get(transfer_id, for_update=True)
            if record is None or record.transfer.sender_id != member_id:
                raise NotFound("No such remittance.", field="id")
            transfer = record.transfer
            if transfer.state not in CANCELLABLE:
                raise Conflict(
                    f"a {transfer.state.value.lower()} remittance can no longer be cancelled",
                    field="id",
                )
            posting = transfer.move_to(TransferState.CANCELLED, cause="sender:cancelled", at=now)
            due = await record_moves(uow, self.config, transfer, [posting] if posting else [], now)
            await uow.commit()
        if due:
            self.config.on_dispatch_due()
        return transfer

    # ------------------------------------------------------------------ reading

    async def remittance(self, transfer_id: uuid.UUID) -> TransferDetails | None:
        async with self.config.uow(autocommit=True) as uow:
            record = await uow.transfers.get(transfer_id)
            if record is None:
                return None
            history = await uow.transfers.history(transfer_id)
        return TransferDetails(
            record.transfer,
            record.rate,
            record.funded_at,
            record.paid_out_at,
            record.updated_at,
            history,
        )

    async def remittances_for(
        self, member_id: uuid.UUID, *, first: int, after: uuid.UUID | None
    ) -> list[TransferDetails]:
        if not 1 <= first <= 100:
            raise BadUserInput("first must be between 1 and 100", field="first")
        async with self.config.uow(autocommit=True) as uow:
            before = None
            if after is not None:
                anchor = await uow.transfers.get(after)
                if anchor is None or anchor.transfer.sender_id != member_id:
                    raise BadUserInput("Invalid cursor.", field="after")
                before = (anchor.transfer.created_at, anchor.transfer.id)
            records = await uow.transfers.for_member(member_id, limit=first, before=before)
        return [
            TransferDetails(r.transfer, r.rate, r.funded_at, r.paid_out_at, r.updated_at, None)
            for r in records
        ]

    async def set_tier(
        self, admin: str, member_id: uuid.UUID, tier: VerificationTier
    ) -> VerificationTier:
        async with self.config.uow() as uow:
            await uow.members.set_tier(member_id, tier, self.config.clock(), admin)
            await uow.commit()
        return tier

    def require_member(self, member_id: uuid.UUID | None) -> uuid.UUID:
        if member_id is None:
            raise Forbidden("Members only.")
        return member_id


@dataclass(frozen=True, slots=True)
class TransferDetails:
    transfer: Transfer
    rate: Decimal
    funded_at: datetime | None
    paid_out_at: datetime | None
    updated_at: datetime
    # Loaded for single-remittance reads; lists load it lazily.
    history: list[Transition] | None


def _build(
    fields: RecipientFields,
    recipient_id: uuid.UUID,
    member_id: uuid.UUID,
    now: datetime,
    created_at: datetime | None,
) -> Recipient:
    return validated_recipient(
        recipient_id=recipient_id,
        member_id=member_id,
        now=now,
        created_at=created_at,
        name=fields.name,
        relationship=fields.relationship,
        payout_method=fields.payout_method,
        mobile_number=fields.mobile_number,
        bank=fields.bank,
        account_number=fields.account_number,
        pickup_district=fields.pickup_district,
    )
