"""Administrators: verification tiers, reconciliation with partners, the ledger check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kopano.errors import BadUserInput
from payments.domain.ledger import Account, AccountKind
from payments.domain.money import PAYOUT_CURRENCY, Money
from payments.partners.base import PAYOUT_PARTNERS
from payments.service.common import ServiceConfig

MAX_PERIOD_DAYS = 366


@dataclass(frozen=True, slots=True)
class Reconciliation:
    partner: str
    period_start: datetime
    period_end: datetime
    # What the ledger says Kopano owes the partner for payouts confirmed in the period.
    ledger_owed: Money
    # What the partner reported paying out in the period (credited minus returned).
    partner_reported: Money
    ledger_transfers: int
    reported_transfers: int

    @property
    def difference(self) -> Money:
        return self.ledger_owed - self.partner_reported

    @property
    def matched(self) -> bool:
        return self.difference.amount == 0


@dataclass(frozen=True, slots=True)
class LedgerCheck:
    transactions: int
    entries: int
    unbalanced_transactions: list[int]
    # Accounts whose stored running balance differs from the sum of their entries.
    mismatched_accounts: list[str]
    balances: dict[str, int]

    @property
    def consistent(self) -> bool:
        return not self.unbalanced_transactions and not self.mismatched_accounts


class AdminService:
    def __init__(self, config: ServiceConfig) -> None:
        self.config = config

    async def reconciliation(self, partner: str, start: datetime, end: datetime) -> Reconciliation:
        if partner not in PAYOUT_PARTNERS.values():
            raise BadUserInput(
                f"partner must be one of {', '.join(sorted(PAYOUT_PARTNERS.values()))}",
                field="partner",
            )
        if start.tzinfo is None or end.tzinfo is None:
            raise BadUserInput("period bounds need a time zone", field="period")
        if not start < end or (end - start).days > MAX_PERIOD_DAYS:
            raise BadUserInput("period must be non-empty and at most a year", field="period")
        payable = Account(AccountKind.PARTNER_PAYABLE, PAYOUT_CURRENCY, partner).key
        async with self.config.uow() as uow:
            movement, ledger_count = await uow.ledger.movement(payable, start, end)
            reported, reported_count = await uow.webhooks.reported(partner, start, end)
        return Reconciliation(
            partner=partner,
            period_start=start,
            period_end=end,
            # A liability: credits (negative) are what we owe.
            ledger_owed=Money(-movement, PAYOUT_CURRENCY),
            partner_reported=Money(reported, PAYOUT_CURRENCY),
            ledger_transfers=ledger_count,
            reported_transfers=reported_count,
        )

    async def ledger_check(self) -> LedgerCheck:
        async with self.config.uow() as uow:
            transactions, entries = await uow.ledger.counts()
            unbalanced = await uow.ledger.unbalanced_transactions()
            stored = await uow.ledger.balances()
            derived = await uow.ledger.derived_balances()
        mismatched = sorted(
            key
            for key in stored.keys() | derived.keys()
            if stored.get(key, 0) != derived.get(key, 0)
        )
        return LedgerCheck(transactions, entries, unbalanced, mismatched, derived)
