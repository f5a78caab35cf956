"""Double-entry ledger: every change posts a balanced, immutable transaction.

Kopano holds no money; the ledger records obligations between the sender, the pay-in provider,
the payout partners and Kopano's fee revenue. Entries are signed minor units: debits positive,
credits negative, so a transaction balances when its entries sum to zero in every currency.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from payments.domain.errors import UnbalancedTransaction
from payments.domain.money import Money


class AccountKind(StrEnum):
    # What the pay-in provider collected for us and still owes us.
    PAYIN_CLEARING = "payin_clearing"
    # What we owe senders until their money is paid out or refunded.
    CUSTOMER_FUNDS = "customer_funds"
    FEE_REVENUE = "fee_revenue"
    # Conversion between the send currency and maloti.
    FX = "fx"
    # Payouts instructed to a partner and not yet confirmed.
    PAYOUT_CLEARING = "payout_clearing"
    # Payouts a partner confirmed: what we must settle with that partner.
    PARTNER_PAYABLE = "partner_payable"


@dataclass(frozen=True, slots=True, order=True)
class Account:
    kind: AccountKind
    currency: str
    partner: str | None = None

    @property
    def key(self) -> str:
        """Stable text form used as the database key: `payout_clearing:mpesa:LSL`."""
        parts = [self.kind.value, *([self.partner] if self.partner else []), self.currency]
        return ":".join(parts)

    @classmethod
    def from_key(cls, key: str) -> Account:
        parts = key.split(":")
        kind = AccountKind(parts[0])
        if len(parts) == 3:
            return cls(kind, parts[2], parts[1])
        return cls(kind, parts[1])


@dataclass(frozen=True, slots=True)
class Entry:
    account: Account
    amount: int  # signed minor units: debit > 0, credit < 0

    def __post_init__(self) -> None:
        if self.amount == 0:
            raise UnbalancedTransaction("an entry must move a non-zero amount")


def debit(account: Account, money: Money) -> Entry:
    _check_currency(account, money)
    return Entry(account, money.amount)


def credit(account: Account, money: Money) -> Entry:
    _check_currency(account, money)
    return Entry(account, -money.amount)


def _check_currency(account: Account, money: Money) -> None:
    if account.currency != money.currency:
        raise UnbalancedTransaction(f"{money.currency} posted to {account.key}")


@dataclass(frozen=True, slots=True)
class LedgerTransaction:
    """A balanced set of entries describing one state change. Never edited; corrected by reversal."""

    description: str
    entries: tuple[Entry, ...]

    def __post_init__(self) -> None:
        if len(self.entries) < 2:
            raise UnbalancedTransaction("a transaction needs at least two entries")
        for currency, total in self.totals_by_currency().items():
            if total != 0:
                raise UnbalancedTransaction(f"{self.description}: {currency} is off by {total}")

    def totals_by_currency(self) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for entry in self.entries:
            totals[entry.account.currency] += entry.amount
        return dict(totals)

    def reversed(self, description: str) -> LedgerTransaction:
        return LedgerTransaction(
            description, tuple(Entry(e.account, -e.amount) for e in self.entries)
        )


def balances(transactions: Iterable[LedgerTransaction]) -> dict[Account, int]:
    """Balance of every account: the sum of its entries."""
    totals: dict[Account, int] = defaultdict(int)
    for transaction in transactions:
        for entry in transaction.entries:
            totals[entry.account] += entry.amount
    return {account: amount for account, amount in totals.items() if amount != 0}


def is_consistent(
    transactions: Iterable[LedgerTransaction], stored_balances: Mapping[Account, int]
) -> bool:
    """True when stored running balances equal the balances derived from the entries."""
    derived = balances(transactions)
    nonzero = {account: amount for account, amount in stored_balances.items() if amount != 0}
    return derived == nonzero
