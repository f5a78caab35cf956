"""The remittance events (topic ``payments.remittance``) for regulators and other services.

Amounts, currencies, corridor, payout method, purpose code and ids only: never a name,
a phone number, an account number or an address.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from kopano.events import CloudEvent
from payments.domain.transfers import Transfer, TransferState

REMITTANCE_TOPIC: Final = "payments.remittance"

REMITTANCE_CREATED: Final = "remittance.created"
REMITTANCE_FUNDED: Final = "remittance.funded"
REMITTANCE_PAID_OUT: Final = "remittance.paid_out"
REMITTANCE_FAILED: Final = "remittance.failed"
REMITTANCE_CANCELLED: Final = "remittance.cancelled"
REMITTANCE_REFUNDED: Final = "remittance.refunded"
REMITTANCE_REVERSED: Final = "remittance.reversed"

# The state a transition reaches → the event it publishes (other states publish nothing).
EVENT_FOR_STATE: Final[dict[TransferState, str]] = {
    TransferState.FUNDED: REMITTANCE_FUNDED,
    TransferState.PAID_OUT: REMITTANCE_PAID_OUT,
    TransferState.FAILED: REMITTANCE_FAILED,
    TransferState.CANCELLED: REMITTANCE_CANCELLED,
    TransferState.REFUNDED: REMITTANCE_REFUNDED,
    TransferState.REVERSED: REMITTANCE_REVERSED,
}


def remittance_event(
    event_type: str,
    transfer: Transfer,
    *,
    source: str,
    at: datetime,
    state: TransferState | None = None,
    cause: str | None = None,
) -> CloudEvent:
    """`state` is the state this event reports (a webhook may move a transfer twice at once)."""
    data: dict[str, object] = {
        "remittanceId": str(transfer.id),
        "reference": transfer.reference,
        "senderId": str(transfer.sender_id),
        "state": (state or transfer.state).value,
        "corridor": f"{transfer.send_amount.currency}-{transfer.receive_amount.currency}",
        "sendAmount": {
            "amount": str(transfer.send_amount.amount),
            "currency": transfer.send_amount.currency,
        },
        "fee": {"amount": str(transfer.fee.amount), "currency": transfer.fee.currency},
        "receiveAmount": {
            "amount": str(transfer.receive_amount.amount),
            "currency": transfer.receive_amount.currency,
        },
        "payoutMethod": transfer.payout_method.value,
        "payoutPartner": transfer.payout_partner,
        "purposeCode": transfer.purpose,
        "occurredAt": at.isoformat(),
    }
    if cause is not None:
        data["cause"] = cause
    return CloudEvent.new(event_type, source, str(transfer.id), data)
