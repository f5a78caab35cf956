"""myContentData: the caller's copy of what content holds about them, on the real server,
other services' events applied through the inbox; nothing personal left after erasure."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from content_gql import RSVP, SCHEDULE, ContentHarness, Member, error_code, event_input

pytestmark = pytest.mark.integration

MY_DATA = "{ myContentData }"
MODERATE = """
mutation($id: ID!, $ok: Boolean!, $r: String) {
  moderatePost(id: $id, approve: $ok, reason: $r) { status }
}
"""
ADD_COMMENT = """
mutation($p: ID!, $b: String!, $parent: ID) {
  addComment(postId: $p, body: $b, parentId: $parent) { id }
}
"""
HIDE_COMMENT = "mutation($id: ID!) { setCommentHidden(id: $id, hidden: true) { hidden } }"
REACT = "mutation($p: ID!, $k: ReactionKind) { react(postId: $p, kind: $k) { reactionCount } }"
REPORT = """
mutation($t: ReportTarget!, $id: ID!, $r: String!) {
  report(targetType: $t, targetId: $id, reason: $r) { id }
}
"""
RESOLVE = "mutation($id: ID!) { resolveReport(id: $id) { resolved } }"
EVENT = "query($id: ID!) { event(id: $id) { organiserMember { id } title } }"
RECORD_KINDS = (
    "posts",
    "comments",
    "reactions",
    "reports",
    "rsvps",
    "events",
    "suspensions",
    "organisationRoles",
)


async def my_data(h: ContentHarness, member: Member) -> dict[str, Any]:
    data: dict[str, Any] = (await h.ok(MY_DATA, as_=member))["myContentData"]
    return data


def utc(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    offset = parsed.utcoffset()
    assert offset is not None, value
    assert offset.total_seconds() == 0, value
    return parsed


async def suspend(h: ContentHarness, member: Member) -> None:
    await h.deliver(
        "member.suspended",
        member.id,
        {"memberId": member.id, "suspendedAt": "2026-11-27T10:00:00Z"},
    )


async def fill(h: ContentHarness, member: Member, moderator: Member, tag: str) -> dict[str, Any]:
    """One record of every kind for `member`, through the API and the members' events."""
    org = await h.make_official(member)
    published = await h.create_post(
        member,
        organisationId=org,
        title=f"Pitso ea {tag}",
        summary=f"Kakaretso {tag}",
        body=f"Mongolo oa **{tag}**.",
        tags=["Maseru", tag],
        kind="ANNOUNCEMENT",
        coverImageUrl="https://example.org/pitso.jpg",
    )
    rejected = await h.create_post(member, title=f"Pale ea {tag}", language="en")
    await h.ok(MODERATE, {"id": rejected["id"], "ok": False, "r": f"Not yet, {tag}"}, as_=moderator)
    draft = await h.create_post(member, submit=False, title=f"Moralo {tag}")
    others_post = await h.create_post(moderator, title="Ditaba tsa moputso")
    comment = (
        await h.ok(ADD_COMMENT, {"p": others_post["id"], "b": f"Ke a leboha {tag}"}, as_=member)
    )["addComment"]
    reply = (
        await h.ok(
            ADD_COMMENT,
            {"p": others_post["id"], "b": f"Karabo {tag}", "parent": comment["id"]},
            as_=member,
        )
    )["addComment"]
    await h.ok(HIDE_COMMENT, {"id": reply["id"]}, as_=moderator)
    await h.ok(REACT, {"p": others_post["id"], "k": "SUPPORT"}, as_=member)
    report = (
        await h.ok(REPORT, {"t": "POST", "id": others_post["id"], "r": f"Spam {tag}"}, as_=member)
    )["report"]
    await h.ok(RESOLVE, {"id": report["id"]}, as_=moderator)
    own_event = (
        await h.ok(SCHEDULE, {"input": event_input(title=f"Mokete {tag}", capacity=30)}, as_=member)
    )["scheduleEvent"]
    org_event = (
        await h.ok(
            SCHEDULE,
            {
                "input": event_input(
                    title=f"Seboka {tag}",
                    organisationId=org,
                    place=None,
                    onlineUrl="https://meet.example.org/seboka",
                )
            },
            as_=member,
        )
    )["scheduleEvent"]
    full = (await h.ok(SCHEDULE, {"input": event_input(title="Lijo", capacity=1)}, as_=moderator))[
        "scheduleEvent"
    ]
    await h.ok(RSVP, {"id": full["id"], "r": "GOING"}, as_=moderator)
    waitlisted = (await h.ok(RSVP, {"id": full["id"], "r": "GOING"}, as_=member))["rsvp"]
    assert waitlisted["response"] == "WAITLISTED"
    await h.ok(RSVP, {"id": own_event["id"], "r": "INTERESTED"}, as_=member)
    return {
        "org": org,
        "published": published,
        "rejected": rejected,
        "draft": draft,
        "others_post": others_post,
        "comment": comment,
        "reply": reply,
        "report": report,
        "own_event": own_event,
        "org_event": org_event,
        "full": full,
    }


