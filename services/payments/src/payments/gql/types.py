"""GraphQL object types, enums and inputs of the payments subgraph.

Money is an object ``{ amount, currency, formatted }`` whose ``amount`` is the integer number
of minor units as a decimal string ("125050" is 1250.50): exact, and never limited by
GraphQL's 32-bit ``Int``. Inputs take amounts the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar, cast

import strawberry
from strawberry.types import Info

from payments.context import PaymentsContext
from payments.domain import compliance, limits, quotes, recipients, transfers
from payments.domain.money import Money as DomainMoney
from payments.domain.recipients import PICKUP_DISTRICTS
from payments.service.admin import LedgerCheck, Reconciliation
from payments.service.remittances import LimitsView, TransferDetails

Ctx = Info[PaymentsContext, None]
F = TypeVar("F", bound=Callable[..., Any])

# strawberry.enum registers the domain enums themselves; annotations use the domain classes.
strawberry.enum(quotes.PayoutMethod, description="How the recipient is paid.")
strawberry.enum(compliance.PurposeCode, name="RemittancePurpose", description="Purpose of payment.")
strawberry.enum(recipients.Relationship, description="Recipient to sender.")
strawberry.enum(recipients.LesothoBank)
strawberry.enum(transfers.TransferState, name="RemittanceState")
strawberry.enum(limits.VerificationTier)
PayoutMethod = quotes.PayoutMethod
RemittancePurpose = compliance.PurposeCode
Relationship = recipients.Relationship
LesothoBank = recipients.LesothoBank
RemittanceState = transfers.TransferState
VerificationTier = limits.VerificationTier


def field(description: str) -> Callable[[F], F]:
    return cast(Callable[[F], F], strawberry.field(description=description))


def signed_in(description: str) -> Callable[[F], F]:
    """A field for signed-in callers only, marked ``@authenticated`` in the subgraph SDL so
    the gateway can refuse it before planning (the resolver still checks)."""
    return cast(
        Callable[[F], F], strawberry.federation.field(description=description, authenticated=True)
    )


def mutation(description: str) -> Callable[[F], F]:
    return cast(Callable[[F], F], strawberry.mutation(description=description))


def signed_in_mutation(description: str) -> Callable[[F], F]:
    """A mutation for signed-in callers only, marked ``@authenticated`` like `signed_in`."""
    return cast(
        Callable[[F], F],
        strawberry.federation.mutation(description=description, authenticated=True),
    )


# Shareable: the opportunities subgraph defines the same value type.
@strawberry.federation.type(shareable=True, description="An exact amount of money.")
class Money:
    amount: str = strawberry.field(
        description='Integer minor units as a decimal string (cents, lisente): "125050" = 1250.50.'
    )
    currency: str = strawberry.field(description="ISO 4217 code.")
    formatted: str = strawberry.field(description='Human-readable, e.g. "1250.50 ZAR".')

    @classmethod
    def of(cls, money: DomainMoney) -> Money:
        return cls(amount=str(money.amount), currency=money.currency, formatted=money.format())


@strawberry.type(name="Quote", description="A price promise, valid until expiresAt.")
class QuoteType:
    id: strawberry.ID
    send_amount: Money
    fee: Money
    total_charged: Money
    receive_amount: Money
    rate: str = strawberry.field(description="Maloti per unit of the send currency (decimal).")
    fee_fixed: Money
    fee_percentage: str = strawberry.field(description='Percentage part of the fee, e.g. "1.00".')
    payout_method: PayoutMethod
    created_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, q: quotes.Quote) -> QuoteType:
        return cls(
            id=strawberry.ID(str(q.id)),
            send_amount=Money.of(q.send_amount),
            fee=Money.of(q.fee),
            total_charged=Money.of(q.total_charged),
            receive_amount=Money.of(q.receive_amount),
            rate=format(q.rate.normalize(), "f"),
            fee_fixed=Money.of(q.corridor.fee.fixed),
            fee_percentage=f"{q.corridor.fee.percentage_bp / 100:.2f}",
            payout_method=q.payout_method,
            created_at=q.created_at,
            expires_at=q.expires_at,
        )


@strawberry.type(name="Recipient", description="A saved recipient in Lesotho.")
class RecipientType:
    id: strawberry.ID
    name: str
    relationship: Relationship
    payout_method: PayoutMethod
    mobile_number: str | None
    bank: LesothoBank | None
    account_number: str | None
    pickup_district: str | None
    pickup_district_name: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, r: recipients.Recipient) -> RecipientType:
        return cls(
            id=strawberry.ID(str(r.id)),
            name=r.name,
            relationship=r.relationship,
            payout_method=r.payout_method,
            mobile_number=r.mobile_number,
            bank=r.bank,
            account_number=r.account_number,
            pickup_district=r.pickup_district,
            pickup_district_name=PICKUP_DISTRICTS.get(r.pickup_district or ""),
            created_at=r.created_at,
            updated_at=r.updated_at,
        )


@strawberry.type(description="One state change of a remittance, with when and why.")
class RemittanceTransition:
    source: RemittanceState = strawberry.field(name="from")
    target: RemittanceState = strawberry.field(name="to")
    cause: str
    at: datetime


@strawberry.type(description="What the sender keeps as proof of a remittance.")
class Receipt:
    reference: str
    status: RemittanceState
    send_amount: Money
    fee: Money
    total_charged: Money
    receive_amount: Money
    rate: str
    payout_method: PayoutMethod
    recipient_name: str | None
    recipient_destination: str | None = strawberry.field(
        description="Masked mobile number or account, or the pick-up district."
    )
    created_at: datetime
    funded_at: datetime | None
    paid_out_at: datetime | None


@strawberry.type(name="Remittance", description="Money sent home.")
class RemittanceType:
    details: strawberry.Private[TransferDetails]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.details.transfer.id))

    @strawberry.field
    def reference(self) -> str:
        return self.details.transfer.reference

    @strawberry.field
    def state(self) -> RemittanceState:
        return self.details.transfer.state

    @strawberry.field
    def send_amount(self) -> Money:
        return Money.of(self.details.transfer.send_amount)

    @strawberry.field
    def fee(self) -> Money:
        return Money.of(self.details.transfer.fee)

    @strawberry.field
    def total_charged(self) -> Money:
        return Money.of(self.details.transfer.total_charged)

    @strawberry.field
    def receive_amount(self) -> Money:
        return Money.of(self.details.transfer.receive_amount)

    @strawberry.field
    def rate(self) -> str:
        return format(self.details.rate, "f")

    @strawberry.field
    def payout_method(self) -> PayoutMethod:
        return self.details.transfer.payout_method

    @strawberry.field
    def purpose(self) -> RemittancePurpose:
        return compliance.PurposeCode(self.details.transfer.purpose)

    @strawberry.field
    def cancellable(self) -> bool:
        return self.details.transfer.state in transfers.CANCELLABLE

    @strawberry.field
    def created_at(self) -> datetime:
        return self.details.transfer.created_at

    @strawberry.field
    def updated_at(self) -> datetime:
        return self.details.updated_at

    @strawberry.field
    def funded_at(self) -> datetime | None:
        return self.details.funded_at

    @strawberry.field
    def paid_out_at(self) -> datetime | None:
        return self.details.paid_out_at

    @strawberry.field
    async def recipient(self, info: Ctx) -> RecipientType | None:
        r = await info.context.recipient_loader.load(self.details.transfer.recipient_id)
        return RecipientType.of(r) if r else None

    @field("Every state change, oldest first.")
    async def history(self, info: Ctx) -> list[RemittanceTransition]:
        history = self.details.history
        if history is None:
            found = await info.context.services.remittances.remittance(self.details.transfer.id)
            history = (found.history if found else None) or []
        return [
            RemittanceTransition(source=h.source, target=h.target, cause=h.cause, at=h.at)
            for h in history
        ]

    @strawberry.field
    async def receipt(self, info: Ctx) -> Receipt:
        t = self.details.transfer
        r = await info.context.recipient_loader.load(t.recipient_id)
        return Receipt(
            reference=t.reference,
            status=t.state,
            send_amount=Money.of(t.send_amount),
            fee=Money.of(t.fee),
            total_charged=Money.of(t.total_charged),
            receive_amount=Money.of(t.receive_amount),
            rate=format(self.details.rate, "f"),
            payout_method=t.payout_method,
            recipient_name=r.name if r else None,
            recipient_destination=r.masked_destination if r else None,
            created_at=t.created_at,
            funded_at=self.details.funded_at,
            paid_out_at=self.details.paid_out_at,
        )


@strawberry.type
class SenderDetails:
    occupation: str
    address: str
    country: str

    @classmethod
    def of(cls, d: compliance.SenderDetails) -> SenderDetails:
        return cls(occupation=d.occupation, address=d.address, country=d.country)


@strawberry.type(description="The caller's verification tier, its limits and what is used.")
class SendingLimits:
    tier: VerificationTier
    per_transfer: Money
    daily: Money
    monthly: Money
    used_today: Money
    used_this_month: Money

    @classmethod
    def of(cls, v: LimitsView) -> SendingLimits:
        def lsl(amount: int) -> Money:
            return Money.of(DomainMoney(amount, "LSL"))

        return cls(
            tier=v.tier,
            per_transfer=lsl(v.limits.per_transfer),
            daily=lsl(v.limits.daily),
            monthly=lsl(v.limits.monthly),
            used_today=lsl(v.usage.today),
            used_this_month=lsl(v.usage.this_month),
        )


@strawberry.type(name="Reconciliation", description="Ledger versus partner for one period.")
class ReconciliationType:
    partner: str
    period_start: datetime
    period_end: datetime
    ledger_owed: Money
    partner_reported: Money
    difference: Money
    matched: bool
    ledger_transfers: int
    reported_transfers: int

    @classmethod
    def of(cls, r: Reconciliation) -> ReconciliationType:
        return cls(
            partner=r.partner,
            period_start=r.period_start,
            period_end=r.period_end,
            ledger_owed=Money.of(r.ledger_owed),
            partner_reported=Money.of(r.partner_reported),
            difference=Money.of(r.difference),
            matched=r.matched,
            ledger_transfers=r.ledger_transfers,
            reported_transfers=r.reported_transfers,
        )


@strawberry.type
class AccountBalance:
    account: str
    balance: Money


@strawberry.type(name="LedgerCheck")
class LedgerCheckType:
    consistent: bool
    transactions: int
    entries: int
    unbalanced_transactions: list[str]
    mismatched_accounts: list[str]
    balances: list[AccountBalance]

    @classmethod
    def of(cls, c: LedgerCheck) -> LedgerCheckType:
        return cls(
            consistent=c.consistent,
            transactions=c.transactions,
            entries=c.entries,
            unbalanced_transactions=[str(i) for i in c.unbalanced_transactions],
            mismatched_accounts=c.mismatched_accounts,
            balances=[
                AccountBalance(account=k, balance=Money.of(DomainMoney(v, k.rsplit(":", 1)[1])))
                for k, v in sorted(c.balances.items())
            ],
        )


@strawberry.input(description="Give exactly one of sendAmount and receiveAmount (minor units).")
class QuoteInput:
    send_currency: str
    payout_method: PayoutMethod
    send_amount: str | None = None
    receive_amount: str | None = strawberry.field(default=None, description="In LSL minor units.")


@strawberry.input
class RecipientInput:
    name: str
    relationship: Relationship
    payout_method: PayoutMethod
    mobile_number: str | None = strawberry.field(
        default=None, description="M-Pesa / EcoCash: +266 and 8 digits."
    )
    bank: LesothoBank | None = None
    account_number: str | None = None
    pickup_district: str | None = strawberry.field(
        default=None, description="Cash pick-up: ISO 3166-2 district code, e.g. LS-A (Maseru)."
    )


@strawberry.input
class SendRemittanceInput:
    quote_id: strawberry.ID
    recipient_id: strawberry.ID
    purpose: RemittancePurpose
    idempotency_key: str = strawberry.field(
        description="Client-chosen, 8-128 characters; a retry with the same key returns the same remittance."
    )


@strawberry.input
class SenderDetailsInput:
    occupation: str
    address: str
    country: str = strawberry.field(description="ISO 3166 alpha-2 country of residence.")


def remittance(details: TransferDetails) -> RemittanceType:
    return RemittanceType(details=details)


def uuid_or_none(raw: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        return None
