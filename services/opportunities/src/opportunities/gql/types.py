"""GraphQL object types, enums and inputs of the opportunities subgraph.

Money has the payments subgraph's shape, ``{ amount, currency, formatted }`` with ``amount`` the
integer number of minor units as a decimal string; the type is ``@shareable`` because both
subgraphs resolve it. Inputs take amounts the same way (``AmountInput``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar, cast

import strawberry
from strawberry.types import Info

from kopano.errors import BadUserInput, NotFound
from kopano.graphql import CursorValue, encode_cursor
from opportunities.adapters.repository import SavedSearch
from opportunities.context import OpportunitiesContext
from opportunities.domain import model as m
from opportunities.service import Page, domain_errors, normalise_country, normalise_sector

Ctx = Info[OpportunitiesContext, None]
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

strawberry.enum(m.OpportunityKind, description="What is on offer.")
strawberry.enum(m.OpportunityStatus, description="draft → open → closed | withdrawn")
strawberry.enum(m.ApplicationStatus)
strawberry.enum(m.EmploymentType)
OpportunityKind = m.OpportunityKind
OpportunityStatus = m.OpportunityStatus
ApplicationStatus = m.ApplicationStatus
EmploymentType = m.EmploymentType


@strawberry.enum(description="What the organisation's officials decide about an application.")
class ReviewDecision(StrEnum):
    SHORTLISTED = "SHORTLISTED"
    REJECTED = "REJECTED"
    ACCEPTED = "ACCEPTED"


def field(description: str) -> Callable[[F], F]:
    return cast(Callable[[F], F], strawberry.field(description=description))


def signed_in(description: str | None = None) -> Callable[[F], F]:
    """Marked ``@authenticated`` in the SDL so the gateway can refuse it early (the resolver
    still checks)."""
    return cast(
        Callable[[F], F], strawberry.federation.field(description=description, authenticated=True)
    )


def signed_in_mutation(description: str) -> Callable[[F], F]:
    return cast(
        Callable[[F], F],
        strawberry.federation.mutation(description=description, authenticated=True),
    )


def parse_id(raw: strawberry.ID | str, field_name: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise NotFound("No such record.", field=field_name) from None


# --------------------------------------------------------------------------- money

# ISO 4217 minor-unit exponents that differ from the usual two.
_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG"), 0),
    **dict.fromkeys(("RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}


def format_amount(amount: m.Amount) -> str:
    exponent = _EXPONENTS.get(amount.currency, 2)
    units = amount.minor_units
    if exponent == 0:
        return f"{units} {amount.currency}"
    whole, part = divmod(units, 10**exponent)
    return f"{whole}.{part:0{exponent}d} {amount.currency}"


@strawberry.federation.type(shareable=True, description="An exact amount of money.")
class Money:
    amount: str = strawberry.field(
        description='Integer minor units as a decimal string (cents, lisente): "125050" = 1250.50.'
    )
    currency: str = strawberry.field(description="ISO 4217 code.")
    formatted: str = strawberry.field(description='Human-readable, e.g. "1250.50 ZAR".')

    @classmethod
    def of(cls, amount: m.Amount) -> Money:
        return cls(
            amount=str(amount.minor_units),
            currency=amount.currency,
            formatted=format_amount(amount),
        )

    @classmethod
    def maybe(cls, amount: m.Amount | None) -> Money | None:
        return None if amount is None else cls.of(amount)


@strawberry.input(description="An amount: integer minor units as a decimal string.")
class AmountInput:
    amount: str = strawberry.field(description='Minor units, e.g. "125050" for 1250.50.')
    currency: str = strawberry.field(description="ISO 4217 code.")

    def to_domain(self, field_name: str) -> m.Amount:
        text = self.amount.strip()
        if not text.isdigit() or len(text) > 16:
            raise BadUserInput("amounts are whole minor units", field=field_name)
        with domain_errors():
            return m.Amount(int(text), self.currency.strip().upper())


# --------------------------------------------------------------------------- pages


@strawberry.type(name="OpportunitiesPageInfo", description="Where a page sits in the whole list.")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type(description="A page of results with a cursor to continue from.")
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo

    @field("The nodes of this page, without cursors.")
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]


def connection(
    page: Page[Any],
    wrap: Callable[[Any], T],
    cursor_of: Callable[[Any], Sequence[CursorValue]],
) -> Connection[T]:
    edges = [Edge(cursor=encode_cursor(cursor_of(row)), node=wrap(row)) for row in page.rows]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next, end_cursor=edges[-1].cursor if edges else None
        ),
    )


def listing_cursor(opp: m.Opportunity) -> tuple[datetime, uuid.UUID]:
    return (opp.published_at or opp.created_at, opp.id)


def deadline_cursor(opp: m.Opportunity) -> tuple[date, uuid.UUID]:
    assert opp.details.deadline is not None
    return (opp.details.deadline, opp.id)


def application_cursor(app: m.Application) -> tuple[datetime, uuid.UUID]:
    return (app.submitted_at, app.id)


# --------------------------------------------------------------------------- entities


@strawberry.federation.type(keys=["id"], name="Member", description="A member (owned by members).")
class MemberRef:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> MemberRef:
        return cls(id=id)

    def _self(self, info: Ctx) -> uuid.UUID | None:
        viewer = info.context.viewer_id()
        return viewer if viewer is not None and str(viewer) == str(self.id) else None

    @field(
        "Open opportunities that fit this member's skills, best first, then newest "
        "(the member only; null for anyone else)."
    )
    async def recommended_opportunities(
        self, info: Ctx, first: int = 10
    ) -> list[OpportunityType] | None:
        viewer = self._self(info)
        if viewer is None:
            return None
        if not 1 <= first <= 50:
            raise BadUserInput("'first' must be between 1 and 50.", field="first")
        ranked = await info.context.service.recommended(viewer, first=first)
        return [OpportunityType(data=opp) for opp, _ in ranked]

    @field("This member's applications and expressions of interest, newest first (self only).")
    async def applications(
        self, info: Ctx, first: int = 20, after: str | None = None
    ) -> Connection[ApplicationType] | None:
        from opportunities.gql.operations import page_args

        viewer = self._self(info)
        if viewer is None:
            return None
        size, cursor = page_args(first, after)
        page = await info.context.service.applications_of(viewer, first=size, after=cursor)
        return connection(page, ApplicationType.wrap, application_cursor)

    @field("This member's saved searches (self only).")
    async def saved_searches(self, info: Ctx) -> list[SavedSearchType] | None:
        viewer = self._self(info)
        if viewer is None:
            return None
        return [SavedSearchType.of(s) for s in await info.context.service.saved_searches(viewer)]


@strawberry.federation.type(
    keys=["id"], name="Organisation", description="An organisation (owned by members)."
)
class OrganisationRef:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> OrganisationRef:
        return cls(id=id)

    @field(
        "The organisation's opportunities, newest first: open and closed ones for everyone, "
        "drafts and withdrawn ones for its officials too."
    )
    async def opportunities(
        self, info: Ctx, first: int = 20, after: str | None = None, open_only: bool = False
    ) -> Connection[OpportunityType]:
        from opportunities.adapters.repository import OpportunityFilter
        from opportunities.gql.operations import page_args

        size, cursor = page_args(first, after)
        flt = OpportunityFilter(organisation_id=parse_id(self.id, "id"), open_only=open_only)
        page = await info.context.service.search(
            info.context.viewer_id(), flt, first=size, after=cursor
        )
        return connection(page, OpportunityType.wrap, listing_cursor)


@strawberry.type
class Location:
    country: str | None = strawberry.field(description="ISO 3166-1 alpha-2, when not remote-only.")
    city: str | None
    remote: bool


@strawberry.type
class JobDetails:
    employment_type: m.EmploymentType
    salary_min: Money | None
    salary_max: Money | None


@strawberry.type
class InvestmentDetails:
    sector: str
    amount_sought: Money
    minimum_ticket: Money
    expected_return_basis_points: int | None = strawberry.field(
        description="Expected yearly return in basis points (1% = 100)."
    )


@strawberry.federation.type(keys=["id"], name="Opportunity", description="A posting.")
class OpportunityType:
    data: strawberry.Private[m.Opportunity]

    @classmethod
    def wrap(cls, opp: m.Opportunity) -> OpportunityType:
        return cls(data=opp)

    @classmethod
    async def resolve_reference(cls, info: Ctx, id: strawberry.ID) -> OpportunityType | None:
        try:
            key = uuid.UUID(str(id))
        except ValueError:
            return None
        opp = await info.context.opportunity_loader.load(key)
        return None if opp is None else cls(data=opp)

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.data.id))

    @strawberry.field
    def kind(self) -> m.OpportunityKind:
        return self.data.details.kind

    @strawberry.field
    def status(self) -> m.OpportunityStatus:
        return self.data.status

    @strawberry.field
    def title(self) -> str:
        return self.data.details.title.strip()

    @field("Markdown.")
    def description(self) -> str:
        return self.data.details.description

    @strawberry.field
    def organisation(self) -> OrganisationRef:
        return OrganisationRef(id=strawberry.ID(str(self.data.details.organisation_id)))

    @strawberry.field
    def location(self) -> Location:
        loc = self.data.details.location
        return Location(country=loc.country, city=loc.city, remote=loc.remote)

    @strawberry.field
    def sector(self) -> str | None:
        return self.data.details.sector

    @field("Normalised skill tags.")
    def skills(self) -> list[str]:
        return list(self.data.details.skills)

    @field("ISO 639-1 codes.")
    def languages(self) -> list[str]:
        return list(self.data.details.languages)

    @field("Last day applications are taken (inclusive, UTC).")
    def deadline(self) -> date | None:
        return self.data.details.deadline

    @strawberry.field
    def job(self) -> JobDetails | None:
        job = self.data.details.job
        if job is None:
            return None
        return JobDetails(
            employment_type=job.employment_type,
            salary_min=Money.maybe(job.salary_min),
            salary_max=Money.maybe(job.salary_max),
        )

    @strawberry.field
    def investment(self) -> InvestmentDetails | None:
        inv = self.data.details.investment
        if inv is None:
            return None
        return InvestmentDetails(
            sector=inv.sector,
            amount_sought=Money.of(inv.amount_sought),
            minimum_ticket=Money.of(inv.minimum_ticket),
            expected_return_basis_points=inv.expected_return_bp,
        )

    @field("True for jobs, scholarships and volunteering; others take expressions of interest.")
    def takes_applications(self) -> bool:
        return self.data.takes_applications

    @field("Open and before its deadline.")
    def accepting_applications(self, info: Ctx) -> bool:
        today = info.context.service.config.clock().date()
        return self.data.accepts_applications(today)

    @strawberry.field
    def created_at(self) -> datetime:
        return self.data.created_at

    @strawberry.field
    def published_at(self) -> datetime | None:
        return self.data.published_at

    @strawberry.field
    def closed_at(self) -> datetime | None:
        return self.data.closed_at

    @field(
        "How many members' skills fit this posting: a count, never names, for the posting "
        "organisation's officials (null for anyone else)."
    )
    async def matching_member_count(self, info: Ctx) -> int | None:
        return await info.context.matching_count_loader.load(self.data)

    @field("Applications to this posting, newest first (the organisation's officials only).")
    async def applications(
        self, info: Ctx, first: int = 20, after: str | None = None
    ) -> Connection[ApplicationType] | None:
        from opportunities.gql.operations import page_args

        size, cursor = page_args(first, after)
        page = await info.context.service.applications_to(
            info.context.viewer_id(), self.data, first=size, after=cursor
        )
        return None if page is None else connection(page, ApplicationType.wrap, application_cursor)

    @field("The caller's own application to this posting, if any.")
    async def my_application(self, info: Ctx) -> ApplicationType | None:
        app = await info.context.my_application_loader.load(self.data.id)
        return None if app is None else ApplicationType(data=app)


@strawberry.type
class ApplicationHistoryEntry:
    status: m.ApplicationStatus
    at: datetime


@strawberry.federation.type(
    keys=["id"],
    name="Application",
    description="An application or expression of interest: seen only by the applicant and the "
    "posting organisation's officials.",
)
class ApplicationType:
    data: strawberry.Private[m.Application]

    @classmethod
    def wrap(cls, app: m.Application) -> ApplicationType:
        return cls(data=app)

    @classmethod
    async def resolve_reference(cls, info: Ctx, id: strawberry.ID) -> ApplicationType | None:
        try:
            key = uuid.UUID(str(id))
        except ValueError:
            return None
        app = await info.context.application_loader.load(key)
        return None if app is None else cls(data=app)

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.data.id))

    @strawberry.field
    async def opportunity(self, info: Ctx) -> OpportunityType | None:
        opp = await info.context.opportunity_loader.load(self.data.opportunity_id)
        return None if opp is None else OpportunityType(data=opp)

    @strawberry.field
    def applicant(self) -> MemberRef:
        return MemberRef(id=strawberry.ID(str(self.data.applicant_id)))

    @field("Why the applicant fits; empty once the applicant erased their account.")
    def message(self) -> str:
        return self.data.message

    @strawberry.field
    def links(self) -> list[str]:
        return list(self.data.links)

    @strawberry.field
    def status(self) -> m.ApplicationStatus:
        return self.data.status

    @strawberry.field
    def submitted_at(self) -> datetime:
        return self.data.submitted_at

    @strawberry.field
    def history(self) -> list[ApplicationHistoryEntry]:
        return [ApplicationHistoryEntry(status=s, at=at) for s, at in self.data.history]


@strawberry.type(name="SavedSearch")
class SavedSearchType:
    id: strawberry.ID
    name: str
    kinds: list[m.OpportunityKind]
    sector: str | None
    country: str | None
    remote: bool | None
    skills: list[str]
    created_at: datetime

    @classmethod
    def of(cls, s: SavedSearch) -> SavedSearchType:
        c = s.criteria
        return cls(
            id=strawberry.ID(str(s.id)),
            name=s.name,
            kinds=sorted(c.kinds),
            sector=c.sector,
            country=c.country,
            remote=c.remote,
            skills=sorted(c.skills),
            created_at=s.created_at,
        )


# --------------------------------------------------------------------------- inputs


@strawberry.input
class LocationInput:
    country: str | None = strawberry.field(default=None, description="ISO 3166-1 alpha-2.")
    city: str | None = None
    remote: bool = False


@strawberry.input
class JobInput:
    employment_type: m.EmploymentType
    salary_min: AmountInput | None = None
    salary_max: AmountInput | None = None


@strawberry.input
class InvestmentInput:
    sector: str
    amount_sought: AmountInput
    minimum_ticket: AmountInput
    expected_return_basis_points: int | None = None


@strawberry.input(description="A posting's content; kind-specific parts go in job / investment.")
class OpportunityContentInput:
    title: str
    description: str = strawberry.field(description="Markdown.")
    location: LocationInput
    sector: str | None = None
    skills: list[str] = strawberry.field(default_factory=list)
    languages: list[str] = strawberry.field(default_factory=list)
    deadline: date | None = None
    job: JobInput | None = None
    investment: InvestmentInput | None = None

    def to_domain(
        self, kind: m.OpportunityKind, organisation_id: uuid.UUID
    ) -> m.OpportunityDetails:
        from opportunities.service import normalise_languages

        with domain_errors():
            location = m.Location.create(
                country=self.location.country, city=self.location.city, remote=self.location.remote
            )
            skills = m.normalise_skills(self.skills)
        job = None
        if self.job is not None and kind is m.OpportunityKind.JOB:
            job = m.JobDetails(
                self.job.employment_type,
                self.job.salary_min.to_domain("job.salaryMin") if self.job.salary_min else None,
                self.job.salary_max.to_domain("job.salaryMax") if self.job.salary_max else None,
            )
        elif self.job is not None:
            raise BadUserInput("only jobs have job details", field="job")
        investment = None
        sector = normalise_sector(self.sector)
        if self.investment is not None and kind is m.OpportunityKind.INVESTMENT:
            inv = self.investment
            bp = inv.expected_return_basis_points
            if bp is not None and not 0 <= bp <= 100_000:
                raise BadUserInput(
                    "expected return is 0 to 100000 basis points",
                    field="investment.expectedReturnBasisPoints",
                )
            inv_sector = normalise_sector(inv.sector, "investment.sector")
            assert inv_sector is not None
            investment = m.InvestmentDetails(
                inv_sector,
                inv.amount_sought.to_domain("investment.amountSought"),
                inv.minimum_ticket.to_domain("investment.minimumTicket"),
                bp,
            )
            sector = sector or inv_sector
        elif self.investment is not None:
            raise BadUserInput("only investments have investment details", field="investment")
        with domain_errors():
            return m.OpportunityDetails(
                kind=kind,
                title=self.title,
                description=self.description,
                organisation_id=organisation_id,
                location=location,
                sector=sector,
                skills=skills,
                languages=normalise_languages(self.languages),
                deadline=self.deadline,
                job=job,
                investment=investment,
            )


@strawberry.input
class CreateOpportunityInput(OpportunityContentInput):
    kind: m.OpportunityKind
    organisation_id: strawberry.ID


@strawberry.input(description="Opportunities search; every criterion narrows.")
class OpportunityFilterInput:
    kinds: list[m.OpportunityKind] | None = None
    sector: str | None = None
    country: str | None = None
    remote: bool | None = None
    skills: list[str] | None = strawberry.field(
        default=None, description="Any of these skills (normalised like postings' tags)."
    )
    organisation_id: strawberry.ID | None = None
    open_only: bool = strawberry.field(default=True, description="false also lists closed ones.")
    closing_soon: bool = strawberry.field(
        default=False, description="Only open ones whose deadline is near, soonest first."
    )
    closing_within_days: int | None = strawberry.field(
        default=None, description="What 'near' means (default 7 days)."
    )


@strawberry.input(description="Criteria of a saved search; empty ones match anything.")
class SearchCriteriaInput:
    kinds: list[m.OpportunityKind] = strawberry.field(default_factory=list)
    sector: str | None = None
    country: str | None = None
    remote: bool | None = None
    skills: list[str] = strawberry.field(default_factory=list)

    def to_domain(self) -> m.SearchCriteria:
        with domain_errors():
            skills = m.normalise_skills(self.skills)
        return m.SearchCriteria(
            kinds=frozenset(self.kinds),
            sector=normalise_sector(self.sector),
            country=normalise_country(self.country),
            remote=self.remote,
            skills=frozenset(skills),
        )
