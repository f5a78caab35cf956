"""Use cases of the opportunities service. Each is one transaction: state plus outbox events."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Generic, TypeVar

import pycountry

from kopano.data_export import iso_time, member_export
from kopano.errors import BadUserInput, Conflict, Forbidden, NotFound
from opportunities import events as ev
from opportunities.adapters.repository import OpportunityFilter, SavedSearch, StoredProfile
from opportunities.domain import model as m
from opportunities.unit_of_work import UnitOfWork

Clock = Callable[[], datetime]
_SECTOR = re.compile(r"^[A-Z_]{2,40}$")
MAX_SAVED_SEARCHES = 20
MAX_SEARCH_NAME = 80


def utc_now() -> datetime:
    return datetime.now(UTC)


@contextlib.contextmanager
def domain_errors() -> Iterator[None]:
    """The domain's rule violations as the platform's coded errors."""
    try:
        yield
    except m.NotAllowed as exc:
        raise Forbidden(exc.message, field=exc.field) from None
    except m.InvalidState as exc:
        raise Conflict(exc.message, field=exc.field) from None
    except m.OpportunityError as exc:
        raise BadUserInput(exc.message, field=exc.field) from None


def normalise_sector(raw: str | None, field: str = "sector") -> str | None:
    if raw is None or not raw.strip():
        return None
    sector = raw.strip().upper().replace(" ", "_").replace("-", "_")
    if not _SECTOR.match(sector):
        raise BadUserInput("a sector is a code such as HEALTH or FINANCE", field=field)
    return sector


def normalise_country(raw: str | None, field: str = "country") -> str | None:
    if raw is None or not raw.strip():
        return None
    code = raw.strip().upper()
    if pycountry.countries.get(alpha_2=code) is None:
        raise BadUserInput("unknown country code", field=field)
    return code


def normalise_languages(raw: Sequence[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for item in raw:
        code = item.strip().lower()
        if len(code) != 2 or pycountry.languages.get(alpha_2=code) is None:
            raise BadUserInput(f"unknown language code {item!r}", field="languages")
        seen.setdefault(code, None)
    return tuple(seen)


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    uow: Callable[..., UnitOfWork]
    event_source: str
    opportunity_topic: str = "opportunities.opportunity"
    application_topic: str = "opportunities.application"
    closing_soon_days: int = 7
    clock: Clock = utc_now


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    rows: list[T]
    has_next: bool


def _page(rows: list[T], first: int) -> Page[T]:
    return Page(rows[:first], len(rows) > first)


class OpportunityService:
    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.uow = config.uow
        self.source = config.event_source

    def _today(self, now: datetime) -> date:
        return now.astimezone(UTC).date()

    # ------------------------------------------------------------------ permissions

    async def _require_official(
        self, uow: UnitOfWork, member_id: uuid.UUID, organisation_id: uuid.UUID, *, verified: bool
    ) -> None:
        official_of = await uow.projections.official_of(member_id)
        if verified:
            with domain_errors():
                m.check_may_post(
                    organisation_id,
                    official_of=official_of,
                    verified=await uow.projections.verified([organisation_id]),
                )
        elif organisation_id not in official_of:
            raise Forbidden("you are not an official of this organisation", field="organisationId")

    async def _opportunity_for_official(
        self, uow: UnitOfWork, member_id: uuid.UUID, opportunity_id: uuid.UUID, *, verified: bool
    ) -> m.Opportunity:
        opp = await uow.opportunities.get(opportunity_id, lock="update")
        if opp is None:
            raise NotFound("No such opportunity.", field="id")
        official_of = await uow.projections.official_of(member_id)
        if opp.details.organisation_id not in official_of:
            # Drafts of others are not even acknowledged.
            if opp.status in (m.OpportunityStatus.DRAFT, m.OpportunityStatus.WITHDRAWN):
                raise NotFound("No such opportunity.", field="id")
            raise Forbidden("you are not an official of this organisation", field="id")
        if verified:
            await self._require_official(uow, member_id, opp.details.organisation_id, verified=True)
        return opp

    async def official_of(self, member_id: uuid.UUID) -> frozenset[uuid.UUID]:
        async with self.uow(read_only=True) as uow:
            return await uow.projections.official_of(member_id)

    # ------------------------------------------------------------------ postings

    def _check_deadline(self, details: m.OpportunityDetails, today: date) -> None:
        if details.deadline is not None and details.deadline < today:
            raise BadUserInput("the deadline has passed", field="deadline")

    async def create(self, member_id: uuid.UUID, details: m.OpportunityDetails) -> m.Opportunity:
        now = self.config.clock()
        self._check_deadline(details, self._today(now))
        async with self.uow() as uow:
            await self._require_official(uow, member_id, details.organisation_id, verified=True)
            opp = m.Opportunity(
                id=uuid.uuid4(),
                details=details,
                status=m.OpportunityStatus.DRAFT,
                created_by=member_id,
                created_at=now,
            )
            await uow.opportunities.add(opp)
            await uow.commit()
        return opp

    async def update(
        self, member_id: uuid.UUID, opportunity_id: uuid.UUID, details: m.OpportunityDetails
    ) -> m.Opportunity:
        now = self.config.clock()
        async with self.uow() as uow:
            opp = await self._opportunity_for_official(
                uow, member_id, opportunity_id, verified=True
            )
            if opp.status not in (m.OpportunityStatus.DRAFT, m.OpportunityStatus.OPEN):
                raise Conflict(f"a {opp.status.value.lower()} opportunity cannot be edited")
            if details.kind is not opp.details.kind:
                raise BadUserInput("the kind of an opportunity cannot change", field="kind")
            if details.deadline != opp.details.deadline:
                self._check_deadline(details, self._today(now))
            opp.details = replace(details, organisation_id=opp.details.organisation_id)
            await uow.opportunities.save(opp, now)
            await uow.commit()
        return opp

    async def publish(self, member_id: uuid.UUID, opportunity_id: uuid.UUID) -> m.Opportunity:
        now = self.config.clock()
        async with self.uow() as uow:
            opp = await self._opportunity_for_official(
                uow, member_id, opportunity_id, verified=True
            )
            self._check_deadline(opp.details, self._today(now))
            with domain_errors():
                opp.move_to(m.OpportunityStatus.OPEN, at=now)
            await uow.opportunities.save(opp, now)
            uow.publish(ev.opportunity_published(opp, self.source), self.config.opportunity_topic)
            # Saved searches: one event per member, naming the first search that matched.
            notified: set[uuid.UUID] = set()
            for search in await uow.saved_searches.matching(opp.details):
                if search.member_id in notified:
                    continue
                notified.add(search.member_id)
                uow.publish(
                    ev.opportunity_matched(opp, search.member_id, search.id, now, self.source),
                    self.config.opportunity_topic,
                )
            await uow.commit()
        return opp

    async def _end(
        self, member_id: uuid.UUID, opportunity_id: uuid.UUID, target: m.OpportunityStatus
    ) -> m.Opportunity:
        now = self.config.clock()
        async with self.uow() as uow:
            # No verified badge needed: an organisation that lost it can still stop a posting.
            opp = await self._opportunity_for_official(
                uow, member_id, opportunity_id, verified=False
            )
            was_open = opp.status is m.OpportunityStatus.OPEN
            with domain_errors():
                opp.move_to(target, at=now)
            await uow.opportunities.save(opp, now)
            if was_open:
                reason = "closed" if target is m.OpportunityStatus.CLOSED else "withdrawn"
                uow.publish(
                    ev.opportunity_closed(opp, reason, self.source), self.config.opportunity_topic
                )
            await uow.commit()
        return opp

    async def close(self, member_id: uuid.UUID, opportunity_id: uuid.UUID) -> m.Opportunity:
        return await self._end(member_id, opportunity_id, m.OpportunityStatus.CLOSED)

    async def withdraw(self, member_id: uuid.UUID, opportunity_id: uuid.UUID) -> m.Opportunity:
        return await self._end(member_id, opportunity_id, m.OpportunityStatus.WITHDRAWN)

    async def close_expired(self) -> int:
        """Close open opportunities past their deadline (the periodic sweep)."""
        now = self.config.clock()
        async with self.uow() as uow:
            closed = await uow.opportunities.close_expired(self._today(now), now)
            for opp in closed:
                uow.publish(
                    ev.opportunity_closed(opp, "deadline", self.source),
                    self.config.opportunity_topic,
                )
            await uow.commit()
        return len(closed)

    # ------------------------------------------------------------------ reading postings

    async def visible(
        self, viewer: uuid.UUID | None, ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, m.Opportunity]:
        async with self.uow(read_only=True) as uow:
            found = await uow.opportunities.get_many(ids)
            insider = await uow.projections.official_of(viewer) if viewer else frozenset()
        return {
            i: o
            for i, o in found.items()
            if o.status in (m.OpportunityStatus.OPEN, m.OpportunityStatus.CLOSED)
            or o.details.organisation_id in insider
        }

    async def search(
        self,
        viewer: uuid.UUID | None,
        flt: OpportunityFilter,
        *,
        first: int,
        after: tuple[Any, ...] | None,
    ) -> Page[m.Opportunity]:
        now = self.config.clock()
        async with self.uow(read_only=True) as uow:
            insider = await uow.projections.official_of(viewer) if viewer else frozenset()
            flt = replace(flt, insider_of=insider)
            rows = await uow.opportunities.search(
                flt,
                after=_typed_after(after, deadline=flt.closing_by is not None),
                limit=first + 1,
                today=self._today(now),
            )
        return _page(rows, first)

    def closing_by(self, within_days: int | None) -> date:
        days = self.config.closing_soon_days if within_days is None else within_days
        if not 1 <= days <= 365:
            raise BadUserInput("closing soon is 1 to 365 days", field="closingWithinDays")
        return self._today(self.config.clock()) + timedelta(days=days)

    async def recommended(
        self, viewer: uuid.UUID, *, first: int
    ) -> list[tuple[m.Opportunity, int]]:
        now = self.config.clock()
        today = self._today(now)
        async with self.uow(read_only=True) as uow:
            found = await uow.opportunities.recommended_for(viewer, today=today, limit=first)
            if found:
                return found
            # No skills yet (or nothing shares one): sector and investor fit alone.
            profile = await uow.projections.profile(viewer)
            if profile is None:
                return []
            return await uow.opportunities.recommended(profile, today=today, limit=first)

    async def matching_member_counts(
        self, viewer: uuid.UUID | None, opportunities: Sequence[m.Opportunity]
    ) -> dict[uuid.UUID, int | None]:
        """A count per posting for its organisation's officials; None for anyone else."""
        if viewer is None:
            return {o.id: None for o in opportunities}
        async with self.uow(read_only=True) as uow:
            insider = await uow.projections.official_of(viewer)
            mine = [o.id for o in opportunities if o.details.organisation_id in insider]
            counts = await uow.opportunities.matching_member_counts(mine)
        return {o.id: counts.get(o.id) if o.id in counts else None for o in opportunities}

    # ------------------------------------------------------------------ applications

    async def apply(
        self,
        member_id: uuid.UUID,
        opportunity_id: uuid.UUID,
        message: str,
        links: Sequence[str],
        *,
        interest: bool,
    ) -> m.Application:
        with domain_errors():
            text, cleaned = m.validate_application(message, links)
        now = self.config.clock()
        async with self.uow() as uow:
            # The share lock makes the status and deadline check hold until we commit: a
            # concurrent close waits for us, and we wait for a close in progress.
            opp = await uow.opportunities.get(opportunity_id, lock="share")
            official_of = await uow.projections.official_of(member_id)
            if opp is None or (
                opp.status in (m.OpportunityStatus.DRAFT, m.OpportunityStatus.WITHDRAWN)
                and opp.details.organisation_id not in official_of
            ):
                raise NotFound("No such opportunity.", field="opportunityId")
            if opp.takes_applications == interest:
                verb = "express interest in" if interest else "apply to"
                fix = "apply" if interest else "expressInterest"
                raise BadUserInput(
                    f"you cannot {verb} a {opp.details.kind.value.lower()}; use {fix}",
                    field="opportunityId",
                )
            if opp.details.organisation_id in official_of:
                raise Forbidden("officials cannot apply to their own organisation's postings")
            if not opp.accepts_applications(self._today(now)):
                raise Conflict("this opportunity is not taking applications", field="opportunityId")
            app = m.Application(
                id=uuid.uuid4(),
                opportunity_id=opp.id,
                applicant_id=member_id,
                message=text,
                links=cleaned,
                status=m.ApplicationStatus.SUBMITTED,
                submitted_at=now,
                history=[(m.ApplicationStatus.SUBMITTED, now)],
            )
            if not await uow.applications.add_if_new(app):
                raise Conflict(
                    "you have already applied to this opportunity", field="opportunityId"
                )
            uow.publish(
                ev.application_submitted(app, opp, self.source), self.config.application_topic
            )
            await uow.commit()
        return app

    async def _application_for(
        self, uow: UnitOfWork, viewer: uuid.UUID, application_id: uuid.UUID
    ) -> tuple[m.Application, m.Opportunity, frozenset[uuid.UUID]]:
        app = await uow.applications.get(application_id, for_update=True)
        if app is None:
            raise NotFound("No such application.", field="id")
        opp = await uow.opportunities.get(app.opportunity_id, lock="share")
        assert opp is not None  # the foreign key keeps it
        officials = await uow.projections.officials(opp.details.organisation_id)
        if not m.may_see_application(app, viewer, officials=officials):
            # Someone else's application does not exist as far as this caller knows.
            raise NotFound("No such application.", field="id")
        return app, opp, officials

    async def withdraw_application(
        self, member_id: uuid.UUID, application_id: uuid.UUID
    ) -> m.Application:
        now = self.config.clock()
        async with self.uow() as uow:
            app, opp, _ = await self._application_for(uow, member_id, application_id)
            previous = app.status
            with domain_errors():
                app.withdraw(
                    member_id, opportunity_open=opp.status is m.OpportunityStatus.OPEN, at=now
                )
            await uow.applications.save(app, now)
            uow.publish(
                ev.application_status_changed(app, opp, previous, now, self.source),
                self.config.application_topic,
            )
            await uow.commit()
        return app

    async def review(
        self, member_id: uuid.UUID, application_id: uuid.UUID, decision: m.ApplicationStatus
    ) -> m.Application:
        if decision not in (
            m.ApplicationStatus.SHORTLISTED,
            m.ApplicationStatus.REJECTED,
            m.ApplicationStatus.ACCEPTED,
        ):
            raise BadUserInput("a review shortlists, rejects or accepts", field="decision")
        now = self.config.clock()
        async with self.uow() as uow:
            app, opp, officials = await self._application_for(uow, member_id, application_id)
            if member_id not in officials:
                raise Forbidden("only the organisation's officials review applications")
            previous = app.status
            with domain_errors():
                app.review(decision, at=now)
            await uow.applications.save(app, now)
            uow.publish(
                ev.application_status_changed(app, opp, previous, now, self.source),
                self.config.application_topic,
            )
            await uow.commit()
        return app

    async def applications_visible(
        self, viewer: uuid.UUID | None, ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, m.Application]:
        if viewer is None:
            return {}
        async with self.uow(read_only=True) as uow:
            found = await uow.applications.get_many(ids)
            insider = await uow.projections.official_of(viewer)
            opps = await uow.opportunities.get_many([a.opportunity_id for a in found.values()])
        return {
            i: a
            for i, a in found.items()
            if a.applicant_id == viewer or opps[a.opportunity_id].details.organisation_id in insider
        }

    async def applications_of(
        self, member_id: uuid.UUID, *, first: int, after: tuple[Any, ...] | None
    ) -> Page[m.Application]:
        async with self.uow(read_only=True) as uow:
            rows = await uow.applications.page(
                applicant_id=member_id, after=_typed_after(after), limit=first + 1
            )
        return _page(rows, first)

    async def applications_to(
        self,
        viewer: uuid.UUID | None,
        opportunity: m.Opportunity,
        *,
        first: int,
        after: tuple[Any, ...] | None,
    ) -> Page[m.Application] | None:
        """Applications to a posting, for its organisation's officials (None for others)."""
        if viewer is None:
            return None
        async with self.uow(read_only=True) as uow:
            if opportunity.details.organisation_id not in await uow.projections.official_of(viewer):
                return None
            rows = await uow.applications.page(
                opportunity_id=opportunity.id, after=_typed_after(after), limit=first + 1
            )
        return _page(rows, first)

    async def my_applications(
        self, viewer: uuid.UUID, opportunity_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, m.Application]:
        async with self.uow(read_only=True) as uow:
            return await uow.applications.of_member_for(viewer, opportunity_ids)

    # ------------------------------------------------------------------ saved searches

    async def save_search(
        self, member_id: uuid.UUID, name: str, criteria: m.SearchCriteria
    ) -> SavedSearch:
        label = name.strip()
        if not label or len(label) > MAX_SEARCH_NAME:
            raise BadUserInput(f"a name of 1 to {MAX_SEARCH_NAME} characters", field="name")
        if criteria == m.SearchCriteria():
            raise BadUserInput("give at least one criterion", field="criteria")
        search = SavedSearch(uuid.uuid4(), member_id, label, criteria, self.config.clock())
        async with self.uow() as uow:
            if await uow.projections.is_erased(member_id):
                raise Forbidden("this account no longer exists")
            if await uow.saved_searches.count_for(member_id) >= MAX_SAVED_SEARCHES:
                raise Conflict(f"at most {MAX_SAVED_SEARCHES} saved searches", field="name")
            await uow.saved_searches.add(search)
            await uow.commit()
        return search

    async def delete_search(self, member_id: uuid.UUID, search_id: uuid.UUID) -> bool:
        async with self.uow() as uow:
            deleted = await uow.saved_searches.delete(search_id, member_id)
            await uow.commit()
        if not deleted:
            raise NotFound("No such saved search.", field="id")
        return True

    async def saved_searches(self, member_id: uuid.UUID) -> list[SavedSearch]:
        async with self.uow(read_only=True) as uow:
            return await uow.saved_searches.for_member(member_id)

    # ------------------------------------------------------------------ data rights

    async def my_data(self, member_id: uuid.UUID) -> dict[str, Any]:
        """Everything this service holds about the caller, as one JSON document.

        Reviews are the officials' decisions on an application: its status and history, which
        the applicant already sees; the service keeps no reviewer notes nor who decided.
        """
        now = self.config.clock()
        async with self.uow(read_only=True) as uow:
            applications = await uow.applications.of_applicant(member_id)
            applied_to = await uow.opportunities.get_many([a.opportunity_id for a in applications])
            searches = await uow.saved_searches.for_member(member_id)
            posted = await uow.opportunities.created_by(member_id)
            profile = await uow.projections.stored_profile(member_id)
            roles = await uow.projections.roles_of(member_id)
            erased_at = await uow.projections.erased_at(member_id)
        records = {
            "applications": [
                _application_record(a, applied_to[a.opportunity_id].details.kind)
                for a in applications
            ],
            "savedSearches": [_saved_search_record(s) for s in searches],
            "postedOpportunities": [_posted_record(o) for o in posted],
            "memberProfile": [] if profile is None else [_profile_record(profile)],
            "organisationRoles": [
                {"organisationId": str(org), "role": role} for org, role in roles
            ],
            # The id-only tombstone that keeps late member events from bringing a profile back.
            "erasures": [] if erased_at is None else [{"erasedAt": iso_time(erased_at)}],
        }
        return member_export("opportunities", member_id, now, records)


