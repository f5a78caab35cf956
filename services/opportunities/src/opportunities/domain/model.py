"""Opportunities, applications and matching rules."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Final

import pycountry

MAX_TITLE: Final = 200
MAX_DESCRIPTION: Final = 20_000
MAX_MESSAGE: Final = 5_000
MAX_SKILLS: Final = 30
_TAG_CHARS: Final = re.compile(r"[^a-z0-9+#.]+")


class OpportunityError(Exception):
    code = "BAD_USER_INPUT"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(OpportunityError):
    pass


class NotAllowed(OpportunityError):
    code = "FORBIDDEN"


class InvalidState(OpportunityError):
    code = "CONFLICT"


class OpportunityKind(StrEnum):
    JOB = "JOB"
    INVESTMENT = "INVESTMENT"
    TENDER = "TENDER"
    SCHOLARSHIP = "SCHOLARSHIP"
    VOLUNTEERING = "VOLUNTEERING"
    MENTORSHIP_REQUEST = "MENTORSHIP_REQUEST"


# Jobs, scholarships and volunteering take applications; the rest take expressions of interest.
APPLICATION_KINDS: Final = frozenset(
    {OpportunityKind.JOB, OpportunityKind.SCHOLARSHIP, OpportunityKind.VOLUNTEERING}
)
CLOSING_DATE_REQUIRED: Final = frozenset({OpportunityKind.TENDER, OpportunityKind.SCHOLARSHIP})


class EmploymentType(StrEnum):
    FULL_TIME = "FULL_TIME"
    PART_TIME = "PART_TIME"
    CONTRACT = "CONTRACT"
    INTERNSHIP = "INTERNSHIP"


class OpportunityStatus(StrEnum):
    DRAFT = "DRAFT"
    OPEN = "OPEN"
    CLOSED = "CLOSED"
    WITHDRAWN = "WITHDRAWN"


class ApplicationStatus(StrEnum):
    SUBMITTED = "SUBMITTED"
    SHORTLISTED = "SHORTLISTED"
    REJECTED = "REJECTED"
    ACCEPTED = "ACCEPTED"
    WITHDRAWN = "WITHDRAWN"


_OPPORTUNITY_TRANSITIONS: Final = {
    OpportunityStatus.DRAFT: frozenset({OpportunityStatus.OPEN, OpportunityStatus.WITHDRAWN}),
    OpportunityStatus.OPEN: frozenset({OpportunityStatus.CLOSED, OpportunityStatus.WITHDRAWN}),
    OpportunityStatus.CLOSED: frozenset[OpportunityStatus](),
    OpportunityStatus.WITHDRAWN: frozenset[OpportunityStatus](),
}

A = ApplicationStatus
_REVIEW_TRANSITIONS: Final = {
    A.SUBMITTED: frozenset({A.SHORTLISTED, A.REJECTED, A.ACCEPTED}),
    A.SHORTLISTED: frozenset({A.REJECTED, A.ACCEPTED}),
    A.REJECTED: frozenset[ApplicationStatus](),
    A.ACCEPTED: frozenset[ApplicationStatus](),
    A.WITHDRAWN: frozenset[ApplicationStatus](),
}


@dataclass(frozen=True, slots=True)
class Amount:
    """Integer minor units and an ISO 4217 code."""

    minor_units: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.minor_units, int) or isinstance(self.minor_units, bool):
            raise InvalidInput("amounts are whole minor units", field="amount")
        if self.minor_units < 0 or self.minor_units > 10**15:
            raise InvalidInput("amount is out of range", field="amount")
        if pycountry.currencies.get(alpha_3=self.currency) is None:
            raise InvalidInput(f"unknown currency {self.currency!r}", field="currency")


def normalise_skills(skills: Iterable[str]) -> tuple[str, ...]:
    """Lower-case tags ("Project Management" -> "project-management"), de-duplicated, in order."""
    seen: dict[str, None] = {}
    for raw in skills:
        tag = _TAG_CHARS.sub("-", raw.strip().lower()).strip("-")
        if tag:
            if len(tag) > 48:
                raise InvalidInput("a skill is at most 48 characters", field="skills")
            seen.setdefault(tag, None)
    if len(seen) > MAX_SKILLS:
        raise InvalidInput(f"at most {MAX_SKILLS} skills", field="skills")
    return tuple(seen)


@dataclass(frozen=True, slots=True)
class Location:
    country: str | None
    city: str | None
    remote: bool

    @classmethod
    def create(cls, *, country: str | None, city: str | None, remote: bool) -> Location:
        code = country.upper() if country else None
        if code is not None and pycountry.countries.get(alpha_2=code) is None:
            raise InvalidInput("unknown country code", field="location.country")
        if code is None and not remote:
            raise InvalidInput("give a country or mark it remote", field="location.country")
        return cls(code, (city or "").strip() or None, remote)


@dataclass(frozen=True, slots=True)
class JobDetails:
    employment_type: EmploymentType
    salary_min: Amount | None = None
    salary_max: Amount | None = None


@dataclass(frozen=True, slots=True)
class InvestmentDetails:
    sector: str
    amount_sought: Amount
    minimum_ticket: Amount
    expected_return_bp: int | None = None  # yearly, in basis points


@dataclass(frozen=True, slots=True)
class OpportunityDetails:
    kind: OpportunityKind
    title: str
    description: str
    organisation_id: uuid.UUID
    location: Location
    sector: str | None
    skills: tuple[str, ...]
    languages: tuple[str, ...]
    deadline: date | None
    job: JobDetails | None = None
    investment: InvestmentDetails | None = None

    def __post_init__(self) -> None:
        title = self.title.strip()
        if not title:
            raise InvalidInput("must not be empty", field="title")
        if len(title) > MAX_TITLE:
            raise InvalidInput(f"must be at most {MAX_TITLE} characters", field="title")
        if len(self.description) > MAX_DESCRIPTION:
            raise InvalidInput(f"must be at most {MAX_DESCRIPTION} characters", field="description")
        if self.kind in CLOSING_DATE_REQUIRED and self.deadline is None:
            raise InvalidInput("tenders and scholarships need a closing date", field="deadline")
        if self.kind is OpportunityKind.JOB:
            if self.job is None:
                raise InvalidInput("a job needs its employment type", field="job")
            low, high = self.job.salary_min, self.job.salary_max
            if (
                low
                and high
                and (low.currency != high.currency or low.minor_units > high.minor_units)
            ):
                raise InvalidInput(
                    "salary range must be one currency, low to high", field="job.salaryMax"
                )
        if self.kind is OpportunityKind.INVESTMENT:
            inv = self.investment
            if inv is None:
                raise InvalidInput("an investment needs its amounts", field="investment")
            if inv.amount_sought.currency != inv.minimum_ticket.currency:
                raise InvalidInput(
                    "amounts must share one currency", field="investment.minimumTicket"
                )
            if not 0 < inv.minimum_ticket.minor_units <= inv.amount_sought.minor_units:
                raise InvalidInput(
                    "minimum ticket must be positive and at most the amount sought",
                    field="investment.minimumTicket",
                )


@dataclass(slots=True)
class Opportunity:
    id: uuid.UUID
    details: OpportunityDetails
    status: OpportunityStatus
    created_by: uuid.UUID
    created_at: datetime
    published_at: datetime | None = None
    closed_at: datetime | None = None

    def move_to(self, target: OpportunityStatus, *, at: datetime) -> None:
        if target not in _OPPORTUNITY_TRANSITIONS[self.status]:
            raise InvalidState(
                f"a {self.status.value.lower()} opportunity cannot become {target.value.lower()}"
            )
        self.status = target
        if target is OpportunityStatus.OPEN:
            self.published_at = at
        elif target in (OpportunityStatus.CLOSED, OpportunityStatus.WITHDRAWN):
            self.closed_at = at

    def accepts_applications(self, today: date) -> bool:
        deadline = self.details.deadline
        return self.status is OpportunityStatus.OPEN and (deadline is None or today <= deadline)

    @property
    def takes_applications(self) -> bool:
        return self.details.kind in APPLICATION_KINDS


def check_may_post(
    organisation_id: uuid.UUID, *, official_of: frozenset[uuid.UUID], verified: frozenset[uuid.UUID]
) -> None:
    """Only officials of a verified organisation post: the guard against job-promise scams."""
    if organisation_id not in official_of:
        raise NotAllowed("you are not an official of this organisation", field="organisationId")
    if organisation_id not in verified:
        raise NotAllowed(
            "only verified organisations can post opportunities", field="organisationId"
        )


@dataclass(slots=True)
class Application:
    id: uuid.UUID
    opportunity_id: uuid.UUID
    applicant_id: uuid.UUID
    message: str
    links: tuple[str, ...]
    status: ApplicationStatus
    submitted_at: datetime
    history: list[tuple[ApplicationStatus, datetime]] = field(default_factory=list)

    def review(self, target: ApplicationStatus, *, at: datetime) -> None:
        if target not in _REVIEW_TRANSITIONS[self.status]:
            raise InvalidState(
                f"a {self.status.value.lower()} application cannot become {target.value.lower()}"
            )
        self.status = target
        self.history.append((target, at))

    def withdraw(self, applicant_id: uuid.UUID, *, opportunity_open: bool, at: datetime) -> None:
        if applicant_id != self.applicant_id:
            raise NotAllowed("only the applicant can withdraw")
        if not opportunity_open:
            raise InvalidState("the opportunity has closed")
        if self.status not in (A.SUBMITTED, A.SHORTLISTED):
            raise InvalidState(f"a {self.status.value.lower()} application cannot be withdrawn")
        self.status = A.WITHDRAWN
        self.history.append((A.WITHDRAWN, at))


def validate_application(message: str, links: Iterable[str]) -> tuple[str, tuple[str, ...]]:
    text = message.strip()
    if not text:
        raise InvalidInput("say why you are a good fit", field="message")
    if len(text) > MAX_MESSAGE:
        raise InvalidInput(f"must be at most {MAX_MESSAGE} characters", field="message")
    cleaned = tuple(link.strip() for link in links if link.strip())
    if len(cleaned) > 5 or any(
        not link.startswith("https://") or len(link) > 2_000 for link in cleaned
    ):
        raise InvalidInput("up to five https links", field="links")
    return text, cleaned


def may_see_application(
    application: Application, viewer_id: uuid.UUID, *, officials: frozenset[uuid.UUID]
) -> bool:
    return viewer_id == application.applicant_id or viewer_id in officials


@dataclass(frozen=True, slots=True)
class MemberProfile:
    """The service's own projection of a member, fed by member events."""

    member_id: uuid.UUID
    skills: frozenset[str]
    sector: str | None
    country: str | None
    mentor: bool = False
    investor: bool = False


def match_score(member: MemberProfile, opportunity: OpportunityDetails) -> int:
    """Skills the member has that the opportunity asks for; sector and investor fit break ties."""
    overlap = len(member.skills & set(opportunity.skills))
    bonus = 0
    if member.sector and member.sector == opportunity.sector:
        bonus += 1
    if member.investor and opportunity.kind is OpportunityKind.INVESTMENT:
        bonus += 1
    return overlap * 10 + bonus


@dataclass(frozen=True, slots=True)
class SearchCriteria:
    kinds: frozenset[OpportunityKind] = frozenset()
    sector: str | None = None
    country: str | None = None
    remote: bool | None = None
    skills: frozenset[str] = frozenset()

    def matches(self, details: OpportunityDetails) -> bool:
        if self.kinds and details.kind not in self.kinds:
            return False
        if self.sector and details.sector != self.sector:
            return False
        if self.country and details.location.country != self.country:
            return False
        if self.remote is not None and details.location.remote != self.remote:
            return False
        return not self.skills or bool(self.skills & set(details.skills))
