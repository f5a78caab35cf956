"""Comments, reactions and abuse reports over HTTP."""

from __future__ import annotations

import asyncio

import pytest
from content_gql import ContentHarness, error_code, error_field

pytestmark = pytest.mark.integration

ADD_COMMENT = """
mutation($post: ID!, $body: String!, $parent: ID) {
  addComment(postId: $post, body: $body, parentId: $parent) {
    id postId parentId author { id } body bodyHtml hidden createdAt
  }
}
"""
HIDE_COMMENT = (
    "mutation($id: ID!, $h: Boolean!) { setCommentHidden(id: $id, hidden: $h) { id hidden } }"
)
COMMENTS = """
query($id: ID!, $first: Int, $after: String) {
  post(id: $id) {
    commentCount
    comments(first: $first, after: $after) {
      nodes { id parentId body hidden } pageInfo { hasNextPage endCursor }
    }
  }
}
"""
REACT = """
mutation($post: ID!, $kind: ReactionKind) {
  react(postId: $post, kind: $kind) { id reactionCount reactions { kind count } myReaction }
}
"""
REPORT = """
mutation($type: ReportTarget!, $id: ID!, $reason: String!) {
  report(targetType: $type, targetId: $id, reason: $reason) { id targetType targetId reason resolved }
}
"""
REPORTS = "{ reports { nodes { id targetType targetId reason resolved } } }"
RESOLVE = "mutation($id: ID!) { resolveReport(id: $id) { id resolved } }"


async def test_comments_thread_one_level_and_moderators_hide_them(
    harness: ContentHarness,
) -> None:
    h = harness
    moderator, alice, bob = h.member("moderator"), h.member(), h.member()
    post = await h.create_post(moderator)
    top = (
        await h.ok(ADD_COMMENT, {"post": post["id"], "body": "Ke a leboha **haholo**"}, as_=alice)
    )["addComment"]
    assert top["parentId"] is None
    assert top["author"] == {"id": alice.id}
    assert "<strong>haholo</strong>" in top["bodyHtml"]
    reply = (
        await h.ok(
            ADD_COMMENT, {"post": post["id"], "body": "Le nna", "parent": top["id"]}, as_=bob
        )
    )["addComment"]
    assert reply["parentId"] == top["id"]
    deeper = await h.gql(
        ADD_COMMENT, {"post": post["id"], "body": "And me", "parent": reply["id"]}, as_=alice
    )
    assert error_code(deeper) == "BAD_USER_INPUT"
    assert error_field(deeper) == "parentId"
    for body, field in (("   ", "body"), ("<script>x()</script>", "body"), ("x" * 5001, "body")):
        bad = await h.gql(ADD_COMMENT, {"post": post["id"], "body": body}, as_=alice)
        assert error_code(bad) == "BAD_USER_INPUT"
        assert error_field(bad) == field
    assert error_code(await h.gql(ADD_COMMENT, {"post": post["id"], "body": "hi"})) == (
        "UNAUTHENTICATED"
    )

    data = (await h.ok(COMMENTS, {"id": post["id"]}))["post"]
    assert data["commentCount"] == 2
    assert [c["id"] for c in data["comments"]["nodes"]] == [top["id"], reply["id"]]
    page = (await h.ok(COMMENTS, {"id": post["id"], "first": 1}))["post"]["comments"]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = (
        await h.ok(COMMENTS, {"id": post["id"], "first": 1, "after": page["pageInfo"]["endCursor"]})
    )["post"]["comments"]
    assert [c["id"] for c in rest["nodes"]] == [reply["id"]]

    assert error_code(await h.gql(HIDE_COMMENT, {"id": reply["id"], "h": True}, as_=bob)) == (
        "FORBIDDEN"
    )
    await h.ok(HIDE_COMMENT, {"id": reply["id"], "h": True}, as_=moderator)
    visible = (await h.ok(COMMENTS, {"id": post["id"]}, as_=alice))["post"]["comments"]["nodes"]
    assert [c["id"] for c in visible] == [top["id"]]
    for_moderator = (await h.ok(COMMENTS, {"id": post["id"]}, as_=moderator))["post"]
    assert [c["hidden"] for c in for_moderator["comments"]["nodes"]] == [False, True]

    added = await h.outbox_events("comment.added")
    assert [e.data["commentId"] for e in added] == [top["id"], reply["id"]]
    assert added[1].data["parentId"] == top["id"]
    assert {e.subject for e in added} == {post["id"]}