def _application_record(app: m.Application, kind: m.OpportunityKind) -> dict[str, Any]:
    return {
        "id": str(app.id),
        "opportunityId": str(app.opportunity_id),
        "opportunityKind": kind.name,
        "kind": "APPLICATION" if kind in m.APPLICATION_KINDS else "EXPRESSION_OF_INTEREST",
        # Empty once the applicant's account was erased.
        "message": app.message,
        "links": list(app.links),
        "status": app.status.name,
        "history": [{"status": status.name, "at": iso_time(at)} for status, at in app.history],
        "submittedAt": iso_time(app.submitted_at),
    }


def _saved_search_record(search: SavedSearch) -> dict[str, Any]:
    c = search.criteria
    return {
        "id": str(search.id),
        "name": search.name,
        "kinds": sorted(k.name for k in c.kinds),
        "sector": c.sector,
        "country": c.country,
        "remote": c.remote,
        "skills": sorted(c.skills),
        "createdAt": iso_time(search.created_at),
    }


def _posted_record(opp: m.Opportunity) -> dict[str, Any]:
    return {
        "id": str(opp.id),
        "organisationId": str(opp.details.organisation_id),
        "kind": opp.details.kind.name,
        "title": opp.details.title,
        "status": opp.status.name,
        "createdAt": iso_time(opp.created_at),
        "publishedAt": None if opp.published_at is None else iso_time(opp.published_at),
        "closedAt": None if opp.closed_at is None else iso_time(opp.closed_at),
    }


def _profile_record(stored: StoredProfile) -> dict[str, Any]:
    p = stored.profile
    return {
        "skills": sorted(p.skills),
        "sector": p.sector,
        "country": p.country,
        "languages": list(stored.languages),
        "willingToMentor": p.mentor,
        "willingToInvest": p.investor,
        "asOf": iso_time(stored.as_of),
    }


def _typed_after(
    after: tuple[Any, ...] | None, *, deadline: bool = False
) -> tuple[Any, uuid.UUID] | None:
    """A decoded cursor checked for the shape this listing writes: (datetime|date, uuid)."""
    if after is None:
        return None
    key_type = date if deadline else datetime
    if (
        len(after) != 2
        or not isinstance(after[1], uuid.UUID)
        or not isinstance(after[0], key_type)
        or (deadline and isinstance(after[0], datetime))
    ):
        raise BadUserInput("Invalid cursor.", field="after")
    return after[0], after[1]
