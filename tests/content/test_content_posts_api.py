"""Posts over HTTP: life cycle, moderation, permissions, bad input, feed queries and search."""

from __future__ import annotations

from typing import Any

import pytest
from content_gql import POST_FIELDS, ContentHarness, error_code, error_field, post_input

pytestmark = pytest.mark.integration

EDIT = f"""
mutation Edit($id: ID!, $input: PostInput!, $v: Int) {{
  editPost(id: $id, input: $input, expectedVersion: $v) {{ {POST_FIELDS} }}
}}
"""
SUBMIT = f"mutation($id: ID!) {{ submitPost(id: $id) {{ {POST_FIELDS} }} }}"
MODERATE = f"""
mutation($id: ID!, $approve: Boolean!, $reason: String) {{
  moderatePost(id: $id, approve: $approve, reason: $reason) {{ {POST_FIELDS} }}
}}
"""
ARCHIVE = f"mutation($id: ID!) {{ archivePost(id: $id) {{ {POST_FIELDS} }} }}"
HIDE = (
    f"mutation($id: ID!, $h: Boolean!) {{ setPostHidden(id: $id, hidden: $h) {{ {POST_FIELDS} }} }}"
)
POST = f"query($id: ID!) {{ post(id: $id) {{ {POST_FIELDS} }} }}"
QUEUE = (
    "query($after: String) { moderationQueue(first: 50, after: $after) { nodes { id status } } }"
)
MY_POSTS = "{ myPosts { nodes { id status } } }"
FEED = """
query Feed($filter: FeedFilterInput, $first: Int, $after: String) {
  feed(filter: $filter, first: $first, after: $after) {
    edges { cursor node { id title kind language tags } }
    nodes { id }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def feed_ids(h: ContentHarness, **filter: Any) -> list[str]:
    data = await h.ok(FEED, {"filter": filter or None, "first": 100})
    return [n["id"] for n in data["feed"]["nodes"]]


async def test_member_post_is_moderated_then_published(harness: ContentHarness) -> None:
    h = harness
    writer, moderator, reader = h.member(), h.member("moderator"), h.member()
    post = await h.create_post(writer)
    assert post["status"] == "SUBMITTED"
    assert post["author"] == {"id": writer.id}
    assert post["publishedAt"] is None
    assert post["tags"] == ["gauteng", "kopano"]
    assert "<strong>selemo</strong>" in post["bodyHtml"]

    # Not public yet: the reader cannot see it, the author and moderators can.
    assert (await h.ok(POST, {"id": post["id"]}, as_=reader))["post"] is None
    assert (await h.ok(POST, {"id": post["id"]}))["post"] is None
    assert (await h.ok(POST, {"id": post["id"]}, as_=writer))["post"]["id"] == post["id"]
    assert post["id"] not in await feed_ids(h)
    queue = (await h.ok(QUEUE, as_=moderator))["moderationQueue"]["nodes"]
    assert {"id": post["id"], "status": "SUBMITTED"} in queue
    assert error_code(await h.gql(QUEUE, as_=writer)) == "FORBIDDEN"

    approved = await h.ok(MODERATE, {"id": post["id"], "approve": True}, as_=moderator)
    assert approved["moderatePost"]["status"] == "PUBLISHED"
    assert approved["moderatePost"]["publishedAt"] is not None
    assert post["id"] in await feed_ids(h)
    assert (await h.ok(POST, {"id": post["id"]}))["post"]["status"] == "PUBLISHED"
    queue = (await h.ok(QUEUE, as_=moderator))["moderationQueue"]["nodes"]
    assert post["id"] not in [n["id"] for n in queue]

    published = await h.outbox_events("post.published")
    assert [e.subject for e in published] == [post["id"]]
    assert published[0].data["authorId"] == writer.id
    assert published[0].data["tags"] == ["gauteng", "kopano"]


async def test_rejection_with_reason_then_edit_and_resubmit(harness: ContentHarness) -> None:
    h = harness
    writer, moderator = h.member(), h.member("moderator")
    post = await h.create_post(writer)
    missing = await h.gql(MODERATE, {"id": post["id"], "approve": False}, as_=moderator)
    assert error_code(missing) == "BAD_USER_INPUT"
    assert error_field(missing) == "reason"
    rejected = (
        await h.ok(
            MODERATE, {"id": post["id"], "approve": False, "reason": "Add a source."}, as_=moderator
        )
    )["moderatePost"]
    assert rejected["status"] == "REJECTED"
    assert rejected["rejectionReason"] == "Add a source."
    # A rejected post cannot be approved without going through the author again.
    again = await h.gql(MODERATE, {"id": post["id"], "approve": True}, as_=moderator)
    assert error_code(again) == "CONFLICT"

    edited = (
        await h.ok(
            EDIT,
            {
                "id": post["id"],
                "input": post_input(summary="Source: BDA"),
                "v": rejected["version"],
            },
            as_=writer,
        )
    )["editPost"]
    assert edited["status"] == "DRAFT"
    assert edited["rejectionReason"] is None
    resubmitted = (await h.ok(SUBMIT, {"id": post["id"]}, as_=writer))["submitPost"]
    assert resubmitted["status"] == "SUBMITTED"
    mine = (await h.ok(MY_POSTS, as_=writer))["myPosts"]["nodes"]
    assert mine == [{"id": post["id"], "status": "SUBMITTED"}]
    assert await h.outbox_events("post.published") == []


async def test_moderators_and_verified_officials_publish_directly(harness: ContentHarness) -> None:
    h = harness
    moderator, official, member = h.member("moderator"), h.member(), h.member()
    org = await h.make_official(official)
    assert (await h.create_post(moderator))["status"] == "PUBLISHED"
    for_org = await h.create_post(official, organisationId=org, kind="ANNOUNCEMENT")
    assert for_org["status"] == "PUBLISHED"
    assert for_org["organisation"] == {"id": org}
    # An official posting as themselves (no organisation) is moderated like anyone.
    assert (await h.create_post(official))["status"] == "SUBMITTED"
    # A draft stays a draft until submitted.
    assert (await h.create_post(member, submit=False))["status"] == "DRAFT"
    published = await h.outbox_events("post.published")
    assert len(published) == 2
    assert published[1].data["organisationId"] == org


async def test_cannot_publish_for_an_organisation_one_does_not_officiate(
    harness: ContentHarness,
) -> None:
    h = harness
    official, outsider, unverified_owner = h.member(), h.member(), h.member()
    org = await h.make_official(official)
    unverified = await h.make_official(unverified_owner, verified=False)
    from content_gql import CREATE_POST

    body = await h.gql(CREATE_POST, {"input": post_input(organisationId=org)}, as_=outsider)
    assert error_code(body) == "FORBIDDEN"
    assert error_field(body) == "organisationId"
    body = await h.gql(
        CREATE_POST, {"input": post_input(organisationId=unverified)}, as_=unverified_owner
    )
    assert error_code(body) == "FORBIDDEN"
    # The organisation gets verified (members' event): its owner may now post for it.
    await h.deliver(
        "organisation.verified",
        unverified,
        {
            "organisationId": unverified,
            "name": "Basotho UK",
            "type": "CULTURAL_GROUP",
            "country": "GB",
            "city": None,
            "verified": True,
            "changedAt": "2026-11-27T10:00:00Z",
        },
    )
    post = await h.create_post(unverified_owner, organisationId=unverified)
    assert post["status"] == "PUBLISHED"
    # An official who leaves loses the right.
    await h.deliver(
        "organisation.member_left",
        org,
        {
            "organisationId": org,
            "memberId": official.id,
            "role": "OWNER",
            "organisationVerified": True,
            "reason": "left",
            "leftAt": "2026-11-27T10:00:00Z",
        },
    )
    body = await h.gql(CREATE_POST, {"input": post_input(organisationId=org)}, as_=official)
    assert error_code(body) == "FORBIDDEN"
    assert await h.runtime.store.posts.count_documents({}) == 1


async def test_cannot_edit_another_members_post_or_a_stale_version(
    harness: ContentHarness,
) -> None:
    h = harness
    writer, other = h.member(), h.member()
    post = await h.create_post(writer, submit=False)
    body = await h.gql(EDIT, {"id": post["id"], "input": post_input(title="Mine now")}, as_=other)
    assert error_code(body) == "FORBIDDEN"
    body = await h.gql(SUBMIT, {"id": post["id"]}, as_=other)
    assert error_code(body) == "FORBIDDEN"
    first = (
        await h.ok(EDIT, {"id": post["id"], "input": post_input(title="v2"), "v": 1}, as_=writer)
    )["editPost"]
    assert first["version"] == 2
    assert first["title"] == "v2"
    stale = await h.gql(
        EDIT, {"id": post["id"], "input": post_input(title="v3"), "v": 1}, as_=writer
    )
    assert error_code(stale) == "CONFLICT"
    assert error_field(stale) == "version"
    assert (await h.ok(POST, {"id": post["id"]}, as_=writer))["post"]["title"] == "v2"


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"title": "   "}, "title", "BAD_USER_INPUT"),
        ({"title": "x" * 201}, "title", "BAD_USER_INPUT"),
        ({"body": "x" * 50_001}, "body", "BAD_USER_INPUT"),
        ({"body": "Hello <script>alert(1)</script>"}, "body", "BAD_USER_INPUT"),
        ({"body": "[click](javascript:alert(1))"}, "body", "BAD_USER_INPUT"),
        ({"body": '<img src=x onerror="alert(1)">'}, "body", "BAD_USER_INPUT"),
        ({"coverImageUrl": "http://example.org/a.jpg"}, "coverImageUrl", "BAD_USER_INPUT"),
        ({"tags": [f"t{i}" for i in range(11)]}, "tags", "BAD_USER_INPUT"),
        ({"organisationId": "not-a-uuid"}, "organisationId", "NOT_FOUND"),
    ],
)
async def test_bad_post_input_gets_a_clear_error(
    harness: ContentHarness, fields: dict[str, Any], field: str, code: str
) -> None:
    from content_gql import CREATE_POST

    body = await harness.gql(CREATE_POST, {"input": post_input(**fields)}, as_=harness.member())
    assert error_code(body) == code
    assert error_field(body) == field
    assert body["errors"][0]["message"]
    assert await harness.runtime.store.posts.count_documents({}) == 0


async def test_signing_in_is_required_to_write(harness: ContentHarness) -> None:
    from content_gql import CREATE_POST

    body = await harness.gql(CREATE_POST, {"input": post_input()})
    assert error_code(body) == "UNAUTHENTICATED"
    response = await harness.client.post(
        "/graphql",
        json={"query": CREATE_POST, "variables": {"input": post_input()}},
        headers={"Authorization": "Bearer not.a.token"},
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_hide_restore_and_archive_take_posts_out_of_the_feed(
    harness: ContentHarness,
) -> None:
    h = harness
    moderator, writer, reader = h.member("moderator"), h.member(), h.member()
    post = await h.create_post(moderator)
    assert error_code(await h.gql(HIDE, {"id": post["id"], "h": True}, as_=writer)) == "FORBIDDEN"
    hidden = (await h.ok(HIDE, {"id": post["id"], "h": True}, as_=moderator))["setPostHidden"]
    assert hidden["hidden"] is True
    assert post["id"] not in await feed_ids(h)
    assert (await h.ok(POST, {"id": post["id"]}, as_=reader))["post"] is None
    await h.ok(HIDE, {"id": post["id"], "h": False}, as_=moderator)
    assert post["id"] in await feed_ids(h)

    own = await h.create_post(writer)
    assert error_code(await h.gql(ARCHIVE, {"id": own["id"]}, as_=reader)) == "FORBIDDEN"
    archived = (await h.ok(ARCHIVE, {"id": post["id"]}, as_=moderator))["archivePost"]
    assert archived["status"] == "ARCHIVED"
    assert post["id"] not in await feed_ids(h)
    assert error_code(await h.gql(ARCHIVE, {"id": post["id"]}, as_=moderator)) == "CONFLICT"

    removed = await h.outbox_events("post.removed")
    assert [e.data["reason"] for e in removed] == ["hidden", "archived"]
    assert len(await h.outbox_events("post.published")) == 2  # published, then restored


async def test_feed_filters_and_cursor_pagination(harness: ContentHarness) -> None:
    h = harness
    moderator, official = h.member("moderator"), h.member()
    org = await h.make_official(official)
    ids: list[str] = []
    for i in range(7):
        post = await h.create_post(
            moderator,
            title=f"Pitso {i}",
            kind="NEWS_LESOTHO" if i % 2 else "STORY",
            language="en" if i % 3 == 0 else "st",
            tags=["maseru"] if i < 3 else ["london"],
        )
        ids.append(post["id"])
    org_post = await h.create_post(official, organisationId=org, title="Seboka sa BDA")
    await h.create_post(h.member())  # still in moderation: never in the feed

    everything = await feed_ids(h)
    assert everything == [org_post["id"], *reversed(ids)]
    assert await feed_ids(h, kind="NEWS_LESOTHO") == [ids[5], ids[3], ids[1]]
    assert await feed_ids(h, tag="Maseru") == [ids[2], ids[1], ids[0]]
    assert await feed_ids(h, language="en") == [ids[6], ids[3], ids[0]]
    assert await feed_ids(h, organisationId=org) == [org_post["id"]]
    assert await feed_ids(h, authorId=official.id) == [org_post["id"]]
    assert await feed_ids(h, kind="OBITUARY") == []

    seen: list[str] = []
    after = None
    while True:
        page = (await h.ok(FEED, {"first": 3, "after": after}))["feed"]
        seen += [n["id"] for n in page["nodes"]]
        assert len(page["nodes"]) <= 3
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert page["edges"][-1]["cursor"] == after
    assert seen == everything

    bad = await h.gql(FEED, {"first": 3, "after": "garbage"})
    assert error_code(bad) == "BAD_USER_INPUT"
    assert error_code(await h.gql(FEED, {"first": 500})) == "BAD_USER_INPUT"


async def test_search_over_title_and_summary(harness: ContentHarness) -> None:
    h = harness
    moderator = h.member("moderator")
    a = await h.create_post(moderator, title="Letšolo la Basotho", summary="Gauteng gathering")
    b = await h.create_post(
        moderator, title="Funeral notice", summary="Ntate Mokoena of Leribe", kind="OBITUARY"
    )
    c = await h.create_post(moderator, title="Basotho blanket day", summary="London chapter")

    assert await feed_ids(h, search="letsolo") == [a["id"]]  # accents folded
    assert await feed_ids(h, search="BASOTHO") == [c["id"], a["id"]]
    assert await feed_ids(h, search="basotho lond") == [c["id"]]  # the last word as a prefix
    assert await feed_ids(h, search="mokoena leribe") == [b["id"]]
    assert await feed_ids(h, search="ntate", kind="OBITUARY") == [b["id"]]
    assert await feed_ids(h, search="gathering london") == []
    assert await feed_ids(h, search="Kopano ea **selemo**") == []  # body is not searched
    body = await h.gql(FEED, {"filter": {"search": "  !! "}})
    assert error_code(body) == "BAD_USER_INPUT"
    assert error_field(body) == "search"


async def test_feed_pages_skip_hidden_posts_and_restored_ones_keep_their_place(
    harness: ContentHarness,
) -> None:
    h = harness
    moderator = h.member("moderator")
    ids = [
        (
            await h.create_post(
                moderator, kind="STORY" if i % 2 else "OPINION", language="en" if i % 3 else "st"
            )
        )["id"]
        for i in range(12)
    ]
    newest_first = list(reversed(ids))
    for hidden in newest_first[1:8]:
        await h.ok(HIDE, {"id": hidden, "h": True}, as_=moderator)
    visible = [newest_first[0], *newest_first[8:]]

    async def walk(filter: dict[str, Any] | None) -> list[str]:
        seen: list[str] = []
        after = None
        while True:
            page = (await h.ok(FEED, {"filter": filter, "first": 2, "after": after}))["feed"]
            seen += [n["id"] for n in page["nodes"]]
            if not page["pageInfo"]["hasNextPage"]:
                return seen
            after = page["pageInfo"]["endCursor"]

    assert await walk(None) == visible
    stories_in_english = [i for n, i in enumerate(ids) if n % 2 and n % 3 and i in visible][::-1]
    assert await walk({"kind": "STORY", "language": "en"}) == stories_in_english
    # A cursor of one feed is refused by another.
    first = (await h.ok(FEED, {"first": 1}))["feed"]["pageInfo"]["endCursor"]
    body = await h.gql(FEED, {"filter": {"kind": "STORY"}, "after": first})
    assert error_code(body) == "BAD_USER_INPUT"

    await h.ok(HIDE, {"id": newest_first[4], "h": False}, as_=moderator)
    assert await walk(None) == [newest_first[0], newest_first[4], *newest_first[8:]]
