"""Payment rule violations. The schema layer maps them to stable GraphQL error codes."""

from __future__ import annotations

from kopano.errors import DomainError, ErrorCode


class PaymentsError(DomainError):
    """Base for every broken payment rule; `code` is the GraphQL `extensions.code`.

    A kit `DomainError`, so the kit's error masking shows its message and code to the caller.
    """

    code = ErrorCode.BAD_USER_INPUT


class InvalidAmount(PaymentsError):
    def __init__(self, message: str) -> None:
        super().__init__(message, field="amount")


class UnsupportedCurrency(PaymentsError):
    def __init__(self, currency: str) -> None:
        super().__init__(f"currency {currency!r} is not supported", field="currency")
        self.currency = currency


class CurrencyMismatch(PaymentsError):
    code = ErrorCode.INTERNAL

    def __init__(self, left: str, right: str) -> None:
        super().__init__(f"cannot combine {left} with {right}")


class UnsupportedCorridor(PaymentsError):
    def __init__(self, send_currency: str, payout_method: str) -> None:
        super().__init__(
            f"no corridor from {send_currency} with payout method {payout_method}",
            field="payoutMethod",
        )


class QuoteExpired(PaymentsError):
    code = ErrorCode.CONFLICT

    def __init__(self) -> None:
        super().__init__("the quote has expired; ask for a new one", field="quoteId")


class IllegalTransition(PaymentsError):
    code = ErrorCode.CONFLICT

    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"a transfer cannot go from {current} to {target}")
        self.current = current
        self.target = target


class UnbalancedTransaction(PaymentsError):
    code = ErrorCode.INTERNAL


class LimitExceeded(PaymentsError):
    code = ErrorCode.FORBIDDEN
