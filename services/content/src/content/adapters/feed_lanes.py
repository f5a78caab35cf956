"""Feed lanes: each published post's place in every feed it belongs to, by sequence number.

A lane is one feed (`all`, `kind:NEWS_LESOTHO`, `tag:maseru`, `lang:st`, `org:<id>`,
`author:<id>`) or one search term (`tok:<word>` for a whole word of title and summary,
`pre:<first letters>` for the words starting with those letters). When a post becomes
visible it takes the next number of each of its lanes (a counter document, incremented in
the publishing transaction) and keeps those numbers for good, so a post hidden and
restored returns to its place. An entry document `<lane>|<seq, zero-padded>` exists while
the post is visible.

A post that was published before and joins a lane later (an edit changed its kind, tags,
language or words) is slotted in at its publication-order place: after the lane's entry
`s` of the last post published before it, as `<lane>|<s>.<its number in all>` — between
`s` and `s + 1`, so lane order stays publication order without renumbering anything.

A page is then a short range of the indexed `k` (= `_id`) just below the cursor's number — a
bounded index range whatever the engine, and whatever the depth in the feed: the cost of a
page does not grow with the size of the feed, even on servers that read a whole index
range before applying a limit.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from content.adapters.documents import search_tokens
from content.domain.posts import Post, PostStatus

Doc = dict[str, Any]
SEQ_WIDTH: Final = 12
ALL: Final = "all"
# Search lanes: a whole word, and the words sharing their first PREFIX_LENGTH letters
# (longer prefixes walk that lane and check the rest on the post).
PREFIX_LENGTH: Final = 3
# How long a lane's size (its counter) is trusted without reading it again.
TOP_TTL_SECONDS: Final = 5.0
MAX_CACHED_TOPS: Final = 20_000
# Binary search for a late joiner's place: entries read per probe.
PROBE_WIDTH: Final = 4
# Each entry carries a Bloom filter of all its post's lanes, so a walk can skip most posts
# that are not in the other lanes of a query without looking them up.
SIGNATURE_BITS_PER_LANE: Final = 10
SIGNATURE_HASHES: Final = 5
SIGNATURE_MAX_BYTES: Final = 512


def word_lane(word: str) -> str:
    return f"tok:{word}"


def prefix_lane(word: str) -> str | None:
    """The lane of the words sharing `word`'s first PREFIX_LENGTH letters (None if shorter)."""
    return f"pre:{word[:PREFIX_LENGTH]}" if len(word) >= PREFIX_LENGTH else None


def search_lanes(title: str, summary: str) -> list[str]:
    words = search_tokens(title, summary)
    prefixes = (prefix_lane(w) for w in words)
    return [word_lane(w) for w in words] + list(dict.fromkeys(p for p in prefixes if p))


def lanes_of(post: Post) -> list[str]:
    c = post.content
    lanes = [ALL, f"kind:{c.kind.value}", f"lang:{c.language.value}", f"author:{post.author_id}"]
    lanes += [f"tag:{t}" for t in c.tags]
    if c.organisation_id is not None:
        lanes.append(f"org:{c.organisation_id}")
    return lanes + search_lanes(c.title, c.summary)


def _lane_hashes(lane: str) -> tuple[int, int]:
    digest = hashlib.blake2b(lane.encode(), digest_size=16).digest()
    return int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:], "little") | 1


