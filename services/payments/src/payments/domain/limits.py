"""Sending limits by verification tier, in maloti (the payout currency every corridor shares)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

from payments.domain.errors import LimitExceeded
from payments.domain.money import PAYOUT_CURRENCY, Money


class VerificationTier(StrEnum):
    UNVERIFIED = "UNVERIFIED"
    BASIC = "BASIC"
    STANDARD = "STANDARD"
    ENHANCED = "ENHANCED"


@dataclass(frozen=True, slots=True)
class TierLimits:
    """Maximum payout value per transfer, per UTC day and per UTC month (LSL minor units)."""

    per_transfer: int
    daily: int
    monthly: int


# Limits are on the receive amount (maloti), so one table covers every send currency.
DEFAULT_LIMITS: Final[dict[VerificationTier, TierLimits]] = {
    VerificationTier.UNVERIFIED: TierLimits(0, 0, 0),
    VerificationTier.BASIC: TierLimits(500_000, 1_000_000, 2_500_000),
    VerificationTier.STANDARD: TierLimits(2_500_000, 5_000_000, 15_000_000),
    VerificationTier.ENHANCED: TierLimits(10_000_000, 20_000_000, 100_000_000),
}


@dataclass(frozen=True, slots=True)
class Usage:
    """What a member already committed today and this month (live transfers only)."""

    today: int
    this_month: int


def period_starts(now: datetime) -> tuple[datetime, datetime]:
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day, day.replace(day=1)


def check_limits(tier: VerificationTier, limits: TierLimits, amount: Money, usage: Usage) -> None:
    """Refuse a transfer that would take the member past any of their tier's limits."""
    if amount.currency != PAYOUT_CURRENCY:
        raise LimitExceeded("limits apply to the payout amount in maloti")
    if tier is VerificationTier.UNVERIFIED or limits.per_transfer <= 0:
        raise LimitExceeded("verify your identity before sending money", field="verificationTier")
    if amount.amount > limits.per_transfer:
        raise LimitExceeded(
            f"above the {tier.value} per-transfer limit of "
            f"{Money(limits.per_transfer, PAYOUT_CURRENCY).format()}",
            field="amount",
        )
    if usage.today + amount.amount > limits.daily:
        raise LimitExceeded(
            f"above the {tier.value} daily limit of {Money(limits.daily, PAYOUT_CURRENCY).format()}",
            field="amount",
        )
    if usage.this_month + amount.amount > limits.monthly:
        raise LimitExceeded(
            f"above the {tier.value} monthly limit of "
            f"{Money(limits.monthly, PAYOUT_CURRENCY).format()}",
            field="amount",
        )
