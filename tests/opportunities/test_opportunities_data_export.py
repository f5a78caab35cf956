"""myOpportunitiesData: the caller's applications, saved searches, postings and projection rows,
nobody else's; signed-in only; after member.erased nothing personal is left in it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from opportunities_gql import (
    APPLY,
    INTEREST,
    REVIEW,
    Member,
    data,
    error_code,
    gql,
    investment_input,
    job_input,
    make_official,
    posted,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from kopano.auth import TokenIssuer
from kopano.events import CloudEvent
from opportunities.consumers import ProjectionHandler

pytestmark = pytest.mark.integration

MY_DATA = "{ myOpportunitiesData }"
SAVE = """
mutation S($name: String!, $c: SearchCriteriaInput!) { saveSearch(name: $name, criteria: $c) { id } }
"""
MEMBERS = "/kopano/members"
KINDS = {
    "applications",
    "savedSearches",
    "postedOpportunities",
    "memberProfile",
    "organisationRoles",
    "erasures",
}


def engine_of(app: Starlette) -> AsyncEngine:
    engine: AsyncEngine = app.state.opportunities.engine
    return engine


async def member_event(app: Starlette, kind: str, member: Member, **values: Any) -> None:
    """Feed one members-service event through the projection handler, in its own transaction
    (the consumer's inbox transaction without the broker)."""
    handler = ProjectionHandler(
        event_source="/kopano/opportunities", opportunity_topic="opportunities.opportunity"
    )
    event = CloudEvent.new(kind, MEMBERS, str(member.id), {"memberId": str(member.id), **values})
    async with engine_of(app).begin() as conn:
        await handler(event, conn)


async def profile_updated(app: Starlette, member: Member, skill: str) -> None:
    await member_event(
        app,
        "member.profile_updated",
        member,
        countryOfResidence="ZA",
        sector="FINANCE",
        skills=[skill],
        languages=["en", "st"],
        willingToMentor=True,
        willingToInvest=False,
        updatedAt=datetime.now(UTC).isoformat(),
    )


async def my_data(client: httpx.AsyncClient, member: Member) -> dict[str, Any]:
    document: dict[str, Any] = data(await gql(client, MY_DATA, token=member.token))[
        "myOpportunitiesData"
    ]
    return document


def utc(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    assert at.utcoffset() == timedelta(0)
    return at


async def test_the_caller_gets_every_kind_of_record_and_nobody_elses(
    app: Starlette, client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    poster, seeker, other = Member(issuer), Member(issuer), Member(issuer)
    poster_org = await make_official(engine_of(app), poster)
    seeker_org = await make_official(engine_of(app), seeker)
    job = await posted(client, poster, job_input(poster_org))
    investment = await posted(client, poster, investment_input(poster_org))
    own_posting = await posted(
        client, seeker, job_input(seeker_org, title="Nurse, Mafeteng"), publish=False
    )

    cover_letter = f"cover letter {uuid.uuid4().hex}"
    application = data(
        await gql(
            client,
            APPLY,
            {"id": job["id"], "message": cover_letter, "links": ["https://cv.example/seeker"]},
            token=seeker.token,
        )
    )["apply"]
    data(
        await gql(client, REVIEW, {"id": application["id"], "d": "SHORTLISTED"}, token=poster.token)
    )
    interest = data(
        await gql(
            client, INTEREST, {"id": investment["id"], "message": "I invest"}, token=seeker.token
        )
    )["expressInterest"]
    search = data(
        await gql(
            client,
            SAVE,
            {"name": "jobs at home", "c": {"kinds": ["JOB"], "country": "ls", "skills": ["SQL"]}},
            token=seeker.token,
        )
    )["saveSearch"]
    seeker_skill = f"s{uuid.uuid4().hex[:10]}"
    await profile_updated(app, seeker, seeker_skill)

    # Someone else's records, on the same postings.
    other_letter = f"other letter {uuid.uuid4().hex}"
    data(await gql(client, APPLY, {"id": job["id"], "message": other_letter}, token=other.token))
    data(await gql(client, SAVE, {"name": "others", "c": {"remote": True}}, token=other.token))
    other_skill = f"o{uuid.uuid4().hex[:10]}"
    await profile_updated(app, other, other_skill)

    document = await my_data(client, seeker)
    assert set(document) == {"service", "memberId", "exportedAt", *KINDS}
    assert document["service"] == "opportunities"
    assert document["memberId"] == str(seeker.id)
    generated_at = utc(document["exportedAt"])

    applications = {a["id"]: a for a in document["applications"]}
    assert set(applications) == {application["id"], interest["id"]}
    applied = applications[application["id"]]
    assert applied["opportunityId"] == job["id"]
    assert applied["opportunityKind"] == "JOB"
    assert applied["kind"] == "APPLICATION"
    assert applied["message"] == cover_letter
    assert applied["links"] == ["https://cv.example/seeker"]
    assert applied["status"] == "SHORTLISTED"
    assert [h["status"] for h in applied["history"]] == ["SUBMITTED", "SHORTLISTED"]
    assert utc(applied["submittedAt"]) == utc(applied["history"][0]["at"])
    assert generated_at >= utc(applied["history"][-1]["at"])
    expressed = applications[interest["id"]]
    assert expressed["opportunityKind"] == "INVESTMENT"
    assert expressed["kind"] == "EXPRESSION_OF_INTEREST"
    assert expressed["message"] == "I invest"
    assert expressed["status"] == "SUBMITTED"

    [saved] = document["savedSearches"]
    assert saved["id"] == search["id"]
    assert saved["name"] == "jobs at home"
    assert saved["kinds"] == ["JOB"]
    assert (saved["country"], saved["sector"], saved["remote"]) == ("LS", None, None)
    assert saved["skills"] == ["sql"]
    utc(saved["createdAt"])

    [mine] = document["postedOpportunities"]
    assert mine["id"] == own_posting["id"]
    assert mine["organisationId"] == str(seeker_org)
    assert (mine["kind"], mine["title"], mine["status"]) == ("JOB", "Nurse, Mafeteng", "DRAFT")
    assert mine["publishedAt"] is None

    [profile] = document["memberProfile"]
    assert profile["skills"] == [seeker_skill]
    assert (profile["sector"], profile["country"]) == ("FINANCE", "ZA")
    assert profile["languages"] == ["en", "st"]
    assert (profile["willingToMentor"], profile["willingToInvest"]) == (True, False)
    utc(profile["asOf"])

    assert document["organisationRoles"] == [{"organisationId": str(seeker_org), "role": "OWNER"}]
    assert document["erasures"] == []

    text = orjson.dumps(document).decode()
    for foreign in (str(other.id), str(poster.id), other_letter, other_skill, "others"):
        assert foreign not in text

    # The poster reviews the seeker's application but the cover letter is not the poster's data.
    poster_document = await my_data(client, poster)
    assert poster_document["applications"] == []
    assert {o["id"] for o in poster_document["postedOpportunities"]} == {
        job["id"],
        investment["id"],
    }
    assert all(o["status"] == "OPEN" for o in poster_document["postedOpportunities"])
    assert cover_letter not in orjson.dumps(poster_document).decode()
    assert str(seeker.id) not in orjson.dumps(poster_document).decode()


async def test_a_new_member_gets_the_document_with_empty_lists(
    client: httpx.AsyncClient, member: Member
) -> None:
    document = await my_data(client, member)
    assert document["memberId"] == str(member.id)
    assert all(document[kind] == [] for kind in KINDS)


async def test_signed_in_only(client: httpx.AsyncClient) -> None:
    anonymous = await gql(client, MY_DATA)
    assert error_code(anonymous) == "UNAUTHENTICATED"
    forged = await gql(client, MY_DATA, token="not-a-token")
    assert error_code(forged) == "UNAUTHENTICATED"
    sdl = data(await gql(client, "{ _service { sdl } }"))["_service"]["sdl"]
    assert "myOpportunitiesData: JSON! @authenticated" in sdl


async def test_after_erasure_nothing_personal_remains(
    app: Starlette, client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    poster, seeker = Member(issuer), Member(issuer)
    poster_org = await make_official(engine_of(app), poster)
    seeker_org = await make_official(engine_of(app), seeker)
    job = await posted(client, poster, job_input(poster_org))
    own_posting = await posted(client, seeker, job_input(seeker_org), publish=False)
    cover_letter = f"private words {uuid.uuid4().hex}"
    link = f"https://cv.example/{uuid.uuid4().hex}"
    application = data(
        await gql(
            client,
            APPLY,
            {"id": job["id"], "message": cover_letter, "links": [link]},
            token=seeker.token,
        )
    )["apply"]
    search_name = f"search {uuid.uuid4().hex}"
    data(
        await gql(client, SAVE, {"name": search_name, "c": {"kinds": ["JOB"]}}, token=seeker.token)
    )
    skill = f"k{uuid.uuid4().hex[:10]}"
    await profile_updated(app, seeker, skill)
    before = await my_data(client, seeker)
    assert all(before[kind] for kind in KINDS - {"erasures"})

    erased_at = datetime.now(UTC)
    await member_event(app, "member.erased", seeker, erasedAt=erased_at.isoformat())
    after = await my_data(client, seeker)

    assert after["savedSearches"] == []
    assert after["memberProfile"] == []
    assert after["organisationRoles"] == []
    # The fact of the application stays for the posting organisation, without its content.
    [kept] = after["applications"]
    assert kept["id"] == application["id"]
    assert (kept["message"], kept["links"]) == ("", [])
    # The organisation's posting is the organisation's record.
    assert [o["id"] for o in after["postedOpportunities"]] == [own_posting["id"]]
    assert [utc(e["erasedAt"]) for e in after["erasures"]] == [erased_at]
    text = orjson.dumps(after).decode()
    for personal in (cover_letter, link, search_name, skill, "FINANCE", "ZA"):
        assert personal not in text
