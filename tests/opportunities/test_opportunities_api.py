"""The opportunities API on a real PostgreSQL: every mutation and query, permissions, deadlines,
duplicate applications (also concurrent), bad inputs with clear codes."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from opportunities_gql import (
    APPLICATION,
    APPLY,
    CLOSE,
    CREATE,
    INTEREST,
    OPPORTUNITY,
    PUBLISH,
    REVIEW,
    SEARCH,
    UPDATE,
    WITHDRAW,
    WITHDRAW_APPLICATION,
    Member,
    data,
    error_code,
    error_field,
    gql,
    investment_input,
    job_input,
    make_official,
    posted,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from kopano.auth import TokenIssuer
from opportunities.adapters import tables as t
from opportunities.adapters.repository import ProjectionRepository
from opportunities.domain.model import MemberProfile

pytestmark = pytest.mark.integration


def engine_of(app: Starlette) -> AsyncEngine:
    engine: AsyncEngine = app.state.opportunities.engine
    return engine


async def outbox_types(engine: AsyncEngine, subject: str) -> list[tuple[str, dict[str, Any]]]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(t.outbox.c.type, t.outbox.c.payload)
                .where(t.outbox.c.key == subject)
                .order_by(t.outbox.c.id)
            )
        ).all()
    return [(row.type, orjson.loads(row.payload)) for row in rows]


async def test_an_official_of_a_verified_organisation_drafts_and_publishes(
    app: Starlette, client: httpx.AsyncClient, member: Member
) -> None:
    org = await make_official(engine_of(app), member)
    created = data(await gql(client, CREATE, {"input": job_input(org)}, token=member.token))[
        "createOpportunity"
    ]
    assert created["status"] == "DRAFT"
    assert created["skills"] == ["python", "sql", "data-engineering"]
    assert created["job"]["salaryMin"] == {
        "amount": "2500000",
        "currency": "LSL",
        "formatted": "25000.00 LSL",
    }
    assert created["organisation"] == {"id": str(org)}
    # A draft is the organisation's business only.
    assert data(await gql(client, OPPORTUNITY, {"id": created["id"]}))["opportunity"] is None

    published = data(await gql(client, PUBLISH, {"id": created["id"]}, token=member.token))
    assert published["publishOpportunity"]["status"] == "OPEN"
    seen = data(await gql(client, OPPORTUNITY, {"id": created["id"]}))["opportunity"]
    assert seen["acceptingApplications"] is True
    events = await outbox_types(engine_of(app), created["id"])
    assert [e[0] for e in events] == ["opportunity.published"]
    assert events[0][1]["skills"] == ["python", "sql", "data-engineering"]
    # Publishing twice is a conflict.
    again = await gql(client, PUBLISH, {"id": created["id"]}, token=member.token)
    assert error_code(again) == "CONFLICT"


async def test_investments_carry_money_and_take_expressions_of_interest(
    app: Starlette, client: httpx.AsyncClient, member: Member, issuer: TokenIssuer
) -> None:
    org = await make_official(engine_of(app), member)
    opp = await posted(client, member, investment_input(org))
    seen = data(await gql(client, OPPORTUNITY, {"id": opp["id"]}))["opportunity"]
    assert seen["investment"]["amountSought"]["formatted"] == "5000000.00 LSL"
    assert seen["sector"] == "ENERGY"
    assert seen["takesApplications"] is False
    investor = Member(issuer)
    wrong = await gql(client, APPLY, {"id": opp["id"], "message": "hi"}, token=investor.token)
    assert error_code(wrong) == "BAD_USER_INPUT"
    assert error_field(wrong) == "opportunityId"
    ok = data(
        await gql(
            client, INTEREST, {"id": opp["id"], "message": "I can invest."}, token=investor.token
        )
    )
    assert ok["expressInterest"]["status"] == "SUBMITTED"


async def test_a_member_of_an_unverified_organisation_cannot_post(
    app: Starlette, client: httpx.AsyncClient, member: Member, issuer: TokenIssuer
) -> None:
    org = await make_official(engine_of(app), member, verified=False)
    body = await gql(client, CREATE, {"input": job_input(org)}, token=member.token)
    assert error_code(body) == "FORBIDDEN"
    assert "verified" in body["errors"][0]["message"]
    # Nor can a plain member of a verified one, nor an anonymous caller.
    verified = await make_official(engine_of(app), Member(issuer))
    stranger = await gql(client, CREATE, {"input": job_input(verified)}, token=member.token)
    assert error_code(stranger) == "FORBIDDEN"
    anonymous = await gql(client, CREATE, {"input": job_input(verified)})
    assert error_code(anonymous) == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": "  "}, "title"),
        ({"location": {"remote": False}}, "location.country"),
        ({"location": {"country": "XX"}}, "location.country"),
        ({"job": None}, "job"),
        ({"kind": "TENDER", "job": None}, "deadline"),
        ({"deadline": "2020-01-01"}, "deadline"),
        ({"languages": ["english"]}, "languages"),
        ({"sector": "finance & more"}, "sector"),
        (
            {
                "job": {
                    "employmentType": "FULL_TIME",
                    "salaryMin": {"amount": "-5", "currency": "LSL"},
                }
            },
            "job.salaryMin",
        ),
        (
            {
                "job": {
                    "employmentType": "FULL_TIME",
                    "salaryMin": {"amount": "5", "currency": "XYZ"},
                }
            },
            "currency",
        ),
        (
            {
                "job": {
                    "employmentType": "FULL_TIME",
                    "salaryMin": {"amount": "500", "currency": "LSL"},
                    "salaryMax": {"amount": "400", "currency": "LSL"},
                }
            },
            "job.salaryMax",
        ),
    ],
)
async def test_bad_postings_are_refused_with_the_field(
    app: Starlette,
    client: httpx.AsyncClient,
    member: Member,
    overrides: dict[str, Any],
    field: str,
) -> None:
    org = await make_official(engine_of(app), member)
    payload = job_input(org, **overrides)
    if overrides.get("kind") == "TENDER":
        payload.pop("deadline")
    body = await gql(client, CREATE, {"input": payload}, token=member.token)
    assert error_code(body) == "BAD_USER_INPUT"
    assert error_field(body) == field


async def test_update_close_and_withdraw(
    app: Starlette, client: httpx.AsyncClient, member: Member, issuer: TokenIssuer
) -> None:
    org = await make_official(engine_of(app), member)
    opp = await posted(client, member, job_input(org))
    content = job_input(org, title="Senior data engineer")
    for key in ("kind", "organisationId"):
        content.pop(key)
    updated = data(
        await gql(client, UPDATE, {"id": opp["id"], "input": content}, token=member.token)
    )
    assert updated["updateOpportunity"]["title"] == "Senior data engineer"
    outsider = await gql(
        client, UPDATE, {"id": opp["id"], "input": content}, token=Member(issuer).token
    )
    assert error_code(outsider) == "FORBIDDEN"

    closed = data(await gql(client, CLOSE, {"id": opp["id"]}, token=member.token))[
        "closeOpportunity"
    ]
    assert closed["status"] == "CLOSED"
    assert (
        error_code(
            await gql(client, UPDATE, {"id": opp["id"], "input": content}, token=member.token)
        )
        == "CONFLICT"
    )
    assert (
        error_code(await gql(client, WITHDRAW, {"id": opp["id"]}, token=member.token)) == "CONFLICT"
    )
    events = await outbox_types(engine_of(app), opp["id"])
    assert [e[0] for e in events] == ["opportunity.published", "opportunity.closed"]
    assert events[1][1]["reason"] == "closed"

    draft = await posted(client, member, job_input(org), publish=False)
    withdrawn = data(await gql(client, WITHDRAW, {"id": draft["id"]}, token=member.token))
    assert withdrawn["withdrawOpportunity"]["status"] == "WITHDRAWN"
    assert await outbox_types(engine_of(app), draft["id"]) == []  # never announced


async def test_apply_once_review_and_who_sees_what(
    app: Starlette, client: httpx.AsyncClient, member: Member, issuer: TokenIssuer
) -> None:
    org = await make_official(engine_of(app), member)
    opp = await posted(client, member, job_input(org))
    alice, bob = Member(issuer), Member(issuer)
    a = data(
        await gql(
            client,
            APPLY,
            {
                "id": opp["id"],
                "message": "  I build pipelines. ",
                "links": ["https://example.org/cv"],
            },
            token=alice.token,
        )
    )["apply"]
    assert a["message"] == "I build pipelines."
    assert a["applicant"] == {"id": str(alice.id)}
    again = await gql(client, APPLY, {"id": opp["id"], "message": "again"}, token=alice.token)
    assert error_code(again) == "CONFLICT"

    # Only the applicant and the organisation's officials see it.
    assert (
        data(await gql(client, APPLICATION, {"id": a["id"]}, token=alice.token))["application"][
            "id"
        ]
        == a["id"]
    )
    assert (
        data(await gql(client, APPLICATION, {"id": a["id"]}, token=member.token))["application"][
            "id"
        ]
        == a["id"]
    )
    assert (
        data(await gql(client, APPLICATION, {"id": a["id"]}, token=bob.token))["application"]
        is None
    )

    # Only officials review; the applicant cannot review themselves.
    assert (
        error_code(await gql(client, REVIEW, {"id": a["id"], "d": "ACCEPTED"}, token=alice.token))
        == "FORBIDDEN"
    )
    assert (
        error_code(await gql(client, REVIEW, {"id": a["id"], "d": "ACCEPTED"}, token=bob.token))
        == "NOT_FOUND"
    )
    shortlisted = data(
        await gql(client, REVIEW, {"id": a["id"], "d": "SHORTLISTED"}, token=member.token)
    )
    assert shortlisted["reviewApplication"]["status"] == "SHORTLISTED"
    accepted = data(await gql(client, REVIEW, {"id": a["id"], "d": "ACCEPTED"}, token=member.token))
    assert [h["status"] for h in accepted["reviewApplication"]["history"]] == [
        "SUBMITTED",
        "SHORTLISTED",
        "ACCEPTED",
    ]
    assert (
        error_code(await gql(client, REVIEW, {"id": a["id"], "d": "REJECTED"}, token=member.token))
        == "CONFLICT"
    )
    # The applicant sees each change.
    mine = data(await gql(client, APPLICATION, {"id": a["id"]}, token=alice.token))["application"]
    assert mine["status"] == "ACCEPTED"
    events = await outbox_types(engine_of(app), a["id"])
    assert [e[0] for e in events] == [
        "application.submitted",
        "application.status_changed",
        "application.status_changed",
    ]
    assert events[2][1]["from"] == "SHORTLISTED"
    assert events[2][1]["to"] == "ACCEPTED"
    assert "message" not in events[0][1]

    # Officials list the applications; others get null.
    listing = """query L($id: ID!) { opportunity(id: $id) { applications { nodes { id } } myApplication { id } } }"""
    official_view = data(await gql(client, listing, {"id": opp["id"]}, token=member.token))[
        "opportunity"
    ]
    assert [n["id"] for n in official_view["applications"]["nodes"]] == [a["id"]]
    alice_view = data(await gql(client, listing, {"id": opp["id"]}, token=alice.token))[
        "opportunity"
    ]
    assert alice_view["applications"] is None
    assert alice_view["myApplication"] == {"id": a["id"]}

    # An official cannot apply to their own organisation's posting.
    assert (
        error_code(await gql(client, APPLY, {"id": opp["id"], "message": "me"}, token=member.token))
        == "FORBIDDEN"
    )


async def test_withdraw_an_application_only_while_open(
    app: Starlette, client: httpx.AsyncClient, member: Member, issuer: TokenIssuer
) -> None:
    org = await make_official(engine_of(app), member)
    opp = await posted(client, member, job_input(org))
    alice, bob = Member(issuer), Member(issuer)
    a = data(await gql(client, APPLY, {"id": opp["id"], "message": "hello"}, token=alice.token))[
        "apply"
    ]
    b = data(await gql(client, APPLY, {"id": opp["id"], "message": "hello"}, token=bob.token))[
        "apply"
    ]
    assert (
        error_code(await gql(client, WITHDRAW_APPLICATION, {"id": a["id"]}, token=bob.token))
        == "NOT_FOUND"
    )
    done = data(await gql(client, WITHDRAW_APPLICATION, {"id": a["id"]}, token=alice.token))
    assert done["withdrawApplication"]["status"] == "WITHDRAWN"
    data(await gql(client, CLOSE, {"id": opp["id"]}, token=member.token))
    late = await gql(client, WITHDRAW_APPLICATION, {"id": b["id"]}, token=bob.token)
    assert error_code(late) == "CONFLICT"


async def test_closing_and_deadlines_stop_new_applications(
    app: Starlette, client: httpx.AsyncClient, member: Member, issuer: TokenIssuer
) -> None:
    engine = engine_of(app)
    org = await make_official(engine, member)
    opp = await posted(client, member, job_input(org))
    data(await gql(client, CLOSE, {"id": opp["id"]}, token=member.token))
    closed = await gql(
        client, APPLY, {"id": opp["id"], "message": "late"}, token=Member(issuer).token
    )
    assert error_code(closed) == "CONFLICT"

    # A deadline that has passed refuses applications even before the sweep closes it.
    expiring = await posted(client, member, job_input(org))
    async with engine.begin() as conn:
        await conn.execute(
            t.opportunities.update()
            .where(t.opportunities.c.id == uuid.UUID(expiring["id"]))
            .values(deadline=date.today() - timedelta(days=1))
        )
    body = await gql(
        client, APPLY, {"id": expiring["id"], "message": "late"}, token=Member(issuer).token
    )
    assert error_code(body) == "CONFLICT"
    service = app.state.opportunities.service
    assert await service.close_expired() >= 1
    seen = data(await gql(client, OPPORTUNITY, {"id": expiring["id"]}))["opportunity"]
    assert seen["status"] == "CLOSED"
    events = await outbox_types(engine, expiring["id"])
    assert events[-1][0] == "opportunity.closed"
    assert events[-1][1]["reason"] == "deadline"


async def test_concurrent_duplicate_applications_make_one(
    app: Starlette, client: httpx.AsyncClient, member: Member, issuer: TokenIssuer
) -> None:
    org = await make_official(engine_of(app), member)
    opp = await posted(client, member, job_input(org))
    alice = Member(issuer)
    bodies = await asyncio.gather(
        *[
            gql(client, APPLY, {"id": opp["id"], "message": f"try {i}"}, token=alice.token)
            for i in range(6)
        ]
    )
    assert sum(1 for b in bodies if not b.get("errors")) == 1
    assert {error_code(b) for b in bodies if b.get("errors")} == {"CONFLICT"}
    async with engine_of(app).connect() as conn:
        count = (
            await conn.execute(
                sa.select(sa.func.count()).where(
                    t.applications.c.opportunity_id == uuid.UUID(opp["id"])
                )
            )
        ).scalar_one()
    assert count == 1


async def test_closing_while_applications_race_is_atomic(
    app: Starlette, client: httpx.AsyncClient, member: Member, issuer: TokenIssuer
) -> None:
    org = await make_official(engine_of(app), member)
    opp = await posted(client, member, job_input(org))
    applicants = [Member(issuer) for _ in range(6)]
    results = await asyncio.gather(
        *[
            gql(client, APPLY, {"id": opp["id"], "message": "me"}, token=a.token)
            for a in applicants[:3]
        ],
        gql(client, CLOSE, {"id": opp["id"]}, token=member.token),
        *[
            gql(client, APPLY, {"id": opp["id"], "message": "me"}, token=a.token)
            for a in applicants[3:]
        ],
    )
    assert data(results[3])["closeOpportunity"]["status"] == "CLOSED"
    async with engine_of(app).connect() as conn:
        stored = (
            (
                await conn.execute(
                    sa.select(t.applications.c.applicant_id).where(
                        t.applications.c.opportunity_id == uuid.UUID(opp["id"])
                    )
                )
            )
            .scalars()
            .all()
        )
    # Each application either got in before the close (and is stored) or was refused as
    # closed: none is stored without a success, none succeeded without being stored.
    others = results[:3] + results[4:]
    succeeded = {str(a.id) for a, r in zip(applicants, others, strict=True) if not r.get("errors")}
    assert {str(i) for i in stored} == succeeded
    assert {error_code(r) for r in others if r.get("errors")} <= {"CONFLICT"}
    late = await gql(client, APPLY, {"id": opp["id"], "message": "me"}, token=Member(issuer).token)
    assert error_code(late) == "CONFLICT"


async def test_search_filters_and_stable_cursor_pages(
    app: Starlette, client: httpx.AsyncClient, member: Member
) -> None:
    org = await make_official(engine_of(app), member)
    tag = f"tag{uuid.uuid4().hex[:8]}"
    ids = []
    for i in range(5):
        opp = await posted(
            client,
            member,
            job_input(
                org,
                title=f"Role {i}",
                skills=[tag, "python"],
                deadline=(date.today() + timedelta(days=2 + i * 10)).isoformat(),
                location={"country": "ZA" if i % 2 else "LS", "remote": i == 4},
            ),
        )
        ids.append(opp["id"])
    await posted(client, member, investment_input(org, skills=[tag]))
    draft = await posted(client, member, job_input(org, skills=[tag]), publish=False)

    async def page(filter_: dict[str, Any], first: int = 2) -> list[str]:
        seen: list[str] = []
        after = None
        while True:
            body = data(
                await gql(client, SEARCH, {"filter": filter_, "first": first, "after": after})
            )
            conn = body["opportunities"]
            seen += [e["node"]["id"] for e in conn["edges"]]
            if not conn["pageInfo"]["hasNextPage"]:
                return seen
            after = conn["pageInfo"]["endCursor"]

    jobs = await page({"skills": [tag], "kinds": ["JOB"]})
    assert jobs == list(reversed(ids))  # newest first, across pages, no repeats
    assert draft["id"] not in await page({"skills": [tag]})
    assert await page({"skills": [tag], "country": "ZA"}) == [ids[3], ids[1]]
    assert await page({"skills": [tag], "remote": True}) == [ids[4]]
    assert len(await page({"skills": [tag], "organisationId": str(org)})) == 6
    assert await page({"skills": [tag], "closingSoon": True, "closingWithinDays": 15}) == ids[:2]
    bad = await gql(client, SEARCH, {"filter": {"country": "QQ"}})
    assert error_code(bad) == "BAD_USER_INPUT"
    bad_cursor = await gql(client, SEARCH, {"after": "garbage"})
    assert error_code(bad_cursor) == "BAD_USER_INPUT"
    too_many = await gql(client, SEARCH, {"first": 1000})
    assert error_field(too_many) == "first"


async def test_saved_searches_raise_matched_events_on_publish(
    app: Starlette, client: httpx.AsyncClient, member: Member, issuer: TokenIssuer
) -> None:
    org = await make_official(engine_of(app), member)
    tag = f"tag{uuid.uuid4().hex[:8]}"
    seeker, other = Member(issuer), Member(issuer)
    save = """mutation S($name: String!, $c: SearchCriteriaInput!) {
      saveSearch(name: $name, criteria: $c) { id name kinds skills country } }"""
    saved = data(
        await gql(
            client,
            save,
            {"name": "Remote data", "c": {"skills": [tag.upper()], "kinds": ["JOB"]}},
            token=seeker.token,
        )
    )["saveSearch"]
    assert saved["skills"] == [tag]
    data(
        await gql(
            client,
            save,
            {"name": "Elsewhere", "c": {"skills": [tag], "country": "US"}},
            token=other.token,
        )
    )
    empty = await gql(client, save, {"name": "All", "c": {}}, token=seeker.token)
    assert error_code(empty) == "BAD_USER_INPUT"

    opp = await posted(client, member, job_input(org, skills=[tag]))
    events = await outbox_types(engine_of(app), str(seeker.id))
    assert [(e[0], e[1]["opportunityId"], e[1]["savedSearchId"]) for e in events] == [
        ("opportunity.matched", opp["id"], saved["id"])
    ]
    assert await outbox_types(engine_of(app), str(other.id)) == []

    mine = data(await gql(client, "{ mySavedSearches { id } }", token=seeker.token))[
        "mySavedSearches"
    ]
    assert [s["id"] for s in mine] == [saved["id"]]
    delete = "mutation D($id: ID!) { deleteSearch(id: $id) }"
    assert (
        error_code(await gql(client, delete, {"id": saved["id"]}, token=other.token)) == "NOT_FOUND"
    )
    assert (
        data(await gql(client, delete, {"id": saved["id"]}, token=seeker.token))["deleteSearch"]
        is True
    )
    assert (
        data(await gql(client, "{ mySavedSearches { id } }", token=seeker.token))["mySavedSearches"]
        == []
    )


ENTITIES = """
query E($reps: [_Any!]!) { _entities(representations: $reps) {
  ... on Member { id recommendedOpportunities(first: 5) { id } applications { nodes { id } } }
  ... on Organisation { id opportunities { nodes { id status } } }
  ... on Opportunity { id title matchingMemberCount }
  ... on Application { id status }
} }
"""


async def test_federation_extensions_are_self_only_and_counts_for_officials(
    app: Starlette, client: httpx.AsyncClient, member: Member, issuer: TokenIssuer
) -> None:
    engine = engine_of(app)
    org = await make_official(engine, member)
    tag = f"tag{uuid.uuid4().hex[:8]}"
    strong = await posted(client, member, job_input(org, skills=[tag, f"{tag}b"]))
    weak = await posted(client, member, job_input(org, skills=[tag]))
    draft = await posted(client, member, job_input(org, skills=[tag]), publish=False)
    seeker, other = Member(issuer), Member(issuer)
    async with engine.begin() as conn:
        repo = ProjectionRepository(conn)
        for who, skills in ((seeker, {tag, f"{tag}b"}), (other, {tag})):
            await repo.upsert_profile(
                MemberProfile(who.id, frozenset(skills), None, "ZA"), [], datetime.now(UTC)
            )
    app_id = data(
        await gql(client, APPLY, {"id": weak["id"], "message": "me"}, token=seeker.token)
    )["apply"]["id"]

    reps = {"reps": [{"__typename": "Member", "id": str(seeker.id)}]}
    own = data(await gql(client, ENTITIES, reps, token=seeker.token))["_entities"][0]
    recommended = [o["id"] for o in own["recommendedOpportunities"]]
    assert recommended[:2] == [strong["id"], weak["id"]]  # more overlap first
    assert draft["id"] not in recommended
    assert [n["id"] for n in own["applications"]["nodes"]] == [app_id]
    peek = data(await gql(client, ENTITIES, reps, token=other.token))["_entities"][0]
    assert peek["recommendedOpportunities"] is None
    assert peek["applications"] is None

    opp_reps = {
        "reps": [
            {"__typename": "Opportunity", "id": strong["id"]},
            {"__typename": "Opportunity", "id": weak["id"]},
        ]
    }
    as_official = data(await gql(client, ENTITIES, opp_reps, token=member.token))["_entities"]
    assert [o["matchingMemberCount"] for o in as_official] == [2, 2]
    as_member = data(await gql(client, ENTITIES, opp_reps, token=seeker.token))["_entities"]
    assert [o["matchingMemberCount"] for o in as_member] == [None, None]

    org_reps = {"reps": [{"__typename": "Organisation", "id": str(org)}]}
    public = data(await gql(client, ENTITIES, org_reps))["_entities"][0]["opportunities"]["nodes"]
    assert draft["id"] not in [n["id"] for n in public]
    inside = data(await gql(client, ENTITIES, org_reps, token=member.token))["_entities"][0][
        "opportunities"
    ]["nodes"]
    assert draft["id"] in [n["id"] for n in inside]

    app_reps = {"reps": [{"__typename": "Application", "id": app_id}]}
    assert data(await gql(client, ENTITIES, app_reps, token=other.token))["_entities"] == [None]
    assert (
        data(await gql(client, ENTITIES, app_reps, token=seeker.token))["_entities"][0]["id"]
        == app_id
    )


async def test_sdl_declares_the_keys_and_shareable_money(client: httpx.AsyncClient) -> None:
    sdl = data(await gql(client, "{ _service { sdl } }"))["_service"]["sdl"]
    for declaration in (
        'type Opportunity @key(fields: "id")',
        'type Application @key(fields: "id")',
        'type Member @key(fields: "id")',
        'type Organisation @key(fields: "id")',
        "type Money @shareable",
    ):
        assert declaration in sdl
