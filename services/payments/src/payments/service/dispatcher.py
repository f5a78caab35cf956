"""The dispatcher: calls the partners for transfers that wait on them, outside any request.

Work is found in the database (``transfers.dispatch_after``), so nothing is lost on a crash and
several replicas share it (``FOR UPDATE SKIP LOCKED``). A partner call and the transition it
allows commit together; a failed call is retried with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta

from kopano.logging import get_logger
from payments.domain.ledger import LedgerTransaction
from payments.domain.recipients import Recipient
from payments.domain.transfers import Transfer, TransferState
from payments.partners.base import PartnerError, PayinProvider, PayoutPartner
from payments.service.common import ServiceConfig, record_moves

S = TransferState
_log = get_logger("payments.dispatcher")
MAX_BACKOFF_SECONDS = 300
# How long a claimed transfer is left alone while its partner call is in flight.
LEASE_SECONDS = 60
# Recorded before the partner is called: the state the call puts the transfer in.
INTENTS: dict[TransferState, tuple[TransferState, str]] = {
    S.CREATED: (S.AWAITING_FUNDS, "payin:requested"),
    S.FUNDED: (S.PAYOUT_PENDING, "payout:instructed"),
}


class Dispatcher:
    def __init__(
        self,
        config: ServiceConfig,
        payin: PayinProvider,
        payout: PayoutPartner,
        *,
        batch_size: int = 64,
        poll_seconds: float = 0.5,
    ) -> None:
        self.config = config
        self.payin = payin
        self.payout = payout
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def _call(
        self, transfer: Transfer, recipient: Recipient | None
    ) -> tuple[TransferState, str] | None:
        """Call the partner the transfer's state waits on; a transition the call completes."""
        if transfer.state is S.AWAITING_FUNDS:
            await self.payin.request_collection(transfer)
            return None
        if transfer.state is S.PAYOUT_PENDING:
            if recipient is None:
                raise PartnerError("recipient missing")
            await self.payout.instruct_payout(transfer, recipient)
            return None
        if transfer.state in (S.FAILED, S.CANCELLED, S.REVERSED) and transfer.funds_received:
            # Synchronous at the provider: a 2xx means the money went back.
            await self.payin.refund(transfer)
            return S.REFUNDED, "payin:refunded"
        return None

    async def run_once(self) -> int:
        """One batch; returns how many transfers it looked at.

        No row lock is held during a partner call:

        1. a short transaction leases the due transfers and records the intent first
           (CREATED → AWAITING_FUNDS, FUNDED → PAYOUT_PENDING), so a partner's webhook can never
           overtake the state it answers, and a sender can no longer cancel a payout in flight;
        2. the partners are called (each call is idempotent per transfer: a retry after a crash
           or a lost answer never pays twice);
        3. one transaction re-reads each transfer under its lock and settles the call: the
           lease is cleared, a failure is retried with backoff, a refund completes. A transfer a
           webhook moved meanwhile is left as the webhook left it.
        """
        now = self.config.clock()
        lease_until = now + timedelta(seconds=LEASE_SECONDS)
        async with self.config.uow() as uow:
            due = await uow.transfers.claim_for_dispatch(now, lease_until, self.batch_size)
            if not due:
                return 0
            postings: list[tuple[uuid.UUID | None, list[LedgerTransaction]]] = []
            for leased in due:
                transfer = leased.transfer
                intent = INTENTS.get(transfer.state)
                if intent is None:
                    continue
                target, cause = intent
                posting = transfer.move_to(target, cause=cause, at=now)
                # Still leased (the claim set it; the state write keeps it): the partner call
                # for the new state is what is due now.
                await record_moves(
                    uow,
                    self.config,
                    transfer,
                    [posting] if posting else [],
                    now,
                    post=False,
                    lease_until=lease_until,
                )
                if posting is not None:
                    postings.append((transfer.id, [posting]))
            await uow.ledger.post_many(postings, at=now)
            recipients = await uow.recipients.get_many([r.transfer.recipient_id for r in due])
            await uow.commit()
        outcomes = await asyncio.gather(
            *(self._call(r.transfer, recipients.get(r.transfer.recipient_id)) for r in due),
            return_exceptions=True,
        )
        now = self.config.clock()
        async with self.config.uow() as uow:
            current = await uow.transfers.lock_many([r.transfer.id for r in due])
            postings = []
            for claimed, outcome in zip(due, outcomes, strict=True):
                record = current.get(claimed.transfer.id)
                if record is None or record.transfer.state is not claimed.transfer.state:
                    continue  # a webhook moved it meanwhile; its new state set its own dispatch
                transfer = record.transfer
                if isinstance(outcome, BaseException):
                    if not isinstance(outcome, PartnerError | OSError):
                        raise outcome
                    delay = min(MAX_BACKOFF_SECONDS, 2 ** min(record.dispatch_attempts, 10))
                    _log.warning(
                        "dispatch.partner_failed",
                        reference=transfer.reference,
                        state=transfer.state.value,
                        error=str(outcome),
                        retry_in_s=delay,
                    )
                    await uow.transfers.postpone(transfer.id, now + timedelta(seconds=delay))
                elif outcome is None:
                    await uow.transfers.clear_dispatch(transfer.id)
                else:
                    target, cause = outcome
                    posting = transfer.move_to(target, cause=cause, at=now)
                    await record_moves(
                        uow, self.config, transfer, [posting] if posting else [], now, post=False
                    )
                    if posting is not None:
                        postings.append((transfer.id, [posting]))
            await uow.ledger.post_many(postings, at=now)
            await uow.commit()
        return len(due)

    async def _loop(self) -> None:
        while True:
            try:
                handled = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must survive a database hiccup
                _log.exception("dispatch.batch_failed")
                handled = 0
            if handled >= self.batch_size:
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()
            self._wake.clear()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="payments-dispatcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
