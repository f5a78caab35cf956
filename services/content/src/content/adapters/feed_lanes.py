"""Feed lanes: each published post's place in every feed it belongs to, by sequence number.

A lane is one feed (`all`, `kind:NEWS_LESOTHO`, `tag:maseru`, `lang:st`, `org:<id>`,
`author:<id>`). When a post becomes visible it takes the next number of each of its lanes
(a counter document, incremented in the publishing transaction) and keeps those numbers
for good, so a post hidden and restored returns to its place. An entry document
`<lane>|<seq, zero-padded>` exists while the post is visible.

A page is then a short `_id` range just below the cursor's number — a bounded index range
whatever the engine, and whatever the depth in the feed: the cost of a page does not grow
with the size of the feed, even on servers that read a whole index range before applying
a limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from content.domain.posts import Post, PostStatus

Doc = dict[str, Any]
SEQ_WIDTH: Final = 12
ALL: Final = "all"


def lanes_of(post: Post) -> list[str]:
    c = post.content
    lanes = [ALL, f"kind:{c.kind.value}", f"lang:{c.language.value}", f"author:{post.author_id}"]
    lanes += [f"tag:{t}" for t in c.tags]
    if c.organisation_id is not None:
        lanes.append(f"org:{c.organisation_id}")
    return lanes


def entry_id(lane: str, seq: int) -> str:
    return f"{lane}|{seq:0{SEQ_WIDTH}d}"


def split_entry_id(value: str) -> tuple[str, int]:
    lane, _, seq = value.rpartition("|")
    return lane, int(seq)


def is_live(post: Post) -> bool:
    return post.status is PostStatus.PUBLISHED and not post.hidden


class FeedLanes:
    def __init__(self, entries: AsyncCollection[Doc], counters: AsyncCollection[Doc]) -> None:
        self.entries = entries
        self.counters = counters

    async def _next(self, lane: str, session: AsyncClientSession | None) -> int:
        doc = await self.counters.find_one_and_update(
            {"_id": lane},
            {"$inc": {"seq": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
            session=session,
        )
        assert doc is not None
        return int(doc["seq"])

    async def sync(
        self, post: Post, seqs: dict[str, int], session: AsyncClientSession | None
    ) -> dict[str, int]:
        """Make the post's entries match its state; returns its (kept) lane numbers."""
        post_id = str(post.id)
        if not is_live(post):
            await self.entries.delete_many({"postId": post_id}, session=session)
            return seqs
        wanted = lanes_of(post)
        seqs = dict(seqs)
        for lane in wanted:
            if lane not in seqs:
                seqs[lane] = await self._next(lane, session)
        keep = [entry_id(lane, seqs[lane]) for lane in wanted]
        await self.entries.delete_many({"postId": post_id, "_id": {"$nin": keep}}, session=session)
        for lane in wanted:
            eid = entry_id(lane, seqs[lane])
            await self.entries.update_one(
                {"_id": eid},
                {"$set": {"lane": lane, "seq": seqs[lane], "postId": post_id}},
                upsert=True,
                session=session,
            )
        return seqs

    async def top(self, lane: str) -> int:
        doc = await self.counters.find_one({"_id": lane})
        return int(doc["seq"]) if doc else 0

    async def below(self, lane: str, upper: int, count: int) -> list[Doc]:
        """Entries of `lane` with numbers in (upper - count, upper], highest first."""
        lower = max(1, upper - count + 1)
        cursor = self.entries.find(
            {"_id": {"$gte": entry_id(lane, lower), "$lte": entry_id(lane, upper)}},
            {"postId": 1},
        ).sort("_id", -1)
        docs: list[Doc] = await cursor.to_list()
        return docs

    async def drop_lanes(self, lanes: Iterable[str], session: AsyncClientSession) -> None:
        for lane in lanes:
            await self.entries.delete_many(
                {"_id": {"$gte": f"{lane}|", "$lt": f"{lane}|~"}}, session=session
            )
