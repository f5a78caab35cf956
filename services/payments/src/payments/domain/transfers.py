"""The remittance state machine and the ledger postings each transition makes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final

from payments.domain.errors import IllegalTransition
from payments.domain.ledger import Account, AccountKind, LedgerTransaction, credit, debit
from payments.domain.money import Money
from payments.domain.quotes import PayoutMethod


class TransferState(StrEnum):
    CREATED = "CREATED"
    AWAITING_FUNDS = "AWAITING_FUNDS"
    FUNDED = "FUNDED"
    PAYOUT_PENDING = "PAYOUT_PENDING"
    PAID_OUT = "PAID_OUT"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    REFUNDED = "REFUNDED"
    REVERSED = "REVERSED"


S = TransferState

ALLOWED: Final[dict[TransferState, frozenset[TransferState]]] = {
    S.CREATED: frozenset({S.AWAITING_FUNDS, S.CANCELLED, S.FAILED}),
    S.AWAITING_FUNDS: frozenset({S.FUNDED, S.CANCELLED, S.FAILED}),
    # After funding, a cancel or a failure leaves the sender's money held until it is refunded.
    S.FUNDED: frozenset({S.PAYOUT_PENDING, S.CANCELLED, S.FAILED}),
    S.PAYOUT_PENDING: frozenset({S.PAID_OUT, S.FAILED}),
    # A payout can bounce back after it was confirmed.
    S.PAID_OUT: frozenset({S.REVERSED}),
    S.FAILED: frozenset({S.REFUNDED}),
    S.CANCELLED: frozenset({S.REFUNDED}),
    S.REVERSED: frozenset({S.REFUNDED}),
    S.REFUNDED: frozenset(),
}

# The sender may cancel until the payout starts.
CANCELLABLE: Final = frozenset({S.CREATED, S.AWAITING_FUNDS, S.FUNDED})


@dataclass(frozen=True, slots=True)
class Transition:
    source: TransferState
    target: TransferState
    cause: str
    at: datetime


@dataclass(slots=True)
class Transfer:
    """A remittance. Amounts are fixed by its quote; only the state moves."""

    id: uuid.UUID
    sender_id: uuid.UUID
    recipient_id: uuid.UUID
    send_amount: Money
    fee: Money
    receive_amount: Money
    payout_method: PayoutMethod
    payout_partner: str
    payin_provider: str
    purpose: str
    reference: str
    created_at: datetime
    state: TransferState = S.CREATED
    funds_received: bool = False
    history: list[Transition] = field(default_factory=list)

    @property
    def total_charged(self) -> Money:
        return self.send_amount + self.fee

    def can_move_to(self, target: TransferState) -> bool:
        if target not in ALLOWED[self.state]:
            return False
        # A refund returns money that was received; with nothing received there is nothing to refund.
        return target is not S.REFUNDED or self.funds_received

    def move_to(
        self, target: TransferState, *, cause: str, at: datetime
    ) -> LedgerTransaction | None:
        """Apply one transition and return the ledger transaction it posts, if any."""
        if not self.can_move_to(target):
            raise IllegalTransition(self.state.value, target.value)
        posting = postings_for(self, self.state, target)
        self.history.append(Transition(self.state, target, cause, at))
        self.state = target
        if target is S.FUNDED:
            self.funds_received = True
        return posting

    @property
    def is_terminal(self) -> bool:
        return not any(self.can_move_to(target) for target in ALLOWED[self.state])


def _accounts(transfer: Transfer) -> dict[str, Account]:
    send_ccy = transfer.send_amount.currency
    payout_ccy = transfer.receive_amount.currency
    return {
        "payin": Account(AccountKind.PAYIN_CLEARING, send_ccy, transfer.payin_provider),
        "customer": Account(AccountKind.CUSTOMER_FUNDS, send_ccy),
        "fee": Account(AccountKind.FEE_REVENUE, send_ccy),
        "fx_send": Account(AccountKind.FX, send_ccy),
        "fx_payout": Account(AccountKind.FX, payout_ccy),
        "clearing": Account(AccountKind.PAYOUT_CLEARING, payout_ccy, transfer.payout_partner),
        "payable": Account(AccountKind.PARTNER_PAYABLE, payout_ccy, transfer.payout_partner),
    }


def funding_posting(transfer: Transfer) -> LedgerTransaction:
    a = _accounts(transfer)
    entries = [
        debit(a["payin"], transfer.total_charged),
        credit(a["customer"], transfer.send_amount),
    ]
    if transfer.fee.is_positive:
        entries.append(credit(a["fee"], transfer.fee))
    return LedgerTransaction(f"{transfer.reference} funded", tuple(entries))


def payout_posting(transfer: Transfer) -> LedgerTransaction:
    a = _accounts(transfer)
    return LedgerTransaction(
        f"{transfer.reference} payout instructed",
        (
            debit(a["customer"], transfer.send_amount),
            credit(a["fx_send"], transfer.send_amount),
            debit(a["fx_payout"], transfer.receive_amount),
            credit(a["clearing"], transfer.receive_amount),
        ),
    )


def confirmation_posting(transfer: Transfer) -> LedgerTransaction:
    a = _accounts(transfer)
    return LedgerTransaction(
        f"{transfer.reference} paid out",
        (
            debit(a["clearing"], transfer.receive_amount),
            credit(a["payable"], transfer.receive_amount),
        ),
    )


def postings_for(
    transfer: Transfer, source: TransferState, target: TransferState
) -> LedgerTransaction | None:
    """The balanced transaction a transition posts. Corrections are reversals of earlier postings."""
    ref = transfer.reference
    if target is S.FUNDED:
        return funding_posting(transfer)
    if target is S.PAYOUT_PENDING:
        return payout_posting(transfer)
    if target is S.PAID_OUT:
        return confirmation_posting(transfer)
    if target is S.FAILED and source is S.PAYOUT_PENDING:
        return payout_posting(transfer).reversed(f"{ref} payout failed")
    if target is S.REVERSED:
        undo_confirmation = confirmation_posting(transfer).reversed("")
        undo_payout = payout_posting(transfer).reversed("")
        return LedgerTransaction(
            f"{ref} payout reversed", undo_confirmation.entries + undo_payout.entries
        )
    if target is S.REFUNDED:
        return funding_posting(transfer).reversed(f"{ref} refunded")
    return None


class PartnerOutcome(StrEnum):
    """What a partner's webhook reports. Deliveries may repeat, arrive late or out of order."""

    PAYIN_COLLECTED = "PAYIN_COLLECTED"
    PAYIN_FAILED = "PAYIN_FAILED"
    PAYOUT_CREDITED = "PAYOUT_CREDITED"
    PAYOUT_FAILED = "PAYOUT_FAILED"
    PAYOUT_RETURNED = "PAYOUT_RETURNED"


