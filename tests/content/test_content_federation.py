"""The subgraph's federation surface: keys in the SDL and batched `_entities` resolution."""

from __future__ import annotations

from typing import Any

import pytest
from content_gql import ContentHarness, event_input

pytestmark = pytest.mark.integration

ENTITIES = """
query($representations: [_Any!]!) {
  _entities(representations: $representations) {
    __typename
    ... on Post { id title status }
    ... on Event { id title }
    ... on Member { id posts { nodes { id status } } }
    ... on Organisation { id posts { nodes { id } } events { nodes { id } } }
  }
}
"""


async def test_sdl_declares_entities_and_extensions(harness: ContentHarness) -> None:
    sdl = (await harness.ok("{ _service { sdl } }"))["_service"]["sdl"]
    for entity in ("Post", "Event", "Member", "Organisation"):
        assert f'type {entity} @key(fields: "id")' in sdl
    member_type = sdl.split('type Member @key(fields: "id")', 1)[1].split("}", 1)[0]
    # Only the key and what content adds: never names or emails.
    assert "posts" in member_type
    assert "email" not in sdl.lower()
    assert "fullName" not in sdl


async def test_entities_resolve_in_one_query_per_type(harness: ContentHarness) -> None:
    h = harness
    moderator, writer, official = h.member("moderator"), h.member(), h.member()
    org = await h.make_official(official)
    published = [await h.create_post(moderator) for _ in range(3)]
    pending = await h.create_post(writer)
    org_post = await h.create_post(official, organisationId=org)
    event = (
        await h.ok(
            "mutation($i: EventInput!) { scheduleEvent(input: $i) { id } }",
            {"i": event_input(organisationId=org)},
            as_=official,
        )
    )["scheduleEvent"]

    batches: list[list[Any]] = []
    service = h.runtime.service
    original = service.posts_by_ids

    async def counting(ids: Any) -> Any:
        batches.append(list(ids))
        return await original(ids)

    service.posts_by_ids = counting
    try:
        reps = [{"__typename": "Post", "id": p["id"]} for p in published]
        reps.insert(1, {"__typename": "Post", "id": "00000000-0000-4000-8000-000000000000"})
        reps.append({"__typename": "Post", "id": pending["id"]})
        body = await h.ok(ENTITIES, {"representations": reps})
    finally:
        del service.posts_by_ids
    entities = body["_entities"]
    assert [e["id"] if e else None for e in entities] == [
        published[0]["id"],
        None,
        published[1]["id"],
        published[2]["id"],
        None,  # not published: invisible to the gateway's anonymous caller
    ]
    assert len(batches) == 1, batches  # one DataLoader batch, one MongoDB query
    assert len(batches[0]) == 5

    others = await h.ok(
        ENTITIES,
        {
            "representations": [
                {"__typename": "Event", "id": event["id"]},
                {"__typename": "Member", "id": writer.id},
                {"__typename": "Organisation", "id": org},
            ]
        },
    )
    event_entity, member, organisation = others["_entities"]
    assert event_entity["id"] == event["id"]
    assert member["posts"]["nodes"] == []  # the pending post is not public
    assert organisation["posts"]["nodes"] == [{"id": org_post["id"]}]
    assert organisation["events"]["nodes"] == [{"id": event["id"]}]
    as_writer = await h.ok(
        ENTITIES, {"representations": [{"__typename": "Member", "id": writer.id}]}, as_=writer
    )
    assert as_writer["_entities"][0]["posts"]["nodes"] == [
        {"id": pending["id"], "status": "SUBMITTED"}
    ]
