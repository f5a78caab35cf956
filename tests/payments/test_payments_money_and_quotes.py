"""Money arithmetic and quote rounding rules."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.domain.errors import (
    CurrencyMismatch,
    InvalidAmount,
    UnsupportedCorridor,
    UnsupportedCurrency,
)
from payments.domain.money import Money
from payments.domain.quotes import (
    QUOTE_VALIDITY,
    Corridor,
    CorridorBook,
    Fee,
    PayoutMethod,
    default_corridor_book,
    receive_for,
    send_for,
)

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def test_money_refuses_floats_and_booleans() -> None:
    with pytest.raises(InvalidAmount):
        Money(10.5, "ZAR")  # type: ignore[arg-type]
    with pytest.raises(InvalidAmount):
        Money(True, "ZAR")


def test_money_refuses_unknown_currency() -> None:
    with pytest.raises(UnsupportedCurrency):
        Money(100, "XYZ")


def test_money_does_not_mix_currencies() -> None:
    with pytest.raises(CurrencyMismatch):
        Money(100, "ZAR") + Money(100, "GBP")


def test_money_parses_decimal_text_exactly() -> None:
    assert Money.parse("1250.50", "ZAR") == Money(125050, "ZAR")
    assert Money.parse("0.01", "GBP") == Money(1, "GBP")
    with pytest.raises(InvalidAmount):
        Money.parse("1.005", "ZAR")
    with pytest.raises(InvalidAmount):
        Money.parse("NaN", "ZAR")
    assert Money(125050, "ZAR").format() == "1250.50 ZAR"


def test_amounts_far_beyond_32_bits_are_exact() -> None:
    big = Money(9_000_000_000_00, "ZAR")
    assert (big + Money(1, "ZAR")).amount == 900_000_000_001


def test_rand_to_loti_is_one_to_one_with_the_fee_on_top() -> None:
    quote = default_corridor_book().quote(
        send_currency="ZAR",
        payout_method=PayoutMethod.MPESA,
        send_amount=Money(100_000, "ZAR"),
        now=NOW,
    )
    assert quote.receive_amount == Money(100_000, "LSL")
    # R10 fixed + 1 % of R1000
    assert quote.fee == Money(1_000 + 1_000, "ZAR")
    assert quote.total_charged == Money(102_000, "ZAR")
    assert quote.expires_at - quote.created_at == QUOTE_VALIDITY


def test_percentage_fee_rounds_half_up() -> None:
    fee = Fee(Money(0, "ZAR"), percentage_bp=100)
    assert fee.on(Money(150, "ZAR")) == Money(2, "ZAR")  # 1.5 cents -> 2
    assert fee.on(Money(149, "ZAR")) == Money(1, "ZAR")  # 1.49 cents -> 1


def test_payout_rounds_down_and_send_from_payout_rounds_up() -> None:
    rate = Decimal("18.2")
    assert receive_for(Money(1, "USD"), rate) == Money(18, "LSL")  # 18.2 lisente -> 18
    assert send_for(Money(100, "LSL"), "USD", rate) == Money(6, "USD")  # 5.49 cents -> 6


@given(st.integers(min_value=1, max_value=10**9))
def test_quote_by_receive_amount_pays_at_least_what_was_asked(lisente: int) -> None:
    book = default_corridor_book()
    quote = book.quote(
        send_currency="GBP",
        payout_method=PayoutMethod.BANK_ACCOUNT,
        receive_amount=Money(lisente, "LSL"),
        now=NOW,
    )
    assert quote.receive_amount.amount >= lisente
    # One minor unit less would not have been enough.
    smaller = quote.send_amount - Money(1, "GBP")
    assert smaller.amount == 0 or receive_for(smaller, quote.rate).amount < lisente


def test_quote_needs_exactly_one_amount() -> None:
    book = default_corridor_book()
    with pytest.raises(InvalidAmount):
        book.quote(send_currency="ZAR", payout_method=PayoutMethod.MPESA, now=NOW)
    with pytest.raises(InvalidAmount):
        book.quote(
            send_currency="ZAR",
            payout_method=PayoutMethod.MPESA,
            send_amount=Money(0, "ZAR"),
            now=NOW,
        )


def test_unknown_corridor_is_refused() -> None:
    book = CorridorBook(
        {
            ("ZAR", PayoutMethod.MPESA): Corridor(
                "ZAR", PayoutMethod.MPESA, Fee(Money(0, "ZAR"), 0), Decimal(1)
            )
        }
    )
    with pytest.raises(UnsupportedCorridor):
        book.corridor("ZAR", PayoutMethod.CASH_PICKUP)
    with pytest.raises(UnsupportedCurrency):
        book.corridor("LSL", PayoutMethod.MPESA)


def test_quote_expiry() -> None:
    quote = default_corridor_book().quote(
        send_currency="BWP",
        payout_method=PayoutMethod.ECOCASH,
        send_amount=Money(50_000, "BWP"),
        now=NOW,
    )
    assert quote.is_valid_at(NOW + QUOTE_VALIDITY / 2)
    assert not quote.is_valid_at(NOW + QUOTE_VALIDITY)