def signature(lanes: list[str]) -> bytes:
    """A Bloom filter of `lanes` (about 1% false positives, never a false negative)."""
    size = min(SIGNATURE_MAX_BYTES, max(16, -(-len(lanes) * SIGNATURE_BITS_PER_LANE // 8)))
    bits = bytearray(size)
    for lane in lanes:
        h1, h2 = _lane_hashes(lane)
        for i in range(SIGNATURE_HASHES):
            bit = (h1 + i * h2) % (size * 8)
            bits[bit >> 3] |= 1 << (bit & 7)
    return bytes(bits)


def may_be_in(sig: bytes, hashes: list[tuple[int, int]]) -> bool:
    """False only if the post whose signature this is is surely not in every lane hashed."""
    width = len(sig) * 8
    for h1, h2 in hashes:
        for i in range(SIGNATURE_HASHES):
            bit = (h1 + i * h2) % width
            if not sig[bit >> 3] & (1 << (bit & 7)):
                return False
    return True


def entry_id(lane: str, seq: int, after_all: int | None = None) -> str:
    """`<lane>|<seq>`, or `<lane>|<seq>.<n>` for a late joiner slotted in after `seq`."""
    base = f"{lane}|{seq:0{SEQ_WIDTH}d}"
    return base if after_all is None else f"{base}.{after_all:0{SEQ_WIDTH}d}"


def split_entry_id(value: str) -> tuple[str, int]:
    """The lane and the (whole) number of an entry key; ValueError if it is not one."""
    lane, bar, place = value.rpartition("|")
    seq, _, sub = place.partition(".")
    if not bar or not lane or len(seq) != SEQ_WIDTH or not seq.isdigit():
        raise ValueError(value)
    if sub and (len(sub) != SEQ_WIDTH or not sub.isdigit()):
        raise ValueError(value)
    return lane, int(seq)


def _place(lane: str, value: int | str) -> str:
    """An entry key from a stored place: a number, or `<seq>.<n>` for a late joiner."""
    return entry_id(lane, value) if isinstance(value, int) else f"{lane}|{value}"


def is_live(post: Post) -> bool:
    return post.status is PostStatus.PUBLISHED and not post.hidden


@dataclass(frozen=True, slots=True)
class Walk:
    """Entries accepted on a walk down a lane, highest first. `resume` is set when the walk
    stopped at its budget: the position to continue below."""

    found: list[tuple[str, Doc]]
    exhausted: bool
    resume: str | None


class FeedLanes:
    def __init__(self, entries: AsyncCollection[Doc], counters: AsyncCollection[Doc]) -> None:
        self.entries = entries
        self.counters = counters
        self.posts: AsyncCollection[Doc] = entries.database["posts"]
        self._tops: dict[str, tuple[int, float]] = {}

    # ------------------------------------------------------------------ writes

    async def _take_numbers(
        self, lanes: list[str], session: AsyncClientSession | None
    ) -> dict[str, int]:
        """The next number of each lane: one batch of `$inc`, then one read of the counters
        (the transaction sees its own increments and holds them against other writers)."""
        if not lanes:
            return {}
        await self.counters.bulk_write(
            [UpdateOne({"_id": lane}, {"$inc": {"seq": 1}}, upsert=True) for lane in lanes],
            ordered=False,
            session=session,
        )
        found = self.counters.find({"_id": {"$in": lanes}}, session=session)
        return {d["_id"]: int(d["seq"]) async for d in found}

    async def sync(
        self, post: Post, seqs: dict[str, Any], session: AsyncClientSession | None
    ) -> dict[str, Any]:
        """Make the post's entries match its state; returns its (kept) lane places."""
        post_id = str(post.id)
        if not is_live(post):
            await self.entries.delete_many({"postId": post_id}, session=session)
            return seqs
        wanted = lanes_of(post)
        places: dict[str, Any] = dict(seqs)
        joining = [lane for lane in wanted if lane not in places]
        published_before = places.get(ALL)
        if isinstance(published_before, int):
            places.update(await self._slots(joining, published_before, session))
        else:
            places.update(await self._take_numbers(joining, session))
        keep = [_place(lane, places[lane]) for lane in wanted]
        sig = signature(wanted)
        await self.entries.delete_many({"postId": post_id, "_id": {"$nin": keep}}, session=session)
        await self.entries.bulk_write(
            [
                UpdateOne(
                    {"_id": eid}, {"$set": {"k": eid, "postId": post_id, "s": sig}}, upsert=True
                )
                for eid in keep
            ],
            ordered=False,
            session=session,
        )
        return places

    async def _slots(
        self, lanes: list[str], all_seq: int, session: AsyncClientSession | None
    ) -> dict[str, str]:
        """Places for a post published before (number `all_seq` in `all`) joining `lanes`:
        after the last entry of a post published before it. The lane's top entry first
        (a recent post, or posts indexed in publication order, need no more), then a binary
        search over its numbers, all lanes probed together: at most about log2(lane size)
        round trips."""
        if not lanes:
            return {}
        tops = await self.tops(lanes, session=session, fresh=True)
        # Per lane: the answer is in [low, high]; low = 0 means "before every entry".
        bounds = {lane: (0, tops.get(lane, 0)) for lane in lanes}
        at_top = True
        while open_lanes := {ln: b for ln, b in bounds.items() if b[0] < b[1]}:
            mids = {
                ln: high if at_top else (low + high + 1) // 2
                for ln, (low, high) in open_lanes.items()
            }
            at_top = False
            # Exact keys, not ranges: an `$or` of ranges is not an index read on every server.
            keys = [entry_id(ln, mid + i) for ln, mid in mids.items() for i in range(PROBE_WIDTH)]
            probed = await self.entries.find(
                {"k": {"$in": keys}}, {"k": 1, "postId": 1}, session=session
            ).to_list()
            posts = self.posts.find(
                {"_id": {"$in": list({d["postId"] for d in probed})}},
                {"feedSeqs": 1},
                session=session,
            )
            numbers = {p["_id"]: (p.get("feedSeqs") or {}).get(ALL) async for p in posts}
            first_seen: dict[str, tuple[int, int]] = {}
            for d in sorted(probed, key=lambda d: str(d["k"])):
                lane, seq = split_entry_id(d["k"])
                number = numbers.get(d["postId"])
                if lane in mids and lane not in first_seen and isinstance(number, int):
                    first_seen[lane] = (seq, number)
            for ln, mid in mids.items():
                low, high = bounds[ln]
                seen = first_seen.get(ln)
                if seen is not None and seen[1] < all_seq:
                    bounds[ln] = (min(seen[0], high), high)
                else:
                    # Everything from `mid` up came later (or the probe met only a gap).
                    bounds[ln] = (low, mid - 1)
        return {
            ln: entry_id(ln, low, all_seq).rpartition("|")[2] for ln, (low, _) in bounds.items()
        }

    async def drop_lanes(self, lanes: Iterable[str], session: AsyncClientSession) -> None:
        """Remove lanes for good: their entries and their counters (a lane named after a
        member is personal data once they erased their account)."""
        dropped = list(lanes)
        for lane in dropped:
            await self.entries.delete_many(
                {"k": {"$gte": f"{lane}|", "$lt": f"{lane}|~"}}, session=session
            )
        await self.counters.delete_many({"_id": {"$in": dropped}}, session=session)

    # ------------------------------------------------------------------ reads

    async def tops(
        self,
        lanes: Iterable[str],
        *,
        session: AsyncClientSession | None = None,
        fresh: bool = False,
    ) -> dict[str, int]:
        """Each lane's highest number (0 for a lane never used). Cached for a few seconds:
        a first page reads from a little below it with no upper bound, so posts published
        since are still found, and lane sizes only steer the choice of lane to walk."""
        now = time.monotonic()
        wanted = list(dict.fromkeys(lanes))
        stale = [
            lane
            for lane in wanted
            if fresh or lane not in self._tops or now - self._tops[lane][1] > TOP_TTL_SECONDS
        ]
        if stale:
            found = {
                d["_id"]: int(d["seq"])
                async for d in self.counters.find({"_id": {"$in": stale}}, session=session)
            }
            if len(self._tops) > MAX_CACHED_TOPS:
                self._tops.clear()
            for lane in stale:
                self._tops[lane] = (found.get(lane, 0), now)
        return {lane: self._tops[lane][0] for lane in wanted}

    async def top(self, lane: str) -> int:
        return (await self.tops([lane]))[lane]

    async def window(
        self,
        lane: str,
        lower: int,
        below: str | None,
        also_in: list[tuple[int, int]] | None = None,
    ) -> list[tuple[str, Doc | None]]:
        """Entries of `lane` from number `lower` up to (not including) the key `below` (None:
        no limit), highest first, each with its post — one round trip. With `also_in` (lane
        hashes), only the entries whose signature admits those lanes, and their posts
        fetched in a second round trip: most others cost an index entry, not a post."""
        bounds: Doc = {"$gte": entry_id(lane, lower) if lower > 1 else f"{lane}|"}
        bounds["$lt"] = below if below is not None else f"{lane}|~"
        found: list[tuple[str, Doc | None]]
        if also_in is None:
            lookup = {"from": "posts", "localField": "postId", "foreignField": "_id", "as": "post"}
            cursor = await self.entries.aggregate(
                [{"$match": {"k": bounds}}, {"$sort": {"k": -1}}, {"$lookup": lookup}]
            )
            found = [(d["k"], d["post"][0] if d["post"] else None) async for d in cursor]
            entries = found
        else:
            keys = (
                await self.entries.find({"k": bounds}, {"k": 1, "postId": 1, "s": 1})
                .sort("k", -1)
                .to_list()
            )
            entries = [(d["k"], None) for d in keys]
            wanted = [d for d in keys if "s" not in d or may_be_in(d["s"], also_in)]
            posts: dict[str, Doc] = {}
            if wanted:
                ids = [d["postId"] for d in wanted]
                posts = {p["_id"]: p async for p in self.posts.find({"_id": {"$in": ids}})}
            found = [(d["k"], posts.get(d["postId"])) for d in wanted]
        if below is None and entries:
            seq = split_entry_id(entries[0][0])[1]
            if seq > self._tops.get(lane, (0, 0.0))[0]:
                self._tops[lane] = (seq, time.monotonic())
        return found

    async def walk(
        self,
        lane: str,
        accept: Callable[[Doc], bool],
        *,
        want: int,
        below: str | None,
        budget: int,
        span: int | None = None,
        also_in: list[str] | None = None,
    ) -> Walk:
        """Walk `lane` down from the top (or from just below the key `below`), keeping the
        entries whose post `accept`s, until `want` are found, the lane ends, or about
        `budget` numbers were read — so a page costs a bounded amount of work whatever
        the lane's size and however rarely its posts are accepted. `span`: how many
        numbers to read first (default: a few more than `want`, for the gaps hidden and
        archived posts leave). `also_in`: other lanes every accepted post is in, to skip
        most others by their entry's signature."""
        span = span or want + 4
        hashes = [_lane_hashes(other) for other in also_in] if also_in else None
        upper = await self.top(lane) if below is None else split_entry_id(below)[1]
        lower = max(1, upper - span + 1)
        found: list[tuple[str, Doc]] = []
        read = 0
        while True:
            for key, doc in await self.window(lane, lower, below, hashes):
                if doc is not None and accept(doc):
                    found.append((key, doc))
                    if len(found) >= want:
                        return Walk(found, exhausted=False, resume=None)
            read += upper - lower + 1
            if lower <= 1:
                return Walk(found, exhausted=True, resume=None)
            below = entry_id(lane, lower)
            if read >= budget:
                return Walk(found, exhausted=False, resume=below)
            # Size the next range from the share accepted so far (with a margin), or double it.
            missing = want - len(found)
            guess = math.ceil(missing * read / len(found) * 1.5) + 4 if found else span * 2
            span = min(guess, max(budget - read, want))
            upper = lower - 1
            lower = max(1, upper - span + 1)
