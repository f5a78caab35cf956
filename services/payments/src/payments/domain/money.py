"""Money as integer minor units plus an ISO 4217 code. Floats never touch an amount."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Final

from payments.domain.errors import CurrencyMismatch, InvalidAmount, UnsupportedCurrency

# Minor-unit exponents (ISO 4217) of the currencies the platform handles.
MINOR_UNIT_EXPONENTS: Final[dict[str, int]] = {
    "LSL": 2,  # Lesotho loti, pegged 1:1 to the rand
    "ZAR": 2,
    "BWP": 2,
    "GBP": 2,
    "USD": 2,
    "EUR": 2,
    "NAD": 2,
    "SZL": 2,
}

PAYOUT_CURRENCY: Final = "LSL"
SEND_CURRENCIES: Final[frozenset[str]] = frozenset(
    {"ZAR", "BWP", "GBP", "USD", "EUR", "NAD", "SZL"}
)

# Amounts beyond this are refused: far above any remittance, and far below 2**63 so sums of
# many amounts still fit a PostgreSQL BIGINT.
MAX_MINOR_UNITS: Final = 10**15


def exponent(currency: str) -> int:
    try:
        return MINOR_UNIT_EXPONENTS[currency]
    except KeyError:
        raise UnsupportedCurrency(currency) from None


@dataclass(frozen=True, slots=True, order=False)
class Money:
    """An exact amount: `amount` minor units (cents, lisente) of `currency`."""

    amount: int
    currency: str

    def __post_init__(self) -> None:
        # bool is an int subclass; True cents is a bug, not an amount.
        if not isinstance(self.amount, int) or isinstance(self.amount, bool):
            raise InvalidAmount("amount must be an integer number of minor units")
        if abs(self.amount) > MAX_MINOR_UNITS:
            raise InvalidAmount("amount is out of range")
        exponent(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def parse(cls, text: str, currency: str) -> Money:
        """Parse a decimal string such as "1250.50" exactly; more decimals than the currency has fail."""
        try:
            value = Decimal(text)
        except ArithmeticError:
            raise InvalidAmount(f"{text!r} is not a decimal amount") from None
        if not value.is_finite():
            raise InvalidAmount(f"{text!r} is not a decimal amount")
        scaled = value.scaleb(exponent(currency))
        if scaled != scaled.to_integral_value():
            raise InvalidAmount(f"{currency} has {exponent(currency)} decimal places")
        return cls(int(scaled), currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(self.currency, other.currency)

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount >= other.amount

    @property
    def is_positive(self) -> bool:
        return self.amount > 0

    def to_decimal(self) -> Decimal:
        return Decimal(self.amount).scaleb(-exponent(self.currency))

    def format(self) -> str:
        """`R 1250.50`-free neutral form: `1250.50 ZAR`."""
        return f"{self.to_decimal():.{exponent(self.currency)}f} {self.currency}"


class Rounding:
    """The rounding rules, one per purpose, so every call site says which rule it applies."""

    # Fees round half up to the nearest minor unit.
    FEE = ROUND_HALF_UP
    # A converted payout amount rounds down: the recipient is never promised a fraction we cannot pay.
    PAYOUT = ROUND_FLOOR
    # A send amount worked back from a wanted payout rounds up, so the payout is at least what was asked.
    SEND_FROM_PAYOUT = ROUND_CEILING


def quantize_minor(value: Decimal, rounding: str) -> int:
    """Round a Decimal number of minor units to a whole number of minor units."""
    return int(value.to_integral_value(rounding=rounding))
