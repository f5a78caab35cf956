"""Saved recipients: who receives the money in Lesotho and how. Validated on input."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from payments.domain.errors import PaymentsError
from payments.domain.quotes import PayoutMethod


class Relationship(StrEnum):
    PARENT = "PARENT"
    CHILD = "CHILD"
    SPOUSE = "SPOUSE"
    SIBLING = "SIBLING"
    GRANDPARENT = "GRANDPARENT"
    RELATIVE = "RELATIVE"
    FRIEND = "FRIEND"
    SELF = "SELF"
    BUSINESS = "BUSINESS"
    OTHER = "OTHER"


class LesothoBank(StrEnum):
    STANDARD_LESOTHO_BANK = "STANDARD_LESOTHO_BANK"
    FNB_LESOTHO = "FNB_LESOTHO"
    NEDBANK_LESOTHO = "NEDBANK_LESOTHO"
    LESOTHO_POST_BANK = "LESOTHO_POST_BANK"


# The ten districts of Lesotho (ISO 3166-2:LS), where cash can be picked up.
PICKUP_DISTRICTS: Final[dict[str, str]] = {
    "LS-A": "Maseru",
    "LS-B": "Butha-Buthe",
    "LS-C": "Leribe",
    "LS-D": "Berea",
    "LS-E": "Mafeteng",
    "LS-F": "Mohale's Hoek",
    "LS-G": "Quthing",
    "LS-H": "Qacha's Nek",
    "LS-J": "Mokhotlong",
    "LS-K": "Thaba-Tseka",
}

MOBILE_METHODS: Final = frozenset({PayoutMethod.MPESA, PayoutMethod.ECOCASH})
_SEPARATORS = re.compile(r"[\s\-().]")
# +266 then 8 digits; Lesotho mobile numbers start with 5 (Vodacom) or 6 (Econet).
_LESOTHO_MOBILE = re.compile(r"^\+266([56]\d{7})$")
_ACCOUNT_NUMBER = re.compile(r"^\d{6,16}$")


class InvalidRecipient(PaymentsError):
    pass


def normalise_lesotho_mobile(raw: str) -> str:
    """`+266 5012 3456`, `00266 50123456` or `50123456` → `+26650123456`; anything else fails."""
    text = _SEPARATORS.sub("", raw.strip())
    if text.startswith("00"):
        text = "+" + text[2:]
    elif text.startswith("266") and len(text) == 11:
        text = "+" + text
    elif len(text) == 8 and text.isdigit():
        text = "+266" + text
    if not _LESOTHO_MOBILE.match(text):
        raise InvalidRecipient(
            "mobile number must be a Lesotho mobile number: +266 and 8 digits starting with 5 or 6",
            field="mobileNumber",
        )
    return text


@dataclass(slots=True)
class Recipient:
    id: uuid.UUID
    member_id: uuid.UUID
    name: str
    relationship: Relationship
    payout_method: PayoutMethod
    created_at: datetime
    updated_at: datetime
    mobile_number: str | None = None
    bank: LesothoBank | None = None
    account_number: str | None = None
    pickup_district: str | None = None

    @property
    def masked_destination(self) -> str:
        """What a receipt shows: enough to recognise, not enough to misuse."""
        if self.mobile_number:
            return f"{self.mobile_number[:4]} •••• {self.mobile_number[-4:]}"
        if self.account_number:
            return f"•••• {self.account_number[-4:]}"
        return PICKUP_DISTRICTS.get(self.pickup_district or "", "")


def validated_recipient(
    *,
    recipient_id: uuid.UUID,
    member_id: uuid.UUID,
    name: str,
    relationship: Relationship,
    payout_method: PayoutMethod,
    now: datetime,
    mobile_number: str | None = None,
    bank: LesothoBank | None = None,
    account_number: str | None = None,
    pickup_district: str | None = None,
    created_at: datetime | None = None,
) -> Recipient:
    """Build a recipient whose payout details match its payout method exactly."""
    clean_name = " ".join(name.split())
    if not 2 <= len(clean_name) <= 120:
        raise InvalidRecipient("name must be 2 to 120 characters", field="name")
    if any(not (ch.isalpha() or ch in " '-.") for ch in clean_name):
        raise InvalidRecipient("name may contain letters, spaces, ' - and . only", field="name")
    mobile: str | None = None
    account: str | None = None
    district: str | None = None
    if payout_method in MOBILE_METHODS:
        if not mobile_number:
            raise InvalidRecipient("a mobile number is required", field="mobileNumber")
        if bank or account_number or pickup_district:
            raise InvalidRecipient("mobile payouts take a mobile number only", field="payoutMethod")
        mobile = normalise_lesotho_mobile(mobile_number)
    elif payout_method is PayoutMethod.BANK_ACCOUNT:
        if bank is None or not account_number:
            raise InvalidRecipient("bank and account number are required", field="accountNumber")
        if mobile_number or pickup_district:
            raise InvalidRecipient("bank payouts take a bank account only", field="payoutMethod")
        account = _SEPARATORS.sub("", account_number)
        if not _ACCOUNT_NUMBER.match(account):
            raise InvalidRecipient("account number must be 6 to 16 digits", field="accountNumber")
    else:
        if not pickup_district:
            raise InvalidRecipient("a pick-up district is required", field="pickupDistrict")
        if mobile_number or bank or account_number:
            raise InvalidRecipient("cash pick-up takes a district only", field="payoutMethod")
        if pickup_district not in PICKUP_DISTRICTS:
            raise InvalidRecipient("unknown district of Lesotho", field="pickupDistrict")
        district = pickup_district
    return Recipient(
        id=recipient_id,
        member_id=member_id,
        name=clean_name,
        relationship=relationship,
        payout_method=payout_method,
        created_at=created_at or now,
        updated_at=now,
        mobile_number=mobile,
        bank=bank if account else None,
        account_number=account,
        pickup_district=district,
    )
