"""Value objects and validation rules. Every rule raises ``BadUserInput`` naming the field."""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import email_validator
import phonenumbers
import pycountry

from kopano.errors import BadUserInput

EMAIL_MAX_LENGTH = 254
PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 128
FULL_NAME_MAX_LENGTH = 200
SHORT_TEXT_MAX_LENGTH = 100
BIO_MAX_LENGTH = 2000
MAX_SKILLS = 50
SKILL_MAX_LENGTH = 40
MAX_LANGUAGES = 20
URL_MAX_LENGTH = 2048

# Lesotho's ten districts (ISO 3166-2:LS). There is no LS-I.
LESOTHO_DISTRICTS: dict[str, str] = {
    "LS-A": "Maseru",
    "LS-B": "Botha-Bothe",
    "LS-C": "Leribe",
    "LS-D": "Berea",
    "LS-E": "Mafeteng",
    "LS-F": "Mohale's Hoek",
    "LS-G": "Quthing",
    "LS-H": "Qacha's Nek",
    "LS-J": "Mokhotlong",
    "LS-K": "Thaba-Tseka",
}


class Sector(enum.StrEnum):
    """Economic sectors used for matching and statistics (a closed list keeps counts meaningful)."""

    AGRICULTURE = "AGRICULTURE"
    MINING = "MINING"
    MANUFACTURING = "MANUFACTURING"
    TEXTILES = "TEXTILES"
    CONSTRUCTION = "CONSTRUCTION"
    ENERGY = "ENERGY"
    HEALTH = "HEALTH"
    EDUCATION = "EDUCATION"
    FINANCE = "FINANCE"
    ICT = "ICT"
    ENGINEERING = "ENGINEERING"
    LEGAL = "LEGAL"
    GOVERNMENT = "GOVERNMENT"
    NONPROFIT = "NONPROFIT"
    MEDIA_ARTS = "MEDIA_ARTS"
    TOURISM_HOSPITALITY = "TOURISM_HOSPITALITY"
    TRADE_RETAIL = "TRADE_RETAIL"
    TRANSPORT_LOGISTICS = "TRANSPORT_LOGISTICS"
    DOMESTIC_CARE = "DOMESTIC_CARE"
    STUDENT = "STUDENT"
    OTHER = "OTHER"


class EducationLevel(enum.StrEnum):
    PRIMARY = "PRIMARY"
    SECONDARY = "SECONDARY"
    VOCATIONAL = "VOCATIONAL"
    DIPLOMA = "DIPLOMA"
    BACHELOR = "BACHELOR"
    MASTER = "MASTER"
    DOCTORATE = "DOCTORATE"


class ConsentKind(enum.StrEnum):
    TERMS = "terms"
    DATA_PROCESSING = "data_processing"


@dataclass(frozen=True, slots=True)
class Consent:
    """A consent given by a member: what, which version of the text, and when."""

    kind: ConsentKind
    version: str
    granted_at: datetime


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SPACES = re.compile(r"\s+")


