"""The events calendar over HTTP: scheduling, permissions, upcoming by place, RSVPs under load."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from content_gql import (
    EVENT_FIELDS,
    RSVP,
    SCHEDULE,
    ContentHarness,
    error_code,
    error_field,
    event_input,
)

pytestmark = pytest.mark.integration

CANCEL = "mutation($id: ID!) { cancelEvent(id: $id) { id status } }"
EVENT = f"query($id: ID!) {{ event(id: $id) {{ {EVENT_FIELDS} attendance {{ response count }} }} }}"
UPCOMING = """
query($country: String, $city: String, $first: Int, $after: String) {
  upcomingEvents(country: $country, city: $city, first: $first, after: $after) {
    nodes { id title } pageInfo { hasNextPage endCursor }
  }
}
"""


async def schedule(h: ContentHarness, who: Any, **fields: Any) -> dict[str, Any]:
    data = await h.ok(SCHEDULE, {"input": event_input(**fields)}, as_=who)
    event: dict[str, Any] = data["scheduleEvent"]
    return event


async def test_members_and_officials_schedule_events(harness: ContentHarness) -> None:
    h = harness
    member, official = h.member(), h.member()
    org = await h.make_official(official)
    own = await schedule(h, member, capacity=40)
    assert own["organiserMember"] == {"id": member.id}
    assert own["organiserOrganisation"] is None
    assert own["place"] == {"city": "Johannesburg", "country": "ZA", "address": "Zoo Lake"}
    assert (own["capacity"], own["seatsLeft"], own["goingCount"]) == (40, 40, 0)
    assert own["status"] == "SCHEDULED"
    online = await schedule(
        h, official, organisationId=org, place=None, onlineUrl="https://meet.example.org/bda"
    )
    assert online["organiserOrganisation"] == {"id": org}
    assert online["onlineUrl"] == "https://meet.example.org/bda"

    body = await h.gql(SCHEDULE, {"input": event_input(organisationId=org)}, as_=member)
    assert error_code(body) == "FORBIDDEN"
    scheduled = await h.outbox_events("event.scheduled")
    assert [e.subject for e in scheduled] == [own["id"], online["id"]]
    assert scheduled[0].data["country"] == "ZA"
    assert scheduled[1].data["online"] is True


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": ""}, "title"),
        ({"timeZone": "Mars/Olympus"}, "timeZone"),
        ({"endsAt": datetime(2020, 1, 1, tzinfo=UTC).isoformat()}, "endsAt"),
        ({"place": None}, "place"),
        ({"place": {"city": "Nowhere", "country": "XX"}}, "place.country"),
        ({"capacity": 0}, "capacity"),
        ({"onlineUrl": "javascript:alert(1)"}, "onlineUrl"),
        ({"description": "<iframe src=x>"}, "description"),
    ],
)
async def test_bad_event_input_gets_a_clear_error(
    harness: ContentHarness, fields: dict[str, Any], field: str
) -> None:
    body = await harness.gql(SCHEDULE, {"input": event_input(**fields)}, as_=harness.member())
    assert error_code(body) == "BAD_USER_INPUT"
    assert error_field(body) == field
    assert await harness.runtime.store.gatherings.count_documents({}) == 0


async def test_upcoming_events_by_country_and_city(harness: ContentHarness) -> None:
    h = harness
    m = h.member()
    soon = datetime.now(UTC) + timedelta(days=1)

    def at(days: int) -> dict[str, str]:
        start = soon + timedelta(days=days)
        return {"startsAt": start.isoformat(), "endsAt": (start + timedelta(hours=2)).isoformat()}

    jhb2 = await schedule(h, m, title="Jhb later", **at(5))
    jhb1 = await schedule(h, m, title="Jhb sooner", **at(1))
    cpt = await schedule(
        h, m, title="Cape Town", place={"city": "Cape Town", "country": "ZA"}, **at(2)
    )
    ldn = await schedule(h, m, title="London", place={"city": "London", "country": "GB"}, **at(3))
    cancelled = await schedule(h, m, title="Off", **at(4))
    await h.ok(CANCEL, {"id": cancelled["id"]}, as_=m)
    past_start = datetime.now(UTC) - timedelta(hours=1)
    await h.runtime.store.gatherings.insert_one(
        {
            "_id": "past",
            "status": "SCHEDULED",
            "country": "ZA",
            "cityKey": "johannesburg",
            "sortKey": f"{past_start.strftime('%Y-%m-%dT%H:%M:%S.%f')}|past",
        }
    )

    def ids(data: dict[str, Any]) -> list[str]:
        return [n["id"] for n in data["upcomingEvents"]["nodes"]]

    assert ids(await h.ok(UPCOMING)) == [jhb1["id"], cpt["id"], ldn["id"], jhb2["id"]]
    assert ids(await h.ok(UPCOMING, {"country": "za"})) == [jhb1["id"], cpt["id"], jhb2["id"]]
    assert ids(await h.ok(UPCOMING, {"country": "ZA", "city": "johannesburg"})) == [
        jhb1["id"],
        jhb2["id"],
    ]
    assert ids(await h.ok(UPCOMING, {"country": "ZA", "city": "CAPE  town"})) == [cpt["id"]]
    first = (await h.ok(UPCOMING, {"first": 2}))["upcomingEvents"]
    rest = await h.ok(UPCOMING, {"first": 2, "after": first["pageInfo"]["endCursor"]})
    assert ids(rest) == [ldn["id"], jhb2["id"]]
    assert error_code(await h.gql(UPCOMING, {"city": "Maseru"})) == "BAD_USER_INPUT"
    assert error_code(await h.gql(UPCOMING, {"country": "Lesotho"})) == "BAD_USER_INPUT"


async def test_cancel_is_for_the_organiser_and_stops_rsvps(harness: ContentHarness) -> None:
    h = harness
    organiser, other, moderator = h.member(), h.member(), h.member("moderator")
    event = await schedule(h, organiser)
    assert error_code(await h.gql(CANCEL, {"id": event["id"]}, as_=other)) == "FORBIDDEN"
    assert (await h.ok(CANCEL, {"id": event["id"]}, as_=organiser))["cancelEvent"]["status"] == (
        "CANCELLED"
    )
    assert error_code(await h.gql(CANCEL, {"id": event["id"]}, as_=moderator)) == "CONFLICT"
    body = await h.gql(RSVP, {"id": event["id"], "r": "GOING"}, as_=other)
    assert error_code(body) == "BAD_USER_INPUT"
    cancelled = await h.outbox_events("event.cancelled")
    assert [e.subject for e in cancelled] == [event["id"]]
    other_event = await schedule(h, organiser)
    assert (await h.ok(CANCEL, {"id": other_event["id"]}, as_=moderator))["cancelEvent"][
        "status"
    ] == "CANCELLED"


async def test_rsvp_answers_waitlist_and_promotion(harness: ContentHarness) -> None:
    h = harness
    event = await schedule(h, h.member(), capacity=2)
    a, b, c, d = (h.member() for _ in range(4))
    assert (await h.ok(RSVP, {"id": event["id"], "r": "GOING"}, as_=a))["rsvp"][
        "response"
    ] == "GOING"
    assert (await h.ok(RSVP, {"id": event["id"], "r": "INTERESTED"}, as_=d))["rsvp"][
        "response"
    ] == "INTERESTED"
    assert (await h.ok(RSVP, {"id": event["id"], "r": "GOING"}, as_=b))["rsvp"][
        "response"
    ] == "GOING"
    full = (await h.ok(RSVP, {"id": event["id"], "r": "GOING"}, as_=c))["rsvp"]
    assert full["response"] == "WAITLISTED"
    assert full["event"]["seatsLeft"] == 0
    asked = await h.gql(RSVP, {"id": event["id"], "r": "WAITLISTED"}, as_=d)
    assert error_code(asked) == "BAD_USER_INPUT"
    # Asking again keeps the place in the queue.
    again = (await h.ok(RSVP, {"id": event["id"], "r": "GOING"}, as_=c))["rsvp"]
    assert again["response"] == "WAITLISTED"

    left = (await h.ok(RSVP, {"id": event["id"], "r": "NOT_GOING"}, as_=a))["rsvp"]
    assert left["response"] == "NOT_GOING"
    assert left["event"]["goingCount"] == 2
    seen = (await h.ok(EVENT, {"id": event["id"]}, as_=c))["event"]
    assert seen["myRsvp"] == "GOING"
    assert {x["response"]: x["count"] for x in seen["attendance"]} == {
        "GOING": 2,
        "INTERESTED": 1,
        "NOT_GOING": 1,
    }
    # With nobody waiting, a seat given back is free again.
    await h.ok(RSVP, {"id": event["id"], "r": "INTERESTED"}, as_=b)
    after = (await h.ok(EVENT, {"id": event["id"]}))["event"]
    assert (after["goingCount"], after["seatsLeft"], after["myRsvp"]) == (1, 1, None)


async def test_concurrent_rsvps_never_exceed_capacity(harness: ContentHarness) -> None:
    h = harness
    capacity = 5
    event = await schedule(h, h.member(), capacity=capacity)
    members = [h.member() for _ in range(16)]
    answers = await asyncio.gather(
        *(h.ok(RSVP, {"id": event["id"], "r": "GOING"}, as_=m) for m in members)
    )
    counted = Counter(a["rsvp"]["response"] for a in answers)
    assert counted == {"GOING": capacity, "WAITLISTED": len(members) - capacity}
    stored = await h.runtime.store.gatherings.find_one({"_id": event["id"]})
    assert stored is not None
    assert (stored["going"], stored["seatsLeft"]) == (capacity, 0)
    assert (
        await h.runtime.store.rsvps.count_documents({"eventId": event["id"], "response": "GOING"})
        == capacity
    )

    # Several going members leave at once: exactly as many waiting members move up.
    going = [m for m, a in zip(members, answers, strict=True) if a["rsvp"]["response"] == "GOING"]
    await asyncio.gather(
        *(h.ok(RSVP, {"id": event["id"], "r": "NOT_GOING"}, as_=m) for m in going[:3])
    )
    assert (
        await h.runtime.store.rsvps.count_documents({"eventId": event["id"], "response": "GOING"})
        == capacity
    )
    assert (
        await h.runtime.store.rsvps.count_documents(
            {"eventId": event["id"], "response": "WAITLISTED"}
        )
        == len(members) - capacity - 3
    )
