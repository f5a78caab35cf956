"""Suspended members: the projection of `member.suspended` / `member.restored` and the
writes it refuses, over HTTP on the real server, events applied through the inbox."""

from __future__ import annotations

from typing import Any

import pytest
from content_gql import (
    CREATE_POST,
    RSVP,
    SCHEDULE,
    ContentHarness,
    error_code,
    event_input,
    post_input,
)

pytestmark = pytest.mark.integration

EDIT = "mutation($id: ID!, $input: PostInput!) { editPost(id: $id, input: $input) { version } }"
MODERATE = "mutation($id: ID!) { moderatePost(id: $id, approve: true) { status } }"
ADD_COMMENT = "mutation($p: ID!, $b: String!) { addComment(postId: $p, body: $b) { id } }"
REACT = "mutation($p: ID!) { react(postId: $p, kind: LIKE) { reactionCount } }"
MY_POSTS = "{ myPosts { nodes { id status } } }"


def refused_as_suspended(body: dict[str, Any]) -> bool:
    assert body.get("errors"), body
    extensions = body["errors"][0]["extensions"]
    return bool(extensions["code"] == "FORBIDDEN" and extensions["reason"] == "MEMBER_SUSPENDED")


async def test_a_suspended_member_cannot_write_until_restored(harness: ContentHarness) -> None:
    h = harness
    member, moderator = h.member(), h.member("moderator")
    published = await h.create_post(member)
    await h.ok(MODERATE, {"id": published["id"]}, as_=moderator)
    pending = await h.create_post(member)
    event = (await h.ok(SCHEDULE, {"input": event_input()}, as_=moderator))["scheduleEvent"]

    suspension = await h.deliver(
        "member.suspended",
        member.id,
        {"memberId": member.id, "suspendedAt": "2026-11-27T10:00:00Z"},
    )
    assert not await h.redeliver(suspension)  # once only

    writes = [
        (CREATE_POST, {"input": post_input(), "submit": True}),
        (EDIT, {"id": published["id"], "input": post_input(title="Edited")}),
        (ADD_COMMENT, {"p": published["id"], "b": "Ke teng"}),
        (REACT, {"p": published["id"]}),
        (RSVP, {"id": event["id"], "r": "GOING"}),
    ]
    for query, variables in writes:
        assert refused_as_suspended(await h.gql(query, variables, as_=member)), query
    # Reading goes on; the pending post went back to the drafts.
    mine = {n["id"]: n["status"] for n in (await h.ok(MY_POSTS, as_=member))["myPosts"]["nodes"]}
    assert mine == {published["id"]: "PUBLISHED", pending["id"]: "DRAFT"}
    # Others are not affected.
    await h.ok(ADD_COMMENT, {"p": published["id"], "b": "Kea leboha"}, as_=moderator)

    await h.deliver(
        "member.restored", member.id, {"memberId": member.id, "restoredAt": "2026-11-27T12:00:00Z"}
    )
    for query, variables in writes:
        await h.ok(query, variables, as_=member)

    # A suspension older than the restore, arriving late, changes nothing.
    await h.deliver(
        "member.suspended",
        member.id,
        {"memberId": member.id, "suspendedAt": "2026-11-27T11:00:00Z"},
    )
    await h.ok(ADD_COMMENT, {"p": published["id"], "b": "Ke sa ntse ke le teng"}, as_=member)
    mine = {n["id"]: n["status"] for n in (await h.ok(MY_POSTS, as_=member))["myPosts"]["nodes"]}
    assert "SUBMITTED" in mine.values()


async def test_a_suspended_moderator_cannot_moderate(harness: ContentHarness) -> None:
    h = harness
    writer, moderator = h.member(), h.member("moderator")
    post = await h.create_post(writer)
    await h.deliver(
        "member.suspended",
        moderator.id,
        {"memberId": moderator.id, "suspendedAt": "2026-11-27T10:00:00Z"},
    )
    assert refused_as_suspended(await h.gql(MODERATE, {"id": post["id"]}, as_=moderator))
    assert error_code(await h.gql(MODERATE, {"id": post["id"]}, as_=writer)) == "FORBIDDEN"