def apply_partner_outcome(
    transfer: Transfer, outcome: PartnerOutcome, *, at: datetime
) -> list[LedgerTransaction]:
    """Move the transfer as the outcome says, ending where in-order delivery would have ended.

    A duplicate or stale report changes nothing and posts nothing.
    """
    cause = f"partner:{outcome.value.lower()}"
    postings: list[LedgerTransaction] = []

    def move(target: TransferState) -> None:
        posting = transfer.move_to(target, cause=cause, at=at)
        if posting is not None:
            postings.append(posting)

    state = transfer.state
    if outcome is PartnerOutcome.PAYIN_COLLECTED:
        if state is S.CREATED:
            move(S.AWAITING_FUNDS)
            move(S.FUNDED)
        elif state is S.AWAITING_FUNDS:
            move(S.FUNDED)
        elif state in (S.CANCELLED, S.FAILED) and not transfer.funds_received:
            # Money arrived for a transfer that had already stopped: record it, then give it back.
            postings.append(funding_posting(transfer))
            transfer.funds_received = True
            move(S.REFUNDED)
    elif outcome is PartnerOutcome.PAYIN_FAILED:
        if state in (S.CREATED, S.AWAITING_FUNDS):
            move(S.FAILED)
    elif outcome is PartnerOutcome.PAYOUT_CREDITED:
        if state is S.PAYOUT_PENDING:
            move(S.PAID_OUT)
    elif outcome is PartnerOutcome.PAYOUT_FAILED:
        if state is S.PAYOUT_PENDING:
            move(S.FAILED)
    elif outcome is PartnerOutcome.PAYOUT_RETURNED:
        if state is S.PAYOUT_PENDING:
            # The return overtook the credit confirmation: the payout did happen, then bounced.
            move(S.PAID_OUT)
            move(S.REVERSED)
        elif state is S.PAID_OUT:
            move(S.REVERSED)
    return postings