async def test_the_caller_gets_every_record_of_theirs_and_nobody_elses(
    harness: ContentHarness,
) -> None:
    h = harness
    member, other, moderator = h.member(), h.member(), h.member("moderator")
    mine = await fill(h, member, moderator, "Thabana")
    theirs = await fill(h, other, moderator, "Qiloane")
    # The other member also touches the caller's own things.
    await h.ok(ADD_COMMENT, {"p": mine["published"]["id"], "b": "Qiloane o teng"}, as_=other)
    await h.ok(REACT, {"p": mine["published"]["id"], "k": "LOVE"}, as_=other)
    await h.ok(RSVP, {"id": mine["own_event"]["id"], "r": "GOING"}, as_=other)
    await suspend(h, member)

    asked_at = datetime.now(UTC).replace(microsecond=0)
    data = await my_data(h, member)  # while suspended: reading goes on
    assert list(data)[:3] == ["service", "memberId", "exportedAt"]
    assert (data["service"], data["memberId"]) == ("content", member.id)
    assert asked_at <= utc(data["exportedAt"]) <= datetime.now(UTC)
    assert set(data) == {"service", "memberId", "exportedAt", *RECORD_KINDS}

    posts = {p["id"]: p for p in data["posts"]}
    assert set(posts) == {mine[k]["id"] for k in ("published", "rejected", "draft")}
    published = posts[mine["published"]["id"]]
    assert {k: v for k, v in published.items() if not k.endswith("At")} == {
        "id": mine["published"]["id"],
        "kind": "ANNOUNCEMENT",
        "language": "st",
        "title": "Pitso ea Thabana",
        "summary": "Kakaretso Thabana",
        "body": "Mongolo oa **Thabana**.",
        "tags": ["maseru", "thabana"],
        "coverImageUrl": "https://example.org/pitso.jpg",
        "organisationId": mine["org"],
        "status": "PUBLISHED",
        "rejectionReason": None,
        "hidden": False,
        "version": mine["published"]["version"],
    }
    assert utc(published["publishedAt"]) == utc(mine["published"]["publishedAt"])
    assert utc(published["createdAt"]) <= utc(published["updatedAt"])
    rejected = posts[mine["rejected"]["id"]]
    assert (rejected["status"], rejected["rejectionReason"], rejected["language"]) == (
        "REJECTED",
        "Not yet, Thabana",
        "en",
    )
    assert rejected["version"] == mine["rejected"]["version"] + 1
    assert rejected["publishedAt"] is None
    assert posts[mine["draft"]["id"]]["status"] == "DRAFT"

    comment_id, reply_id = mine["comment"]["id"], mine["reply"]["id"]
    assert [{k: v for k, v in c.items() if k != "createdAt"} for c in data["comments"]] == [
        {
            "id": comment_id,
            "postId": mine["others_post"]["id"],
            "parentId": None,
            "body": "Ke a leboha Thabana",
            "hidden": False,
        },
        {
            "id": reply_id,
            "postId": mine["others_post"]["id"],
            "parentId": comment_id,
            "body": "Karabo Thabana",
            "hidden": True,
        },
    ]
    assert all(utc(c["createdAt"]) for c in data["comments"])

    [reaction] = data["reactions"]
    assert (reaction["postId"], reaction["kind"]) == (mine["others_post"]["id"], "SUPPORT")
    utc(reaction["reactedAt"])

    [report] = data["reports"]
    assert {k: v for k, v in report.items() if k != "createdAt"} == {
        "id": mine["report"]["id"],
        "targetType": "POST",
        "targetId": mine["others_post"]["id"],
        "reason": "Spam Thabana",
        "resolved": True,
    }

    rsvps = {r["eventId"]: r for r in data["rsvps"]}
    assert set(rsvps) == {mine["full"]["id"], mine["own_event"]["id"]}
    assert (rsvps[mine["full"]["id"]]["response"], rsvps[mine["full"]["id"]]["waitlisted"]) == (
        "WAITLISTED",
        True,
    )
    interested = rsvps[mine["own_event"]["id"]]
    assert (interested["response"], interested["waitlisted"]) == ("INTERESTED", False)
    utc(interested["answeredAt"])

    events = {e["id"]: e for e in data["events"]}
    assert set(events) == {mine["own_event"]["id"], mine["org_event"]["id"]}
    own = events[mine["own_event"]["id"]]
    assert own["title"] == "Mokete Thabana"
    assert own["place"] == {"city": "Johannesburg", "country": "ZA", "address": "Zoo Lake"}
    assert (own["organiserOrganisationId"], own["capacity"], own["status"]) == (
        None,
        30,
        "SCHEDULED",
    )
    # Stored to the millisecond (MongoDB dates).
    scheduled = utc(mine["own_event"]["startsAt"])
    assert utc(own["startsAt"]) == scheduled.replace(
        microsecond=scheduled.microsecond // 1000 * 1000
    )
    assert own["timeZone"] == "Africa/Johannesburg"
    for_org = events[mine["org_event"]["id"]]
    assert (for_org["organiserOrganisationId"], for_org["place"], for_org["onlineUrl"]) == (
        mine["org"],
        None,
        "https://meet.example.org/seboka",
    )

    assert data["suspensions"] == [{"suspended": True, "changedAt": "2026-11-27T10:00:00+00:00"}]
    assert data["organisationRoles"] == [{"organisationId": mine["org"], "role": "OWNER"}]

    # Nothing of the other member's, and no moderator who acted on the caller's records.
    text = orjson.dumps(data).decode()
    for foreign in (other.id, moderator.id, "Qiloane", theirs["org"], theirs["own_event"]["id"]):
        assert foreign not in text, foreign
    assert (await my_data(h, other))["memberId"] == other.id


