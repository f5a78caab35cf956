"""Search over the lanes: whole words, the last word as a prefix, pages in publication
order, posts leaving and rejoining lanes, and pages bounded in work."""

from __future__ import annotations

from typing import Any

import pytest
from content_gql import POST_FIELDS, ContentHarness, post_input

import content.service

pytestmark = pytest.mark.integration

FEED = """
query Feed($filter: FeedFilterInput, $first: Int, $after: String) {
  feed(filter: $filter, first: $first, after: $after) {
    edges { cursor node { id } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
EDIT = f"""
mutation Edit($id: ID!, $input: PostInput!) {{ editPost(id: $id, input: $input) {{ {POST_FIELDS} }} }}
"""
HIDE = "mutation($id: ID!, $h: Boolean!) { setPostHidden(id: $id, hidden: $h) { hidden } }"
ARCHIVE = "mutation($id: ID!) { archivePost(id: $id) { status } }"


async def pages(h: ContentHarness, size: int, **filter: Any) -> list[list[str]]:
    """Every page of a feed or search, following `endCursor`."""
    found: list[list[str]] = []
    after = None
    while True:
        data = await h.ok(FEED, {"filter": filter or None, "first": size, "after": after})
        page = data["feed"]
        found.append([e["node"]["id"] for e in page["edges"]])
        assert len(found[-1]) <= size
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]
        assert after is not None
        if page["edges"]:
            assert page["edges"][-1]["cursor"] == after
        assert len(found) < 100, "pages never end"


async def search(h: ContentHarness, size: int = 100, **filter: Any) -> list[str]:
    return [i for page in await pages(h, size, **filter) for i in page]


async def test_search_pages_run_newest_first_across_words_and_prefixes(
    harness: ContentHarness,
) -> None:
    h = harness
    moderator = h.member("moderator")
    ids = []
    for n in range(9):
        words = ["Pitso", "ea", "Maseru" if n % 2 else "Mafeteng", "mohair" if n % 3 else "wool"]
        ids.append(
            (
                await h.create_post(
                    moderator,
                    title=" ".join(words),
                    summary=f"Seboka sa {n}",
                    kind="STORY" if n < 5 else "OPINION",
                )
            )["id"]
        )
    newest = ids[::-1]
    assert await pages(h, 4, search="pitso") == [newest[:4], newest[4:8], newest[8:]]
    maseru = [i for n, i in enumerate(ids) if n % 2][::-1]
    assert await search(h, 2, search="pitso maseru") == maseru
    assert await search(h, 2, search="maseru pitso") == maseru
    both = [i for n, i in enumerate(ids) if n % 2 and n % 3][::-1]
    assert await search(h, 1, search="Maseru MOHAIR") == both
    # The last word is a prefix: through the lane of its first letters, or checked on posts.
    assert await search(h, 3, search="pitso masE") == maseru
    assert await search(h, 3, search="maser") == maseru
    assert await search(h, 3, search="maf") == [i for i in newest if i not in maseru]
    assert await search(h, 3, search="ma") == newest
    assert await search(h, 3, search="wool m") == [i for n, i in enumerate(ids) if not n % 3][::-1]
    assert await search(h, 3, search="wool mas") == [ids[3]]
    # With the other filters.
    stories = [i for n, i in enumerate(ids) if n < 5 and n % 2][::-1]
    assert await search(h, 1, search="maseru", kind="STORY") == stories
    assert await search(h, 2, search="pit", kind="OPINION") == newest[:4]
    assert await search(h, search="pitso zzz") == []
    assert await search(h, search="unheard") == []


async def test_hidden_archived_and_edited_posts_leave_and_join_search(
    harness: ContentHarness,
) -> None:
    h = harness
    moderator = h.member("moderator")
    older = await h.create_post(moderator, title="Mokete oa Leribe", summary="Lijo le pina")
    post = await h.create_post(moderator, title="Mokete oa Thaba-Bosiu", summary="Khotso")
    assert await search(h, search="mokete") == [post["id"], older["id"]]

    await h.ok(HIDE, {"id": post["id"], "h": True}, as_=moderator)
    assert await search(h, search="mokete") == [older["id"]]
    assert await search(h, search="thaba") == []
    await h.ok(HIDE, {"id": post["id"], "h": False}, as_=moderator)
    assert await search(h, search="mokete") == [post["id"], older["id"]]

    # Words edited out leave their lanes; new words join theirs.
    edited = post_input(title="Pitso ea Thaba-Bosiu", summary="Khotso")
    await h.ok(EDIT, {"id": post["id"], "input": edited}, as_=moderator)
    assert await search(h, search="mokete") == [older["id"]]
    assert await search(h, search="mok") == [older["id"]]
    assert await search(h, search="pitso") == [post["id"]]
    assert await search(h, search="pit") == [post["id"]]
    assert await search(h, search="bosiu khot") == [post["id"]]

    await h.ok(ARCHIVE, {"id": older["id"]}, as_=moderator)
    assert await search(h, search="mokete") == []
    assert await search(h, search="leribe") == []


async def test_an_edit_joins_lanes_at_its_publication_place(harness: ContentHarness) -> None:
    h = harness
    moderator = h.member("moderator")
    first = await h.create_post(moderator, title="Pitso", summary="Leribe", tags=["leribe"])
    middle = await h.create_post(moderator, title="Khotso", summary="Maseru", tags=["maseru"])
    last = await h.create_post(moderator, title="Khotso", summary="Maseru", tags=["maseru"])
    ids = [first["id"], middle["id"], last["id"]]

    # The oldest post gains the tag and the words of the two newer ones: it joins their
    # lanes below them, not at the top.
    again = post_input(title="Pitso Khotso", summary="Leribe Maseru", tags=["leribe", "maseru"])
    await h.ok(EDIT, {"id": first["id"], "input": again}, as_=moderator)
    assert await pages(h, 1, tag="maseru") == [[ids[2]], [ids[1]], [ids[0]]]
    assert await pages(h, 1, search="khotso") == [[ids[2]], [ids[1]], [ids[0]]]
    assert await search(h, 2, search="khot") == ids[::-1]
    # The middle one joins a lane of the other two: between them.
    between = post_input(title="Khotso", summary="Maseru", tags=["maseru", "leribe"])
    await h.ok(EDIT, {"id": middle["id"], "input": between}, as_=moderator)
    assert await pages(h, 1, tag="leribe") == [[ids[1]], [ids[0]]]
    await h.ok(EDIT, {"id": last["id"], "input": between}, as_=moderator)
    assert await pages(h, 1, tag="leribe") == [[ids[2]], [ids[1]], [ids[0]]]
    assert await search(h, 1, search="pitso") == [ids[0]]
    # Hidden and restored, a late joiner keeps its place too.
    await h.ok(HIDE, {"id": middle["id"], "h": True}, as_=moderator)
    assert await search(h, 1, tag="leribe") == [ids[2], ids[0]]
    await h.ok(HIDE, {"id": middle["id"], "h": False}, as_=moderator)
    assert await search(h, 1, tag="leribe") == ids[::-1]


async def test_a_page_stops_at_its_work_budget_and_its_cursor_resumes(
    harness: ContentHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness
    moderator = h.member("moderator")
    rare = await h.create_post(moderator, title="Bana ba rona", summary="Thuto")
    for n in range(14):
        await h.create_post(moderator, title=f"Pitso {n}", summary="Leribe")
    # A two-letter prefix has no lane: the whole feed is walked, a few numbers per request.
    monkeypatch.setattr(content.service, "MAX_SCAN", 4)
    found = await pages(h, 2, search="ba")
    assert [i for page in found for i in page] == [rare["id"]]
    assert [] in found  # pages that found nothing in their budget, with a cursor to go on
    monkeypatch.setattr(content.service, "MAX_SCAN", 600)
    assert await pages(h, 2, search="ba") == [[rare["id"]]]


async def test_migrate_gives_older_posts_their_search_lanes(harness: ContentHarness) -> None:
    h = harness
    moderator = h.member("moderator")
    ids = [
        (await h.create_post(moderator, title=f"Pitso {n}", summary="Leribe"))["id"]
        for n in range(3)
    ]
    # The middle post as a post published before search lanes existed.
    store = h.runtime.store
    doc = await store.posts.find_one({"_id": ids[1]})
    assert doc is not None
    feed_only = {k: v for k, v in doc["feedSeqs"].items() if not k.startswith(("tok:", "pre:"))}
    await store.posts.update_one({"_id": ids[1]}, {"$set": {"feedSeqs": feed_only}})
    await store.db["feed_entries"].delete_many({"postId": ids[1], "k": {"$regex": "^(tok|pre):"}})
    assert await search(h, search="pitso") == [ids[2], ids[0]]

    service = h.runtime.service
    assert await service.index_unlaned_posts() == 1
    assert await service.index_unlaned_posts() == 0  # nothing left to do
    assert await search(h, 1, search="pitso") == ids[::-1]
    assert await search(h, 1, search="lerib") == ids[::-1]
