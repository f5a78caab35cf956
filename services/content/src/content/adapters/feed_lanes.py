"""Feed lanes: each published post's place in every feed it belongs to, by sequence number.

A lane is one feed (`all`, `kind:NEWS_LESOTHO`, `tag:maseru`, `lang:st`, `org:<id>`,
`author:<id>`). When a post becomes visible it takes the next number of each of its lanes
(a counter document, incremented in the publishing transaction) and keeps those numbers
for good, so a post hidden and restored returns to its place. An entry document
`<lane>|<seq, zero-padded>` exists while the post is visible.

A page is then a short range of the indexed `k` (= `_id`) just below the cursor's number — a bounded index range
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
        self._tops: dict[str, int] = {}

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
                {"$set": {"k": eid, "postId": post_id}},
                upsert=True,
                session=session,
            )
        return seqs

    async def top(self, lane: str) -> int:
        """The lane's highest number (cached per process: a first page reads from a
        little below it with no upper bound, so posts published since are still found)."""
        if lane not in self._tops:
            doc = await self.counters.find_one({"_id": lane})
            self._tops[lane] = int(doc["seq"]) if doc else 0
        return self._tops[lane]

    async def window(
        self, lane: str, lower: int, upper: int | None
    ) -> list[tuple[str, Doc | None]]:
        """Entries of `lane` numbered from `lower` up to `upper` (None: no limit), highest
        first, each with its post — one round trip."""
        bounds: Doc = {"$gte": entry_id(lane, lower)}
        if upper is not None:
            bounds["$lte"] = entry_id(lane, upper)
        else:
            bounds["$lt"] = f"{lane}|~"
        lookup = {"from": "posts", "localField": "postId", "foreignField": "_id", "as": "post"}
        cursor = await self.entries.aggregate(
            [{"$match": {"k": bounds}}, {"$sort": {"k": -1}}, {"$lookup": lookup}]
        )
        found = [(d["k"], d["post"][0] if d["post"] else None) async for d in cursor]
        if upper is None and found:
            seq = split_entry_id(found[0][0])[1]
            if seq > self._tops.get(lane, 0):
                self._tops[lane] = seq
        return found

    async def drop_lanes(self, lanes: Iterable[str], session: AsyncClientSession) -> None:
        for lane in lanes:
            await self.entries.delete_many(
                {"k": {"$gte": f"{lane}|", "$lt": f"{lane}|~"}}, session=session
            )
