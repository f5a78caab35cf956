"""Repositories: SQL in, domain objects out. Each works on the unit of work's connection."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import array as pg_array
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from opportunities.adapters import tables as t
from opportunities.domain.model import (
    Amount,
    Application,
    ApplicationStatus,
    EmploymentType,
    InvestmentDetails,
    JobDetails,
    Location,
    MemberProfile,
    Opportunity,
    OpportunityDetails,
    OpportunityKind,
    OpportunityStatus,
    SearchCriteria,
)

Lock = Literal["update", "share"] | None
# Statuses anyone may see; drafts and withdrawn postings are the organisation's business.
PUBLIC_STATUSES = (OpportunityStatus.OPEN.value, OpportunityStatus.CLOSED.value)


# --------------------------------------------------------------------------- mapping


def _amount_json(amount: Amount | None) -> dict[str, Any] | None:
    return (
        None if amount is None else {"minorUnits": amount.minor_units, "currency": amount.currency}
    )


def _amount(raw: dict[str, Any] | None) -> Amount | None:
    return None if raw is None else Amount(int(raw["minorUnits"]), str(raw["currency"]))


def details_json(details: OpportunityDetails) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if details.job is not None:
        out["job"] = {
            "employmentType": details.job.employment_type.value,
            "salaryMin": _amount_json(details.job.salary_min),
            "salaryMax": _amount_json(details.job.salary_max),
        }
    if details.investment is not None:
        inv = details.investment
        out["investment"] = {
            "sector": inv.sector,
            "amountSought": _amount_json(inv.amount_sought),
            "minimumTicket": _amount_json(inv.minimum_ticket),
            "expectedReturnBp": inv.expected_return_bp,
        }
    return out


def opportunity_from_row(row: Any) -> Opportunity:
    extra: dict[str, Any] = row.details or {}
    job = None
    if (raw_job := extra.get("job")) is not None:
        job = JobDetails(
            EmploymentType(raw_job["employmentType"]),
            _amount(raw_job.get("salaryMin")),
            _amount(raw_job.get("salaryMax")),
        )
    investment = None
    if (raw_inv := extra.get("investment")) is not None:
        sought, ticket = _amount(raw_inv["amountSought"]), _amount(raw_inv["minimumTicket"])
        assert sought is not None
        assert ticket is not None
        investment = InvestmentDetails(
            raw_inv["sector"], sought, ticket, raw_inv.get("expectedReturnBp")
        )
    details = OpportunityDetails(
        kind=OpportunityKind(row.kind),
        title=row.title,
        description=row.description,
        organisation_id=row.organisation_id,
        location=Location(row.country, row.city, row.remote),
        sector=row.sector,
        skills=tuple(row.skills),
        languages=tuple(row.languages),
        deadline=row.deadline,
        job=job,
        investment=investment,
    )
    return Opportunity(
        id=row.id,
        details=details,
        status=OpportunityStatus(row.status),
        created_by=row.created_by,
        created_at=row.created_at,
        published_at=row.published_at,
        closed_at=row.closed_at,
    )


def _opportunity_values(opp: Opportunity, now: datetime) -> dict[str, Any]:
    d = opp.details
    return {
        "organisation_id": d.organisation_id,
        "kind": d.kind.value,
        "status": opp.status.value,
        "title": d.title.strip(),
        "description": d.description,
        "sector": d.sector,
        "country": d.location.country,
        "city": d.location.city,
        "remote": d.location.remote,
        "skills": list(d.skills),
        "languages": list(d.languages),
        "deadline": d.deadline,
        "details": details_json(d),
        "updated_at": now,
        "published_at": opp.published_at,
        "closed_at": opp.closed_at,
        "listed_at": opp.published_at or opp.created_at,
    }


def application_from_row(row: Any) -> Application:
    return Application(
        id=row.id,
        opportunity_id=row.opportunity_id,
        applicant_id=row.applicant_id,
        message=row.message or "",
        links=tuple(row.links),
        status=ApplicationStatus(row.status),
        submitted_at=row.submitted_at,
        history=[
            (ApplicationStatus(h["status"]), datetime.fromisoformat(h["at"])) for h in row.history
        ],
    )


def _history_json(app: Application) -> list[dict[str, str]]:
    return [{"status": s.value, "at": at.isoformat()} for s, at in app.history]


# --------------------------------------------------------------------------- filters


@dataclass(frozen=True, slots=True)
class OpportunityFilter:
    """Browse/search filter. ``closing_by`` switches the order to soonest deadline first."""

    kinds: frozenset[OpportunityKind] = frozenset()
    sector: str | None = None
    country: str | None = None
    remote: bool | None = None
    skills: frozenset[str] = frozenset()
    organisation_id: uuid.UUID | None = None
    open_only: bool = True
    closing_by: date | None = None
    # Organisations whose drafts and withdrawn postings the viewer may also see.
    insider_of: frozenset[uuid.UUID] = frozenset()


# --------------------------------------------------------------------------- repositories


class OpportunityRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, opp: Opportunity) -> None:
        values = _opportunity_values(opp, opp.created_at)
        await self.conn.execute(
            t.opportunities.insert().values(
                id=opp.id, created_by=opp.created_by, created_at=opp.created_at, **values
            )
        )

    async def save(self, opp: Opportunity, now: datetime) -> None:
        await self.conn.execute(
            t.opportunities.update()
            .where(t.opportunities.c.id == opp.id)
            .values(**_opportunity_values(opp, now))
        )

    async def get(self, opportunity_id: uuid.UUID, *, lock: Lock = None) -> Opportunity | None:
        query = sa.select(t.opportunities).where(t.opportunities.c.id == opportunity_id)
        if lock == "update":
            query = query.with_for_update()
        elif lock == "share":
            # Blocks a concurrent close (FOR UPDATE) until this transaction ends, and
            # waits for one in progress: an application never slips past a closing.
            query = query.with_for_update(read=True)
        row = (await self.conn.execute(query)).first()
        return None if row is None else opportunity_from_row(row)

    async def get_many(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Opportunity]:
        if not ids:
            return {}
        rows = await self.conn.execute(
            sa.select(t.opportunities).where(t.opportunities.c.id.in_(list(set(ids))))
        )
        return {row.id: opportunity_from_row(row) for row in rows}

    async def created_by(self, member_id: uuid.UUID) -> list[Opportunity]:
        """Postings a member created as an official, any status, newest first (data export:
        rare, so no index of its own)."""
        o = t.opportunities.c
        rows = await self.conn.execute(
            sa.select(t.opportunities)
            .where(o.created_by == member_id)
            .order_by(o.created_at.desc(), o.id.desc())
        )
        return [opportunity_from_row(row) for row in rows]

    def _visibility(self, flt: OpportunityFilter) -> sa.ColumnElement[bool]:
        o = t.opportunities.c
        if flt.open_only:
            return o.status == OpportunityStatus.OPEN.value
        public = o.status.in_(PUBLIC_STATUSES)
        if flt.insider_of:
            return sa.or_(public, o.organisation_id.in_(list(flt.insider_of)))
        return public

    async def search(
        self,
        flt: OpportunityFilter,
        *,
        after: tuple[Any, uuid.UUID] | None,
        limit: int,
        today: date,
    ) -> list[Opportunity]:
        o = t.opportunities.c
        conditions: list[sa.ColumnElement[bool]] = [self._visibility(flt)]
        if flt.kinds:
            conditions.append(o.kind.in_(sorted(k.value for k in flt.kinds)))
        if flt.sector:
            conditions.append(o.sector == flt.sector)
        if flt.country:
            conditions.append(o.country == flt.country)
        if flt.remote is not None:
            conditions.append(o.remote.is_(flt.remote))
        if flt.skills:
            conditions.append(o.skills.overlap(sa.cast(sorted(flt.skills), t.TEXTS)))
        if flt.organisation_id:
            conditions.append(o.organisation_id == flt.organisation_id)
        if flt.closing_by is not None:
            conditions += [
                o.status == OpportunityStatus.OPEN.value,
                o.deadline.is_not(None),
                o.deadline >= today,
                o.deadline <= flt.closing_by,
            ]
            order = [o.deadline.asc(), o.id.asc()]
            if after is not None:
                conditions.append(sa.tuple_(o.deadline, o.id) > sa.tuple_(*after))
        else:
            order = [o.listed_at.desc(), o.id.desc()]
            if after is not None:
                conditions.append(sa.tuple_(o.listed_at, o.id) < sa.tuple_(*after))
        rows = await self.conn.execute(
            sa.select(t.opportunities).where(*conditions).order_by(*order).limit(limit)
        )
        return [opportunity_from_row(row) for row in rows]

    async def close_expired(
        self, today: date, now: datetime, limit: int = 500
    ) -> list[Opportunity]:
        """Close open opportunities whose deadline has passed (rows others hold are skipped
        and caught on the next sweep)."""
        o = t.opportunities.c
        due = (
            sa.select(o.id)
            .where(o.status == OpportunityStatus.OPEN.value, o.deadline < today)
            .order_by(o.deadline, o.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        rows = await self.conn.execute(
            t.opportunities.update()
            .where(o.id.in_(due))
            .values(status=OpportunityStatus.CLOSED.value, closed_at=now, updated_at=now)
            .returning(*t.opportunities.c)
        )
        return [opportunity_from_row(row) for row in rows]

    async def withdraw_for_organisation(
        self, organisation_id: uuid.UUID, now: datetime
    ) -> list[tuple[Opportunity, OpportunityStatus]]:
        """Withdraw every draft and open posting of a removed organisation."""
        o = t.opportunities.c
        rows = (
            await self.conn.execute(
                sa.select(o.id, o.status)
                .where(
                    o.organisation_id == organisation_id,
                    o.status.in_([OpportunityStatus.DRAFT.value, OpportunityStatus.OPEN.value]),
                )
                .with_for_update()
            )
        ).all()
        if not rows:
            return []
        before = {row.id: OpportunityStatus(row.status) for row in rows}
        updated = await self.conn.execute(
            t.opportunities.update()
            .where(o.id.in_(list(before)))
            .values(status=OpportunityStatus.WITHDRAWN.value, closed_at=now, updated_at=now)
            .returning(*t.opportunities.c)
        )
        return [(opportunity_from_row(row), before[row.id]) for row in updated]

    async def recommended(
        self, profile: MemberProfile, *, today: date, limit: int
    ) -> list[tuple[Opportunity, int]]:
        """Open opportunities ranked by skill overlap (then sector and investor fit), then
        recency: the SQL form of ``match_score``.

        The overlap is counted per member skill: one lookup in the open-postings GIN index per
        skill, grouped by posting, so no posting's array is unnested.
        """
        o = t.opportunities.c
        bonus: sa.ColumnElement[Any] = (
            sa.case((o.sector == profile.sector, 1), else_=0) if profile.sector else sa.literal(0)
        )
        if profile.investor:
            bonus = bonus + sa.case((o.kind == OpportunityKind.INVESTMENT.value, 1), else_=0)
        still_open = (
            o.status == OpportunityStatus.OPEN.value,
            sa.or_(o.deadline.is_(None), o.deadline >= today),
        )
        if profile.skills:
            tag = (
                sa.func.unnest(sa.cast(sorted(profile.skills), t.TEXTS))
                .table_valued("tag")
                .render_derived(name="member_skill")
            )
            # Grouped by the primary key, so the posting's own columns come along without a
            # second pass over the table.
            score = (sa.func.count() * 10 + bonus).label("score")
            query = (
                sa.select(t.opportunities, score)
                .select_from(tag.join(t.opportunities, o.skills.contains(pg_array([tag.c.tag]))))
                .where(*still_open)
                .group_by(o.id)
            )
        else:
            # No skills yet: sector and investor fit alone.
            candidates: list[sa.ColumnElement[bool]] = []
            if profile.sector:
                candidates.append(o.sector == profile.sector)
            if profile.investor:
                candidates.append(o.kind == OpportunityKind.INVESTMENT.value)
            if not candidates:
                return []
            score = bonus.label("score")
            query = sa.select(t.opportunities, score).where(*still_open, sa.or_(*candidates))
        rows = await self.conn.execute(
            query.order_by(score.desc(), o.published_at.desc(), o.id.desc()).limit(limit)
        )
        return [(opportunity_from_row(row), int(row.score)) for row in rows]

    async def recommended_for(
        self, member_id: uuid.UUID, *, today: date, limit: int
    ) -> list[tuple[Opportunity, int]]:
        """``recommended`` in one round trip, reading the member's skills from the projection
        in the same statement; empty when the member has no skills (or no profile)."""
        o, p = t.opportunities.c, t.member_profiles.c
        tag = sa.func.unnest(p.skills).table_valued("tag").render_derived(name="member_skill")
        bonus = sa.case((o.sector == p.sector, 1), else_=0) + sa.case(
            (sa.and_(p.investor, o.kind == OpportunityKind.INVESTMENT.value), 1), else_=0
        )
        score = (sa.func.count() * 10 + bonus).label("score")
        query = (
            sa.select(t.opportunities, score)
            .select_from(
                t.member_profiles.join(tag, sa.true()).join(
                    t.opportunities, o.skills.contains(pg_array([tag.c.tag]))
                )
            )
            .where(
                p.member_id == member_id,
                o.status == OpportunityStatus.OPEN.value,
                sa.or_(o.deadline.is_(None), o.deadline >= today),
            )
            .group_by(o.id, p.sector, p.investor)
            .order_by(score.desc(), o.published_at.desc(), o.id.desc())
            .limit(limit)
        )
        rows = await self.conn.execute(query)
        return [(opportunity_from_row(row), int(row.score)) for row in rows]

    async def matching_member_counts(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        """Members in the projection sharing at least one skill with each opportunity."""
        if not ids:
            return {}
        o, m = t.opportunities.c, t.member_profiles.c
        count = (
            sa.select(sa.func.count())
            .select_from(t.member_profiles)
            .where(m.skills.overlap(o.skills))
            .scalar_subquery()
        )
        rows = await self.conn.execute(sa.select(o.id, count).where(o.id.in_(list(set(ids)))))
        return {row[0]: int(row[1]) for row in rows}


class ApplicationRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add_if_new(self, app: Application) -> bool:
        """Insert unless this member already applied (the unique key decides, even under
        concurrency); False when they had."""
        inserted = await self.conn.execute(
            pg_insert(t.applications)
            .values(
                id=app.id,
                opportunity_id=app.opportunity_id,
                applicant_id=app.applicant_id,
                message=app.message,
                links=list(app.links),
                status=app.status.value,
                history=_history_json(app),
                submitted_at=app.submitted_at,
                updated_at=app.submitted_at,
            )
            .on_conflict_do_nothing(
                index_elements=[t.applications.c.opportunity_id, t.applications.c.applicant_id]
            )
            .returning(t.applications.c.id)
        )
        return inserted.first() is not None

    async def save(self, app: Application, now: datetime) -> None:
        await self.conn.execute(
            t.applications.update()
            .where(t.applications.c.id == app.id)
            .values(status=app.status.value, history=_history_json(app), updated_at=now)
        )

    async def get(
        self, application_id: uuid.UUID, *, for_update: bool = False
    ) -> Application | None:
        query = sa.select(t.applications).where(t.applications.c.id == application_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.conn.execute(query)).first()
        return None if row is None else application_from_row(row)

    async def get_many(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Application]:
        if not ids:
            return {}
        rows = await self.conn.execute(
            sa.select(t.applications).where(t.applications.c.id.in_(list(set(ids))))
        )
        return {row.id: application_from_row(row) for row in rows}

    async def page(
        self,
        *,
        applicant_id: uuid.UUID | None = None,
        opportunity_id: uuid.UUID | None = None,
        after: tuple[Any, uuid.UUID] | None,
        limit: int,
    ) -> list[Application]:
        a = t.applications.c
        conditions: list[sa.ColumnElement[bool]] = []
        if applicant_id is not None:
            conditions.append(a.applicant_id == applicant_id)
        if opportunity_id is not None:
            conditions.append(a.opportunity_id == opportunity_id)
        if after is not None:
            conditions.append(sa.tuple_(a.submitted_at, a.id) < sa.tuple_(*after))
        rows = await self.conn.execute(
            sa.select(t.applications)
            .where(*conditions)
            .order_by(a.submitted_at.desc(), a.id.desc())
            .limit(limit)
        )
        return [application_from_row(row) for row in rows]

    async def of_applicant(self, applicant_id: uuid.UUID) -> list[Application]:
        """Every application of a member, newest first."""
        a = t.applications.c
        rows = await self.conn.execute(
            sa.select(t.applications)
            .where(a.applicant_id == applicant_id)
            .order_by(a.submitted_at.desc(), a.id.desc())
        )
        return [application_from_row(row) for row in rows]

    async def of_member_for(
        self, applicant_id: uuid.UUID, opportunity_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, Application]:
        if not opportunity_ids:
            return {}
        a = t.applications.c
        rows = await self.conn.execute(
            sa.select(t.applications).where(
                a.applicant_id == applicant_id, a.opportunity_id.in_(list(set(opportunity_ids)))
            )
        )
        return {row.opportunity_id: application_from_row(row) for row in rows}

    async def scrub_applicant(self, applicant_id: uuid.UUID, now: datetime) -> int:
        """Erasure: the free text goes; the fact of the application stays for the poster."""
        result = await self.conn.execute(
            t.applications.update()
            .where(t.applications.c.applicant_id == applicant_id)
            .values(message=None, links=[], updated_at=now)
        )
        return int(result.rowcount)


@dataclass(frozen=True, slots=True)
class SavedSearch:
    id: uuid.UUID
    member_id: uuid.UUID
    name: str
    criteria: SearchCriteria
    created_at: datetime


def _saved_search(row: Any) -> SavedSearch:
    return SavedSearch(
        id=row.id,
        member_id=row.member_id,
        name=row.name,
        criteria=SearchCriteria(
            kinds=frozenset(OpportunityKind(k) for k in row.kinds),
            sector=row.sector,
            country=row.country,
            remote=row.remote,
            skills=frozenset(row.skills),
        ),
        created_at=row.created_at,
    )


class SavedSearchRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, search: SavedSearch) -> None:
        c = search.criteria
        await self.conn.execute(
            t.saved_searches.insert().values(
                id=search.id,
                member_id=search.member_id,
                name=search.name,
                kinds=sorted(k.value for k in c.kinds),
                sector=c.sector,
                country=c.country,
                remote=c.remote,
                skills=sorted(c.skills),
                created_at=search.created_at,
            )
        )

    async def count_for(self, member_id: uuid.UUID) -> int:
        return int(
            (
                await self.conn.execute(
                    sa.select(sa.func.count()).where(t.saved_searches.c.member_id == member_id)
                )
            ).scalar_one()
        )

    async def delete(self, search_id: uuid.UUID, member_id: uuid.UUID) -> bool:
        s = t.saved_searches.c
        result = await self.conn.execute(
            t.saved_searches.delete().where(s.id == search_id, s.member_id == member_id)
        )
        return bool(result.rowcount)

    async def delete_for_member(self, member_id: uuid.UUID) -> None:
        await self.conn.execute(
            t.saved_searches.delete().where(t.saved_searches.c.member_id == member_id)
        )

    async def for_member(self, member_id: uuid.UUID) -> list[SavedSearch]:
        s = t.saved_searches.c
        rows = await self.conn.execute(
            sa.select(t.saved_searches)
            .where(s.member_id == member_id)
            .order_by(s.created_at.desc(), s.id)
        )
        return [_saved_search(row) for row in rows]

    async def matching(self, details: OpportunityDetails) -> list[SavedSearch]:
        """Saved searches a new opportunity satisfies (the SQL form of ``SearchCriteria.matches``)."""
        s = t.saved_searches.c
        loc = details.location
        conditions: list[sa.ColumnElement[bool]] = [
            sa.or_(
                s.kinds == sa.cast([], t.TEXTS), sa.literal(details.kind.value) == sa.any_(s.kinds)
            ),
            sa.or_(s.sector.is_(None), s.sector == details.sector),
            sa.or_(s.country.is_(None), s.country == loc.country),
            sa.or_(s.remote.is_(None), s.remote.is_(loc.remote)),
            sa.or_(
                s.skills == sa.cast([], t.TEXTS),
                s.skills.overlap(sa.cast(list(details.skills), t.TEXTS)),
            ),
        ]
        rows = await self.conn.execute(
            sa.select(t.saved_searches).where(*conditions).order_by(s.member_id, s.created_at)
        )
        found = [_saved_search(row) for row in rows]
        # The SQL narrows; the domain rule decides.
        return [search for search in found if search.criteria.matches(details)]


@dataclass(frozen=True, slots=True)
class StoredProfile:
    """A member projection row as held, with what matching does not use."""

    profile: MemberProfile
    languages: tuple[str, ...]
    as_of: datetime


class ProjectionRepository:
    """The member and organisation projections fed by the members service's events."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    # ----- who may post

    async def official_of(self, member_id: uuid.UUID) -> frozenset[uuid.UUID]:
        rows = await self.conn.execute(
            sa.select(t.organisation_officials.c.organisation_id).where(
                t.organisation_officials.c.member_id == member_id
            )
        )
        return frozenset(rows.scalars())

    async def roles_of(self, member_id: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
        """(organisation, role) for every organisation the member is an official of."""
        oo = t.organisation_officials.c
        rows = await self.conn.execute(
            sa.select(oo.organisation_id, oo.role)
            .where(oo.member_id == member_id)
            .order_by(oo.organisation_id)
        )
        return [(row.organisation_id, row.role) for row in rows]

    async def verified(self, organisation_ids: Iterable[uuid.UUID]) -> frozenset[uuid.UUID]:
        ids = list(set(organisation_ids))
        if not ids:
            return frozenset()
        o = t.organisations.c
        rows = await self.conn.execute(
            sa.select(o.id).where(o.id.in_(ids), o.verified.is_(True), o.removed.is_(False))
        )
        return frozenset(rows.scalars())

    async def officials(self, organisation_id: uuid.UUID) -> frozenset[uuid.UUID]:
        rows = await self.conn.execute(
            sa.select(t.organisation_officials.c.member_id).where(
                t.organisation_officials.c.organisation_id == organisation_id
            )
        )
        return frozenset(rows.scalars())

    async def set_organisation(
        self, organisation_id: uuid.UUID, *, verified: bool, at: datetime, removed: bool = False
    ) -> None:
        stmt = pg_insert(t.organisations).values(
            id=organisation_id, verified=verified, removed=removed, updated_at=at
        )
        await self.conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[t.organisations.c.id],
                set_={
                    "verified": stmt.excluded.verified,
                    # Removal is final.
                    "removed": t.organisations.c.removed | stmt.excluded.removed,
                    "updated_at": stmt.excluded.updated_at,
                },
            )
        )

    async def set_official(
        self, organisation_id: uuid.UUID, member_id: uuid.UUID, role: str | None
    ) -> None:
        """``role`` OWNER or ADMIN makes the member an official; anything else removes them."""
        oo = t.organisation_officials.c
        if role in ("OWNER", "ADMIN"):
            stmt = pg_insert(t.organisation_officials).values(
                organisation_id=organisation_id, member_id=member_id, role=role
            )
            await self.conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[oo.organisation_id, oo.member_id],
                    set_={"role": stmt.excluded.role},
                )
            )
        else:
            await self.conn.execute(
                t.organisation_officials.delete().where(
                    oo.organisation_id == organisation_id, oo.member_id == member_id
                )
            )

    async def remove_officials(
        self, *, organisation_id: uuid.UUID | None = None, member_id: uuid.UUID | None = None
    ) -> None:
        oo = t.organisation_officials.c
        stmt = t.organisation_officials.delete()
        if organisation_id is not None:
            stmt = stmt.where(oo.organisation_id == organisation_id)
        if member_id is not None:
            stmt = stmt.where(oo.member_id == member_id)
        await self.conn.execute(stmt)

    # ----- members

    async def is_erased(self, member_id: uuid.UUID) -> bool:
        row = await self.conn.execute(
            sa.select(t.erased_members.c.member_id).where(t.erased_members.c.member_id == member_id)
        )
        return row.first() is not None

    async def erased_at(self, member_id: uuid.UUID) -> datetime | None:
        e = t.erased_members.c
        return (
            await self.conn.execute(sa.select(e.erased_at).where(e.member_id == member_id))
        ).scalar_one_or_none()

    async def stored_profile(self, member_id: uuid.UUID) -> StoredProfile | None:
        row = (
            await self.conn.execute(
                sa.select(t.member_profiles).where(t.member_profiles.c.member_id == member_id)
            )
        ).first()
        if row is None:
            return None
        profile = MemberProfile(
            member_id=row.member_id,
            skills=frozenset(row.skills),
            sector=row.sector,
            country=row.country,
            mentor=row.mentor,
            investor=row.investor,
        )
        return StoredProfile(profile, tuple(row.languages), row.as_of)

    async def profile(self, member_id: uuid.UUID) -> MemberProfile | None:
        stored = await self.stored_profile(member_id)
        return None if stored is None else stored.profile

    async def upsert_profile(
        self, profile: MemberProfile, languages: Sequence[str], as_of: datetime
    ) -> bool:
        """Apply a profile unless a newer one is already here; False when it was older."""
        stmt = pg_insert(t.member_profiles).values(
            member_id=profile.member_id,
            skills=sorted(profile.skills),
            sector=profile.sector,
            country=profile.country,
            languages=list(languages),
            mentor=profile.mentor,
            investor=profile.investor,
            as_of=as_of,
        )
        result = await self.conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[t.member_profiles.c.member_id],
                set_={
                    name: stmt.excluded[name]
                    for name in (
                        "skills",
                        "sector",
                        "country",
                        "languages",
                        "mentor",
                        "investor",
                        "as_of",
                    )
                },
                where=t.member_profiles.c.as_of <= stmt.excluded.as_of,
            ).returning(t.member_profiles.c.member_id)
        )
        return result.first() is not None

    async def register(self, member_id: uuid.UUID, country: str | None, at: datetime) -> None:
        """A new member: known country, no skills yet (a later profile update fills them)."""
        await self.conn.execute(
            pg_insert(t.member_profiles)
            .values(member_id=member_id, country=country, as_of=at)
            .on_conflict_do_nothing(index_elements=[t.member_profiles.c.member_id])
        )

    async def erase(self, member_id: uuid.UUID, at: datetime) -> None:
        await self.conn.execute(
            t.member_profiles.delete().where(t.member_profiles.c.member_id == member_id)
        )
        await self.conn.execute(
            pg_insert(t.erased_members)
            .values(member_id=member_id, erased_at=at)
            .on_conflict_do_nothing(index_elements=[t.erased_members.c.member_id])
        )