def normalise_email(raw: str, *, field: str = "email") -> str:
    """Syntax-check an address (no DNS lookups) and return its normalised form.

    The domain is lower-cased and IDNA-normalised; uniqueness is enforced case-insensitively
    by the database, so ``Ann@X.org`` and ``ann@x.org`` are the same account.
    """
    candidate = raw.strip()
    if not candidate:
        raise BadUserInput("Email is required.", field=field)
    if len(candidate) > EMAIL_MAX_LENGTH:
        raise BadUserInput("Email is too long.", field=field)
    try:
        result = email_validator.validate_email(candidate, check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        raise BadUserInput(f"Email is not valid: {exc}", field=field) from None
    return str(result.normalized)


def email_key(email: str) -> str:
    """The case-insensitive identity of an address, as indexed by the database."""
    return email.lower()


def check_password(password: str, *, email: str | None = None, field: str = "password") -> str:
    """Length rules (NIST 800-63B style: long, no composition rules) and no reuse of the email."""
    normalised = unicodedata.normalize("NFKC", password)
    length = len(normalised)
    if length < PASSWORD_MIN_LENGTH:
        raise BadUserInput(
            f"Password must be at least {PASSWORD_MIN_LENGTH} characters long.", field=field
        )
    if length > PASSWORD_MAX_LENGTH:
        raise BadUserInput(
            f"Password must be at most {PASSWORD_MAX_LENGTH} characters long.", field=field
        )
    if not normalised.strip() or len(set(normalised)) == 1:
        raise BadUserInput("Password is too easy to guess.", field=field)
    if email is not None:
        lowered = normalised.casefold()
        address = email.casefold()
        local = address.split("@", 1)[0]
        if lowered == address or (len(local) >= 4 and lowered == local):
            raise BadUserInput("Password must not be your email address.", field=field)
    return normalised


def normalise_full_name(raw: str, *, field: str = "fullName") -> str:
    name = _SPACES.sub(" ", unicodedata.normalize("NFC", raw)).strip()
    if not name:
        raise BadUserInput("Full name is required.", field=field)
    if len(name) > FULL_NAME_MAX_LENGTH:
        raise BadUserInput(
            f"Full name must be at most {FULL_NAME_MAX_LENGTH} characters.", field=field
        )
    if _CONTROL.search(name):
        raise BadUserInput("Full name contains invalid characters.", field=field)
    return name


def normalise_optional_name(raw: str | None, *, field: str) -> str | None:
    if raw is None or not raw.strip():
        return None
    return normalise_full_name(raw, field=field)


def normalise_country(raw: str, *, field: str = "countryOfResidence") -> str:
    """An ISO 3166-1 alpha-2 code, upper-cased; unknown codes are refused."""
    code = raw.strip().upper()
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        raise BadUserInput(
            "Country must be an ISO 3166-1 alpha-2 code such as LS or ZA.", field=field
        )
    if pycountry.countries.get(alpha_2=code) is None:
        raise BadUserInput(f"Unknown country code {code!r}.", field=field)
    return code


def normalise_phone(raw: str | None, *, field: str = "phone") -> str | None:
    """A phone number in E.164 (e.g. +26622123456); the leading + and country code are required."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    if not text.startswith("+"):
        raise BadUserInput(
            "Phone must be in international format with a country code, e.g. +266 5012 3456.",
            field=field,
        )
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise BadUserInput("Phone number is not valid.", field=field) from None
    if not phonenumbers.is_valid_number(number):
        raise BadUserInput("Phone number is not valid.", field=field)
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def normalise_district(raw: str | None, *, field: str = "districtOfOrigin") -> str | None:
    if raw is None or not raw.strip():
        return None
    code = raw.strip().upper()
    if code not in LESOTHO_DISTRICTS:
        raise BadUserInput(
            "District of origin must be one of Lesotho's districts, LS-A to LS-K.", field=field
        )
    return code


def normalise_text(
    raw: str | None, *, field: str, max_length: int = SHORT_TEXT_MAX_LENGTH, multiline: bool = False
) -> str | None:
    """Trimmed free text; empty becomes None. Single-line fields also collapse whitespace."""
    if raw is None:
        return None
    text = unicodedata.normalize("NFC", raw).strip()
    if not multiline:
        text = _SPACES.sub(" ", text)
        if _CONTROL.search(text):
            raise BadUserInput("Text contains invalid characters.", field=field)
    elif re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text):
        raise BadUserInput("Text contains invalid characters.", field=field)
    if not text:
        return None
    if len(text) > max_length:
        raise BadUserInput(f"Must be at most {max_length} characters.", field=field)
    return text


_TAG_INVALID = re.compile(r"[^a-z0-9+#.\-]")


def normalise_tag(raw: str, *, field: str = "skills") -> str:
    """A skill tag: lower-case, words joined by '-', only letters, digits and + # . -.

    ``"  Project Management "`` → ``"project-management"``, ``"C++"`` → ``"c++"``.
    """
    text = unicodedata.normalize("NFKD", raw)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold().strip()
    text = _SPACES.sub("-", text).replace("_", "-")
    text = _TAG_INVALID.sub("", text)
    text = re.sub(r"-{2,}", "-", text).strip("-")
    if not text:
        raise BadUserInput(f"Skill {raw!r} has no usable characters.", field=field)
    if len(text) > SKILL_MAX_LENGTH:
        raise BadUserInput(f"Skill must be at most {SKILL_MAX_LENGTH} characters.", field=field)
    return text


def normalise_tags(raw: Iterable[str], *, field: str = "skills") -> tuple[str, ...]:
    """Normalised, de-duplicated tags in first-seen order."""
    seen: dict[str, None] = {}
    for item in raw:
        seen.setdefault(normalise_tag(item, field=field), None)
    if len(seen) > MAX_SKILLS:
        raise BadUserInput(f"At most {MAX_SKILLS} skills.", field=field)
    return tuple(seen)


def normalise_languages(raw: Iterable[str], *, field: str = "languages") -> tuple[str, ...]:
    """ISO 639-1 codes (``st`` Sesotho, ``en`` English, …), de-duplicated in order."""
    seen: dict[str, None] = {}
    for item in raw:
        code = item.strip().lower()
        if len(code) != 2 or pycountry.languages.get(alpha_2=code) is None:
            raise BadUserInput(
                f"Unknown language {item!r}; use ISO 639-1 codes such as st or en.", field=field
            )
        seen.setdefault(code, None)
    if len(seen) > MAX_LANGUAGES:
        raise BadUserInput(f"At most {MAX_LANGUAGES} languages.", field=field)
    return tuple(seen)


def normalise_url(raw: str | None, *, field: str) -> str | None:
    if raw is None or not raw.strip():
        return None
    url = raw.strip()
    if len(url) > URL_MAX_LENGTH or not re.fullmatch(r"https://[^\s/$.?#][^\s]*", url):
        raise BadUserInput("Must be an https:// URL.", field=field)
    return url


def normalise_years(raw: int | None, *, field: str = "yearsAbroad") -> int | None:
    if raw is None:
        return None
    if not 0 <= raw <= 100:
        raise BadUserInput("Years abroad must be between 0 and 100.", field=field)
    return raw
