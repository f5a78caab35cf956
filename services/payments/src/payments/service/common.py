"""Shared pieces of the use cases: configuration, the clock, moving a transfer."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kopano.errors import NotFound
from payments.domain.ledger import LedgerTransaction
from payments.domain.limits import DEFAULT_LIMITS, TierLimits, VerificationTier
from payments.domain.quotes import CorridorBook, default_corridor_book
from payments.domain.transfers import Transfer, TransferState
from payments.events import EVENT_FOR_STATE, REMITTANCE_TOPIC, remittance_event
from payments.unit_of_work import UnitOfWork, UnitOfWorkFactory

Clock = Callable[[], datetime]
S = TransferState


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    uow: UnitOfWorkFactory
    event_source: str = "/kopano/payments"
    remittance_topic: str = REMITTANCE_TOPIC
    corridors: CorridorBook = field(default_factory=default_corridor_book)
    limits: dict[VerificationTier, TierLimits] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    clock: Clock = utc_now
    # Called after a commit that left work for the dispatcher (wakes it at once).
    on_dispatch_due: Callable[[], None] = lambda: None


def parse_id(raw: object, field_name: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise NotFound("No such record.", field=field_name) from None


def needs_dispatch(transfer: Transfer) -> bool:
    """Whether a partner must be called next for this transfer."""
    if transfer.state in (S.CREATED, S.FUNDED):
        return True
    # Money that was collected for a transfer that stopped goes back to the sender.
    return transfer.state in (S.FAILED, S.CANCELLED, S.REVERSED) and transfer.funds_received


async def record_moves(
    uow: UnitOfWork,
    config: ServiceConfig,
    transfer: Transfer,
    postings: Sequence[LedgerTransaction],
    at: datetime,
    *,
    post: bool = True,
    lease_until: datetime | None = None,
) -> bool:
    """Persist the transitions the domain applied, their postings and their events.

    With ``post=False`` the caller posts the ledger transactions itself (batched).
    ``lease_until`` keeps the transfer leased to the dispatcher (its partner call is in
    flight) instead of deriving ``dispatch_after`` from the new state.
    Returns whether the dispatcher has work for this transfer now.
    """
    transitions = list(transfer.history)
    transfer.history.clear()
    due = needs_dispatch(transfer)
    dispatch_after = lease_until if lease_until is not None else (at if due else None)
    await uow.transfers.save_state(transfer, transitions, dispatch_after=dispatch_after)
    if post:
        await uow.ledger.post(postings, transfer_id=transfer.id, at=at)
    for transition in transitions:
        event_type = EVENT_FOR_STATE.get(transition.target)
        if event_type is not None:
            uow.publish(
                remittance_event(
                    event_type,
                    transfer,
                    source=config.event_source,
                    at=transition.at,
                    state=transition.target,
                    cause=transition.cause,
                ),
                config.remittance_topic,
            )
    return due and bool(transitions)
