"""Payment rule violations. The schema layer maps them to stable GraphQL error codes."""

from __future__ import annotations


class PaymentsError(Exception):
    """Base for every broken payment rule; `code` is the GraphQL `extensions.code`."""

    code = "BAD_USER_INPUT"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidAmount(PaymentsError):
    def __init__(self, message: str) -> None:
        super().__init__(message, field="amount")


class UnsupportedCurrency(PaymentsError):
    def __init__(self, currency: str) -> None:
        super().__init__(f"currency {currency!r} is not supported", field="currency")
        self.currency = currency


class CurrencyMismatch(PaymentsError):
    code = "INTERNAL"

    def __init__(self, left: str, right: str) -> None:
        super().__init__(f"cannot combine {left} with {right}")


class UnsupportedCorridor(PaymentsError):
    def __init__(self, send_currency: str, payout_method: str) -> None:
        super().__init__(
            f"no corridor from {send_currency} with payout method {payout_method}",
            field="payoutMethod",
        )


class QuoteExpired(PaymentsError):
    code = "CONFLICT"

    def __init__(self) -> None:
        super().__init__("the quote has expired; ask for a new one", field="quoteId")


class IllegalTransition(PaymentsError):
    code = "CONFLICT"

    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"a transfer cannot go from {current} to {target}")
        self.current = current
        self.target = target


class UnbalancedTransaction(PaymentsError):
    code = "INTERNAL"


class LimitExceeded(PaymentsError):
    code = "FORBIDDEN"