async def test_signed_in_only(harness: ContentHarness) -> None:
    h = harness
    body = await h.gql(MY_DATA)
    assert error_code(body) == "UNAUTHENTICATED"
    assert body.get("data") is None
    bad = await h.client.post(
        "/graphql", json={"query": MY_DATA}, headers={"Authorization": "Bearer not-a-token"}
    )
    assert error_code(bad.json()) == "UNAUTHENTICATED"
    # Marked for the gateway to enforce too.
    sdl = (await h.ok("{ _service { sdl } }"))["_service"]["sdl"]
    assert "myContentData: JSON! @authenticated" in sdl


async def test_a_member_with_no_records_gets_empty_lists(harness: ContentHarness) -> None:
    h = harness
    newcomer = h.member()
    await h.create_post(h.member())  # someone else's
    data = await my_data(h, newcomer)
    assert data["memberId"] == newcomer.id
    assert {kind: data[kind] for kind in RECORD_KINDS} == {kind: [] for kind in RECORD_KINDS}


async def test_after_erasure_nothing_personal_remains(harness: ContentHarness) -> None:
    h = harness
    leaving, moderator = h.member(), h.member("moderator")
    mine = await fill(h, leaving, moderator, "Thabana")
    await suspend(h, leaving)
    before = await my_data(h, leaving)
    assert all(before[kind] for kind in RECORD_KINDS)

    await h.deliver(
        "member.erased", leaving.id, {"memberId": leaving.id, "erasedAt": "2026-11-27T11:00:00Z"}
    )
    after = await my_data(h, leaving)  # a token issued before the erasure
    assert {kind: after[kind] for kind in RECORD_KINDS} == {kind: [] for kind in RECORD_KINDS}
    text = orjson.dumps(after).decode()
    assert "Thabana" not in text
    assert mine["org"] not in text

    # The gathering stays on the calendar, organised by nobody.
    event = (await h.ok(EVENT, {"id": mine["own_event"]["id"]}))["event"]
    assert event == {"organiserMember": None, "title": "Mokete Thabana"}

    # The member's id is in no record the service keeps (the inbox holds event ids only;
    # the outbox holds the ids-only events already sent, purged after a week).
    db = h.runtime.store.db
    for name in await db.list_collection_names():
        if name in ("outbox", "inbox"):
            continue
        async for doc in db[name].find({}):
            assert leaving.id not in orjson.dumps(doc, default=str).decode(), (name, doc)
