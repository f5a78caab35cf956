"""Quotes: exchange rate, fee and the exact amount the recipient gets, shown before anything is sent."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Final

from payments.domain.errors import InvalidAmount, UnsupportedCorridor, UnsupportedCurrency
from payments.domain.money import (
    PAYOUT_CURRENCY,
    SEND_CURRENCIES,
    Money,
    Rounding,
    exponent,
    quantize_minor,
)

QUOTE_VALIDITY: Final = timedelta(minutes=15)
BASIS_POINTS: Final = Decimal(10_000)


class PayoutMethod(StrEnum):
    MPESA = "MPESA"
    ECOCASH = "ECOCASH"
    BANK_ACCOUNT = "BANK_ACCOUNT"
    CASH_PICKUP = "CASH_PICKUP"


@dataclass(frozen=True, slots=True)
class Fee:
    """A fixed part in the send currency plus a percentage in basis points (125 = 1.25 %)."""

    fixed: Money
    percentage_bp: int

    def __post_init__(self) -> None:
        if self.fixed.amount < 0 or not 0 <= self.percentage_bp <= 2_000:
            raise InvalidAmount("fee must be non-negative and at most 20 %")

    def on(self, send_amount: Money) -> Money:
        variable = Decimal(send_amount.amount) * self.percentage_bp / BASIS_POINTS
        return self.fixed + Money(quantize_minor(variable, Rounding.FEE), send_amount.currency)


@dataclass(frozen=True, slots=True)
class Corridor:
    """One send currency paid out in maloti by one method."""

    send_currency: str
    payout_method: PayoutMethod
    fee: Fee
    # Customer rate: payout units per send unit, after the margin. Decimal, never float.
    rate: Decimal

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise InvalidAmount("rate must be positive")


@dataclass(frozen=True, slots=True)
class Quote:
    id: uuid.UUID
    corridor: Corridor
    send_amount: Money
    fee: Money
    receive_amount: Money
    created_at: datetime
    expires_at: datetime

    @property
    def total_charged(self) -> Money:
        return self.send_amount + self.fee

    @property
    def rate(self) -> Decimal:
        return self.corridor.rate

    @property
    def payout_method(self) -> PayoutMethod:
        return self.corridor.payout_method

    def is_valid_at(self, now: datetime) -> bool:
        return now < self.expires_at


def _minor_scale(send_currency: str) -> Decimal:
    # Converts "send minor units * rate" into payout minor units when exponents differ.
    return Decimal(10) ** (exponent(PAYOUT_CURRENCY) - exponent(send_currency))


def receive_for(send_amount: Money, rate: Decimal) -> Money:
    payout = Decimal(send_amount.amount) * rate * _minor_scale(send_amount.currency)
    return Money(quantize_minor(payout, Rounding.PAYOUT), PAYOUT_CURRENCY)


def send_for(receive_amount: Money, send_currency: str, rate: Decimal) -> Money:
    send = Decimal(receive_amount.amount) / (rate * _minor_scale(send_currency))
    return Money(quantize_minor(send, Rounding.SEND_FROM_PAYOUT), send_currency)


class CorridorBook:
    """The configured corridors: fee and customer rate per (send currency, payout method)."""

    def __init__(self, corridors: Mapping[tuple[str, PayoutMethod], Corridor]) -> None:
        self._corridors = dict(corridors)

    def corridor(self, send_currency: str, payout_method: PayoutMethod) -> Corridor:
        if send_currency not in SEND_CURRENCIES:
            raise UnsupportedCurrency(send_currency)
        try:
            return self._corridors[(send_currency, payout_method)]
        except KeyError:
            raise UnsupportedCorridor(send_currency, payout_method.value) from None

    def quote(
        self,
        *,
        send_currency: str,
        payout_method: PayoutMethod,
        now: datetime,
        send_amount: Money | None = None,
        receive_amount: Money | None = None,
        quote_id: uuid.UUID | None = None,
    ) -> Quote:
        """Quote by what the sender pays (`send_amount`) or by what the recipient gets (`receive_amount`)."""
        if (send_amount is None) == (receive_amount is None):
            raise InvalidAmount("give exactly one of sendAmount and receiveAmount")
        corridor = self.corridor(send_currency, payout_method)
        if send_amount is not None:
            if send_amount.currency != send_currency:
                raise InvalidAmount("sendAmount must be in the send currency")
            send = send_amount
        else:
            assert receive_amount is not None
            if receive_amount.currency != PAYOUT_CURRENCY:
                raise InvalidAmount(f"receiveAmount must be in {PAYOUT_CURRENCY}")
            if not receive_amount.is_positive:
                raise InvalidAmount("amount must be positive")
            send = send_for(receive_amount, send_currency, corridor.rate)
        if not send.is_positive:
            raise InvalidAmount("amount must be positive")
        receive = receive_for(send, corridor.rate)
        if not receive.is_positive:
            raise InvalidAmount("amount is too small to pay out")
        return Quote(
            id=quote_id or uuid.uuid4(),
            corridor=corridor,
            send_amount=send,
            fee=corridor.fee.on(send),
            receive_amount=receive,
            created_at=now,
            expires_at=now + QUOTE_VALIDITY,
        )


def default_corridor_book() -> CorridorBook:
    """Sandbox corridors. Production rates and fees come from configuration, not from code."""
    mid_rates = {  # maloti per unit of the send currency
        "ZAR": Decimal("1"),  # the loti is pegged 1:1 to the rand
        "NAD": Decimal("1"),
        "SZL": Decimal("1"),
        "BWP": Decimal("1.3350"),
        "GBP": Decimal("23.4500"),
        "USD": Decimal("18.2000"),
        "EUR": Decimal("19.7500"),
    }
    pegged = {"ZAR", "NAD", "SZL"}
    margin_bp = Decimal(150)
    corridors: dict[tuple[str, PayoutMethod], Corridor] = {}
    for currency, mid in mid_rates.items():
        rate = mid if currency in pegged else mid * (1 - margin_bp / BASIS_POINTS)
        for method in PayoutMethod:
            fixed = 1_500 if method is PayoutMethod.CASH_PICKUP else 1_000
            if currency not in pegged:
                fixed //= 10  # a foreign-currency fee of 1.00 / 1.50 units
            corridors[(currency, method)] = Corridor(
                send_currency=currency,
                payout_method=method,
                fee=Fee(Money(fixed, currency), percentage_bp=100),
                rate=rate,
            )
    return CorridorBook(corridors)
