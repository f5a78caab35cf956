"""The payments service's Prometheus collectors: unfinished transfers per state and partner
webhook deliveries.

The transfer gauges come from one grouped query on `ix_transfers_open_state`, run by a task
every `interval` seconds (never per scrape). Every payments pod runs it and reports the same
figures, so rules take the `max` over pods. Labels are bounded: the four open states, the known
partners (anything else is `unknown`) and the webhook outcomes.
"""

from __future__ import annotations

import asyncio
import contextlib

import sqlalchemy as sa
from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncEngine

from kopano.logging import get_logger
from payments.adapters import tables as t
from payments.partners.base import PARTNERS

__all__ = [
    "TRANSFERS_OLDEST_AGE",
    "TRANSFERS_OPEN",
    "WEBHOOK_DELIVERIES",
    "TransferMetrics",
    "count_webhook",
]

_log = get_logger("payments.metrics")

TRANSFERS_OPEN = Gauge(
    "payments_transfers_open",
    "Transfers in a state they have not finished yet (CREATED, AWAITING_FUNDS, FUNDED, "
    "PAYOUT_PENDING).",
    ["state"],
)
TRANSFERS_OLDEST_AGE = Gauge(
    "payments_transfers_oldest_age_seconds",
    "Seconds the transfer waiting longest in the state has been in it (0 when none is).",
    ["state"],
)
WEBHOOK_DELIVERIES = Counter(
    "payments_webhook_deliveries",
    "Partner webhook deliveries by partner and outcome (applied, duplicate, rejected, "
    "unauthentic, unknown_transfer, too_large).",
    ["partner", "outcome"],
)

for _state in t.OPEN_STATES:  # every state exported from the start, at 0
    TRANSFERS_OPEN.labels(state=_state)
    TRANSFERS_OLDEST_AGE.labels(state=_state)


def count_webhook(partner: str, outcome: str) -> None:
    """Count one delivery; the partner comes from the URL, so unknown names share a label."""
    WEBHOOK_DELIVERIES.labels(
        partner=partner if partner in PARTNERS else "unknown", outcome=outcome
    ).inc()


class TransferMetrics:
    """Refreshes the transfer gauges every `interval` seconds while started."""

    def __init__(self, engine: AsyncEngine, interval: float = 15.0) -> None:
        self.engine = engine
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        tr = t.transfers
        # Matches the partial index's predicate, so only unfinished transfers are read,
        # straight from the index.
        age = sa.func.extract("epoch", sa.func.now() - sa.func.min(tr.c.updated_at))
        self.query = (
            sa.select(tr.c.state, sa.func.count(), sa.cast(age, sa.Float))
            .where(sa.text(t.OPEN_STATES_SQL))
            .group_by(tr.c.state)
        )

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def refresh(self) -> dict[str, tuple[int, float]]:
        """Read the open transfers once and set the gauges: state -> (count, oldest age)."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(self.query)).all()
        found = {str(row[0]): (int(row[1]), max(0.0, float(row[2] or 0.0))) for row in rows}
        figures = {state: found.get(state, (0, 0.0)) for state in t.OPEN_STATES}
        for state, (count, age) in figures.items():
            TRANSFERS_OPEN.labels(state=state).set(count)
            TRANSFERS_OLDEST_AGE.labels(state=state).set(age)
        return figures

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="payments-transfer-metrics")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: keep the last figures, retry
                _log.warning("transfer metrics refresh failed", error=repr(exc))
            await asyncio.sleep(self.interval)
