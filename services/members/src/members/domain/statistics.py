"""Small-cell suppression for the public diaspora statistics (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Cell:
    key: str
    count: int


@dataclass(frozen=True, slots=True)
class Breakdown:
    """Cells at or above the threshold, largest first; the rest only as one total, and only
    when that total is itself at or above the threshold. Suppressed keys are never named."""

    cells: tuple[Cell, ...]
    other_count: int | None


def suppress(
    counts: Mapping[str, int],
    threshold: int,
    *,
    limit: int | None = None,
    by_key: bool = False,
) -> Breakdown:
    """Largest cells first (ties by key), or in key order (``by_key``, for time series)."""
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    shown = sorted(
        ((k, n) for k, n in counts.items() if n >= threshold), key=lambda kn: (-kn[1], kn[0])
    )
    if limit is not None:
        shown = shown[:limit]
    if by_key:
        shown.sort()
    shown_keys = {k for k, _ in shown}
    rest = sum(n for k, n in counts.items() if k not in shown_keys)
    return Breakdown(
        cells=tuple(Cell(k, n) for k, n in shown),
        other_count=rest if rest >= threshold else None,
    )


def suppress_total(total: int, threshold: int) -> int | None:
    return total if total >= threshold else None