async def test_only_published_posts_take_comments(harness: ContentHarness) -> None:
    h = harness
    writer = h.member()
    pending = await h.create_post(writer)
    body = await h.gql(ADD_COMMENT, {"post": pending["id"], "body": "early"}, as_=h.member())
    assert error_code(body) == "NOT_FOUND"
    body = await h.gql(ADD_COMMENT, {"post": pending["id"], "body": "early"}, as_=writer)
    assert error_code(body) == "BAD_USER_INPUT"


async def test_one_reaction_per_member_and_counts_follow(harness: ContentHarness) -> None:
    h = harness
    moderator, alice, bob = h.member("moderator"), h.member(), h.member()
    post = await h.create_post(moderator, kind="OBITUARY", title="Robala ka khotso")
    first = (await h.ok(REACT, {"post": post["id"], "kind": "SUPPORT"}, as_=alice))["react"]
    assert first["reactionCount"] == 1
    assert first["myReaction"] == "SUPPORT"
    again = (await h.ok(REACT, {"post": post["id"], "kind": "SUPPORT"}, as_=alice))["react"]
    assert again["reactionCount"] == 1
    await h.ok(REACT, {"post": post["id"], "kind": "SUPPORT"}, as_=bob)
    changed = (await h.ok(REACT, {"post": post["id"], "kind": "LOVE"}, as_=alice))["react"]
    assert changed["reactions"] == [{"kind": "LOVE", "count": 1}, {"kind": "SUPPORT", "count": 1}]
    removed = (await h.ok(REACT, {"post": post["id"], "kind": None}, as_=bob))["react"]
    assert removed["reactions"] == [{"kind": "LOVE", "count": 1}]
    assert removed["myReaction"] is None
    assert await h.runtime.store.reactions.count_documents({"postId": post["id"]}) == 1


async def test_concurrent_reactions_keep_counts_equal_to_reactions(
    harness: ContentHarness,
) -> None:
    h = harness
    post = await h.create_post(h.member("moderator"))
    members = [h.member() for _ in range(12)]

    async def react(i: int) -> None:
        m = members[i % len(members)]
        await h.ok(REACT, {"post": post["id"], "kind": "LIKE" if i % 3 else "CELEBRATE"}, as_=m)

    # Each member reacts twice at once (some change their kind), all members together.
    await asyncio.gather(*(react(i) for i in range(24)))
    stored = await h.runtime.store.posts.find_one({"_id": post["id"]})
    assert stored is not None
    counts = {k: v for k, v in stored["reactionCounts"].items() if v}
    actual: dict[str, int] = {}
    async for r in h.runtime.store.reactions.find({"postId": post["id"]}):
        actual[r["kind"]] = actual.get(r["kind"], 0) + 1
    assert sum(actual.values()) == 12
    assert counts == actual


async def test_reports_reach_moderators_once_per_member(harness: ContentHarness) -> None:
    h = harness
    moderator, reporter = h.member("moderator"), h.member()
    post = await h.create_post(moderator)
    comment = (await h.ok(ADD_COMMENT, {"post": post["id"], "body": "spam"}, as_=h.member()))[
        "addComment"
    ]
    on_post = (
        await h.ok(REPORT, {"type": "POST", "id": post["id"], "reason": "Fake news"}, as_=reporter)
    )["report"]
    assert on_post["resolved"] is False
    await h.ok(REPORT, {"type": "COMMENT", "id": comment["id"], "reason": "Scam"}, as_=reporter)
    dup = await h.gql(REPORT, {"type": "POST", "id": post["id"], "reason": "again"}, as_=reporter)
    assert error_code(dup) == "CONFLICT"
    empty = await h.gql(REPORT, {"type": "POST", "id": post["id"], "reason": " "}, as_=h.member())
    assert error_field(empty) == "reason"
    missing = await h.gql(
        REPORT,
        {"type": "COMMENT", "id": "00000000-0000-4000-8000-000000000001", "reason": "x"},
        as_=reporter,
    )
    assert error_code(missing) == "NOT_FOUND"

    assert error_code(await h.gql(REPORTS, as_=reporter)) == "FORBIDDEN"
    open_reports = (await h.ok(REPORTS, as_=moderator))["reports"]["nodes"]
    assert [(r["targetType"], r["reason"]) for r in open_reports] == [
        ("POST", "Fake news"),
        ("COMMENT", "Scam"),
    ]
    await h.ok(RESOLVE, {"id": on_post["id"]}, as_=moderator)
    left = (await h.ok(REPORTS, as_=moderator))["reports"]["nodes"]
    assert [r["targetType"] for r in left] == ["COMMENT"]
