"""Per-subgraph circuit breaker: after `failures` consecutive failures the circuit opens and
fetches fail at once (no connection, no wait) until `reset` seconds have passed; then one
trial fetch is let through (half-open) and its outcome closes or re-opens the circuit."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

CLOSED, OPEN, HALF_OPEN = 0, 1, 2
STATE_NAMES = {CLOSED: "closed", OPEN: "open", HALF_OPEN: "half_open"}


class CircuitBreaker:
    __slots__ = ("failures", "opened_at", "reset", "state", "streak")

    def __init__(self, failures: int, reset: float) -> None:
        self.failures = failures
        self.reset = reset
        self.state = CLOSED
        self.streak = 0
        self.opened_at = 0.0

    def allow(self) -> bool:
        if self.state == CLOSED:
            return True
        if self.state == OPEN and time.monotonic() - self.opened_at >= self.reset:
            self.state = HALF_OPEN  # this caller is the trial
            return True
        return False

    def success(self) -> None:
        self.streak = 0
        self.state = CLOSED

    def failure(self) -> None:
        self.streak += 1
        if self.state == HALF_OPEN or self.streak >= self.failures:
            self.state = OPEN
            self.opened_at = time.monotonic()


def backoff_delay(
    attempt: int, base: float, cap: float, rand: Callable[[], float] = random.random
) -> float:
    """Seconds to wait before retry number `attempt` (0 for the first): exponential backoff
    with full jitter, uniform in [0, min(cap, base * 2**attempt)], so retries from many
    requests to a struggling subgraph spread out instead of arriving together."""
    return rand() * min(cap, base * 2.0**attempt)
