"""Partner webhooks: authentic, fresh and processed once, in any order they arrive."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

from payments.domain.money import Money
from payments.domain.transfers import PartnerOutcome, apply_partner_outcome
from payments.partners.base import PARTNERS, PAYIN_PROVIDER
from payments.partners.signing import InvalidSignature, verify
from payments.service.common import ServiceConfig, record_moves

PAYIN_OUTCOMES = frozenset({PartnerOutcome.PAYIN_COLLECTED, PartnerOutcome.PAYIN_FAILED})
MAX_DELIVERY_ID = 200


class WebhookStatus(StrEnum):
    APPLIED = "applied"  # processed (it may still have changed nothing: a stale report)
    DUPLICATE = "duplicate"  # this delivery id was processed before
    REJECTED = "rejected"  # malformed or not for this partner
    UNAUTHENTIC = "unauthentic"  # bad signature or stale timestamp
    UNKNOWN_TRANSFER = "unknown_transfer"


@dataclass(frozen=True, slots=True)
class WebhookResult:
    status: WebhookStatus
    state: str | None = None
    detail: str = ""

    @property
    def http_status(self) -> int:
        return {
            WebhookStatus.APPLIED: 200,
            WebhookStatus.DUPLICATE: 200,
            WebhookStatus.REJECTED: 400,
            WebhookStatus.UNAUTHENTIC: 401,
            WebhookStatus.UNKNOWN_TRANSFER: 404,
        }[self.status]


class WebhookService:
    def __init__(self, config: ServiceConfig, secret: bytes, tolerance_seconds: int) -> None:
        self.config = config
        self._secret = secret
        self._tolerance = tolerance_seconds

    async def receive(
        self, partner: str, body: bytes, signature: str | None, delivery_id: str | None
    ) -> WebhookResult:
        now = self.config.clock()
        try:
            signed = verify(
                self._secret, body, signature, tolerance=self._tolerance, now=now.timestamp()
            )
        except InvalidSignature as exc:
            return WebhookResult(WebhookStatus.UNAUTHENTIC, detail=str(exc))
        if partner not in PARTNERS:
            return WebhookResult(WebhookStatus.REJECTED, detail="unknown partner")
        if not delivery_id or len(delivery_id) > MAX_DELIVERY_ID:
            return WebhookResult(WebhookStatus.REJECTED, detail="missing delivery id")
        try:
            payload: Any = orjson.loads(body)
            transfer_id = uuid.UUID(str(payload["transferId"]))
            outcome = PartnerOutcome(payload["outcome"])
            amount = Money(int(str(payload["amount"])), str(payload["currency"]))
        except (orjson.JSONDecodeError, KeyError, ValueError, TypeError):
            return WebhookResult(WebhookStatus.REJECTED, detail="malformed body")
        if (outcome in PAYIN_OUTCOMES) != (partner == PAYIN_PROVIDER):
            return WebhookResult(WebhookStatus.REJECTED, detail="outcome not from this partner")

        async with self.config.uow() as uow:
            record = await uow.transfers.get(transfer_id, for_update=True)
            if record is None:
                return WebhookResult(WebhookStatus.UNKNOWN_TRANSFER)
            transfer = record.transfer
            if partner not in (transfer.payin_provider, transfer.payout_partner):
                return WebhookResult(WebhookStatus.REJECTED, detail="not this transfer's partner")
            # The domain decides first (in memory): a duplicate, late or out-of-order outcome
            # ends where in-order delivery would have, and a stale one changes nothing. The
            # delivery row then carries its resulting state in the same insert; a duplicate
            # rolls the whole transaction back, so the in-memory move is never persisted.
            before = transfer.state
            postings = apply_partner_outcome(transfer, outcome, at=now)
            fresh = await uow.webhooks.record(
                partner=partner,
                delivery_id=delivery_id,
                transfer_id=transfer_id,
                outcome=outcome.value,
                amount=amount,
                signed_at=datetime.fromtimestamp(signed.timestamp, UTC),
                received_at=now,
                resulting_state=transfer.state.value,
            )
            if not fresh:
                return WebhookResult(WebhookStatus.DUPLICATE, state=before.value)
            due = await record_moves(uow, self.config, transfer, postings, now)
            await uow.commit()
        if due:
            self.config.on_dispatch_due()
        return WebhookResult(WebhookStatus.APPLIED, state=transfer.state.value)
