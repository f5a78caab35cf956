"""The partner interface and its HTTP client (the sandbox speaks the same API).

Calls are idempotent on the partner's side (keyed by the transfer id), so the dispatcher may
retry any of them after a timeout without paying twice.
"""

from __future__ import annotations

from typing import Final, Protocol

import httpx

from payments.domain.quotes import PayoutMethod
from payments.domain.recipients import Recipient
from payments.domain.transfers import Transfer

PAYIN_PROVIDER: Final = "payin"
# Which payout partner serves each method in Lesotho.
PAYOUT_PARTNERS: Final[dict[PayoutMethod, str]] = {
    PayoutMethod.MPESA: "mpesa",
    PayoutMethod.ECOCASH: "ecocash",
    PayoutMethod.BANK_ACCOUNT: "bank",
    PayoutMethod.CASH_PICKUP: "cashpickup",
}
PARTNERS: Final = frozenset({PAYIN_PROVIDER, *PAYOUT_PARTNERS.values()})


class PartnerError(Exception):
    """The partner refused or could not be reached; the dispatcher retries later."""


class PayinProvider(Protocol):
    async def request_collection(self, transfer: Transfer) -> None:
        """Ask the provider to collect the total from the sender; the outcome comes by webhook."""

    async def refund(self, transfer: Transfer) -> None:
        """Return collected money to the sender (synchronous: a 2xx means refunded)."""


class PayoutPartner(Protocol):
    async def instruct_payout(self, transfer: Transfer, recipient: Recipient) -> None:
        """Ask the partner to credit the recipient; the outcome comes by webhook."""


class HttpPartners:
    """Pay-in provider and payout partners behind one HTTP API (``payments.sandbox`` in dev)."""

    def __init__(self, base_url: str, *, timeout: float = 5.0) -> None:
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _post(self, path: str, payload: dict[str, object]) -> None:
        try:
            response = await self._client.post(path, json=payload)
        except httpx.HTTPError as exc:
            raise PartnerError(f"{path}: {type(exc).__name__}") from exc
        if response.status_code >= 300:
            raise PartnerError(f"{path}: HTTP {response.status_code}")

    async def request_collection(self, transfer: Transfer) -> None:
        await self._post(
            f"/{PAYIN_PROVIDER}/collections",
            {
                "transferId": str(transfer.id),
                "reference": transfer.reference,
                "amount": str(transfer.total_charged.amount),
                "currency": transfer.total_charged.currency,
            },
        )

    async def refund(self, transfer: Transfer) -> None:
        await self._post(
            f"/{PAYIN_PROVIDER}/refunds",
            {
                "transferId": str(transfer.id),
                "reference": transfer.reference,
                "amount": str(transfer.total_charged.amount),
                "currency": transfer.total_charged.currency,
            },
        )

    async def instruct_payout(self, transfer: Transfer, recipient: Recipient) -> None:
        # The partner needs the destination; it never leaves this call (not logged, not evented).
        await self._post(
            f"/payout/{transfer.payout_partner}/payments",
            {
                "transferId": str(transfer.id),
                "reference": transfer.reference,
                "amount": str(transfer.receive_amount.amount),
                "currency": transfer.receive_amount.currency,
                "method": transfer.payout_method.value,
                "recipientName": recipient.name,
                "mobileNumber": recipient.mobile_number,
                "bank": recipient.bank.value if recipient.bank else None,
                "accountNumber": recipient.account_number,
                "pickupDistrict": recipient.pickup_district,
            },
        )
