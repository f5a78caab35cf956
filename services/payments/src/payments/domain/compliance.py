"""The cross-border fields regional rules require on every remittance."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from payments.domain.errors import PaymentsError


class PurposeCode(StrEnum):
    """Purpose of payment, reported to the central bank as a code (never free text)."""

    FAMILY_SUPPORT = "FAMILY_SUPPORT"
    EDUCATION = "EDUCATION"
    MEDICAL = "MEDICAL"
    SAVINGS = "SAVINGS"
    GIFT = "GIFT"
    PROPERTY = "PROPERTY"
    BUSINESS = "BUSINESS"
    FUNERAL = "FUNERAL"
    OTHER = "OTHER"


@dataclass(frozen=True, slots=True)
class SenderDetails:
    """The sender's occupation and address, copied onto each transfer when it is sent."""

    occupation: str
    address: str
    country: str

    @classmethod
    def validated(cls, occupation: str, address: str, country: str) -> SenderDetails:
        occupation = " ".join(occupation.split())
        address = " ".join(address.split())
        country = country.strip().upper()
        if not 2 <= len(occupation) <= 100:
            raise PaymentsError("occupation must be 2 to 100 characters", field="occupation")
        if not 5 <= len(address) <= 300:
            raise PaymentsError("address must be 5 to 300 characters", field="address")
        if len(country) != 2 or not country.isalpha():
            raise PaymentsError("country must be an ISO 3166 alpha-2 code", field="country")
        return cls(occupation, address, country)
