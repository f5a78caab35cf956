"""Feed query latency of the content service at 100k posts (a benchmark, not a test).

Loads N published posts (default 100,000) into a MongoDB-protocol server — an embedded
secantusdb on a free port unless ``--mongodb-url`` is given — creates the service's
indexes, then times the service's feed use case (the same code the GraphQL resolvers
call) for: the first page of the whole feed, a cursor page deep in the feed (~90% of the
way down), the first page by kind / tag / language / author, and searches: a common word,
a rare word, two words, prefixes (with their own lane, and too short for one), a cursor
page deep in a common word's results, and a search that matches nothing and so reads its
whole work budget. Prints p50 / p99 per query, and CPU time per query (this process plus
the embedded server). Target: p99 under 20 ms for every page.

    .tools/bin/uv run --no-sync python -m bench.content_feed
    .tools/bin/uv run --no-sync python -m bench.content_feed --posts 20000 --runs 100
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.procstat import CLK_TCK, descendants, process_ticks
from content.adapters.documents import doc_to_post, new_post_doc
from content.adapters.feed_lanes import entry_id, is_live, lanes_of, signature
from content.adapters.store import ContentStore
from content.domain.posts import Author, Language, Post, PostDraft, PostKind, PostStatus
from content.service import ContentService, FeedFilter, ServiceConfig
from content.unit_of_work import UnitOfWorkFactory
from kopano.graphql import encode_cursor

WORDS = [
    "lesotho",
    "maseru",
    "leribe",
    "mafeteng",
    "basotho",
    "gauteng",
    "london",
    "kopano",
    "pitso",
    "seboka",
    "selemo",
    "letsolo",
    "mokete",
    "tumelo",
    "thuto",
    "bophelo",
    "khotso",
    "pula",
    "nala",
    "moshoeshoe",
    "blanket",
    "heritage",
    "diaspora",
    "funeral",
    "society",
    "chapter",
    "business",
    "ministry",
    "health",
    "education",
    "water",
    "mining",
    "textile",
    "wool",
    "mohair",
]
# About 0.2% of posts carry the rare word.
RARE_WORD = "thabana"
RARE_SHARE = 0.002
TAGS = ["maseru", "gauteng", "london", "health", "education", "sport", "culture", "business"]
AUTHORS = [uuid.uuid4() for _ in range(2_000)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_post(i: int, start: datetime, rng: random.Random) -> Post:
    at = start + timedelta(seconds=i * 7)
    title = " ".join(rng.choice(WORDS) for _ in range(6)).capitalize()
    summary = " ".join(rng.choice(WORDS) for _ in range(14))
    if rng.random() < RARE_SHARE:
        summary += f" {RARE_WORD}"
    post = Post(
        id=uuid.uuid4(),
        author_id=rng.choice(AUTHORS),
        content=PostDraft(
            kind=rng.choice(list(PostKind)),
            title=title,
            summary=summary,
            body="Body text " * 40,
            language=rng.choice(list(Language)),
            tags=tuple(rng.sample(TAGS, 2)),
            cover_image_url=None,
            organisation_id=None,
        ),
        status=PostStatus.PUBLISHED if rng.random() < 0.9 else PostStatus.SUBMITTED,
        created_at=at,
        updated_at=at,
        published_at=at,
    )
    return post


async def load(store: ContentStore, count: int, batch: int = 5_000) -> float:
    """Bulk-load posts with their feed entries as publishing would leave them (posts are
    published in time order, so lane numbers follow publication time), then build the
    indexes: much faster than indexing document by document."""
    rng = random.Random(42)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    counters: dict[str, int] = {}
    began = time.perf_counter()
    for offset in range(0, count, batch):
        docs, entries = [], []
        for i in range(offset, min(count, offset + batch)):
            post = make_post(i, start, rng)
            doc = new_post_doc(post)
            if is_live(post):
                seqs = {}
                lanes = lanes_of(post)
                sig = signature(lanes)
                for lane in lanes:
                    seqs[lane] = counters[lane] = counters.get(lane, 0) + 1
                    entries.append(
                        {
                            "_id": entry_id(lane, seqs[lane]),
                            "k": entry_id(lane, seqs[lane]),
                            "postId": str(post.id),
                            "s": sig,
                        }
                    )
                doc["feedSeqs"] = seqs
            docs.append(doc)
        await store.posts.insert_many(docs, ordered=False)
        await store.db["feed_entries"].insert_many(entries, ordered=False)
        print(f"  {offset + len(docs):,} posts", end="\r", flush=True)
    await store.db["feed_counters"].insert_many(
        [{"_id": lane, "seq": seq} for lane, seq in counters.items()]
    )
    loaded = time.perf_counter() - began
    await store.migrate()
    print(f"  indexes built in {time.perf_counter() - began - loaded:.1f} s")
    return time.perf_counter() - began


def _server_ticks(pid: int | None) -> int:
    if pid is None:
        return 0
    ticks = process_ticks()
    return sum(ticks.get(p, 0) for p in descendants(pid))


async def timed(
    fn: Callable[[], Awaitable[object]], runs: int, server_pid: int | None
) -> tuple[float, float, float, float]:
    """p50, p99 and max latency in ms, and CPU ms per call (this process + the server)."""
    for _ in range(5):  # warm caches and the connection pool
        await fn()
    samples = []
    cpu0, ticks0 = time.process_time(), _server_ticks(server_pid)
    for _ in range(runs):
        t0 = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - t0) * 1000)
    cpu = time.process_time() - cpu0 + (_server_ticks(server_pid) - ticks0) / CLK_TCK
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return statistics.median(samples), p99, samples[-1], cpu * 1000 / runs


async def writes(
    service: ContentService, store: ContentStore, runs: int, server_pid: int | None
) -> None:
    """What the lanes cost a write: publishing a post (all its lanes numbered), and an
    edit that makes an old post join lanes (slotted in at its publication place)."""
    rng = random.Random(7)
    moderator = Author(member_id=uuid.uuid4(), roles=frozenset({"moderator"}))

    async def publish() -> object:
        draft = make_post(0, datetime.now(UTC), rng).content
        return await service.create_post(moderator, draft, submit=True)

    old_posts = (
        await store.posts.find({"status": "PUBLISHED", "hidden": False})
        .sort("feedKey", 1)
        .skip(1_000)
        .limit(runs + 5)
        .to_list()
    )
    olds = iter(old_posts)

    async def edit_old() -> object:
        post = doc_to_post(next(olds))
        c = post.content
        draft = replace(
            c,
            summary=f"{c.summary} selemo mokete {RARE_WORD}",
            tags=(*c.tags, *[t for t in TAGS if t not in c.tags][:1]),
        )
        return await service.edit_post(
            Author(member_id=post.author_id), post.id, draft, expected_version=None
        )

    print(f"\nwrites, {runs} runs each")
    print(f"{'write':<38} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'CPU ms':>8}")
    for name, fn in [("publish a post", publish), ("edit: an old post joins lanes", edit_old)]:
        p50, p99, worst, cpu = await timed(fn, runs, server_pid)
        print(f"{name:<38} {p50:>8.2f} {p99:>8.2f} {worst:>8.2f} {cpu:>8.2f}")


async def run(url: str, posts: int, runs: int, first: int, server_pid: int | None = None) -> None:
    store = ContentStore.connect(url, f"bench_content_{uuid.uuid4().hex[:8]}")
    try:
        print(f"loading {posts:,} posts ...", flush=True)
        seconds = await load(store, posts)
        print(f"loaded in {seconds:.1f} s ({posts / seconds:,.0f} posts/s)")
        service = ContentService(ServiceConfig(uow=UnitOfWorkFactory(store), store=store))
        published = await store.posts.count_documents({"status": "PUBLISHED"})
        # The cursor a client holds after paging 90% of the way down the whole feed.
        top = await service.lanes.top("all")
        deep_cursor = encode_cursor([entry_id("all", top - int(published * 0.9))])
        author = AUTHORS[7]

        def feed(
            flt: FeedFilter, after: str | None = None, *, empty: bool = False
        ) -> Callable[[], Awaitable[object]]:
            async def call() -> object:
                page = await service.feed(flt, first=first, after=after)
                assert bool(page.items) != empty, "empty page" if not empty else "found"
                return page

            return call

        # One word is also a prefix: its search walks the lane of its first three letters.
        common = await service.lanes.top("pre:mas")
        deep_search = encode_cursor([entry_id("pre:mas", common - int(common * 0.9))])
        rare = await service.lanes.top(f"tok:{RARE_WORD}")

        cases = [
            ("first page", feed(FeedFilter())),
            (f"cursor page at {int(published * 0.9):,}", feed(FeedFilter(), deep_cursor)),
            ("by kind", feed(FeedFilter(kind=PostKind.OBITUARY))),
            ("by tag", feed(FeedFilter(tag="gauteng"))),
            ("by language", feed(FeedFilter(language=Language.SESOTHO))),
            ("by author", feed(FeedFilter(author_id=author))),
            (f"search common 'maseru' ({common:,})", feed(FeedFilter(search="maseru"))),
            (
                f"search 'maseru' cursor at {int(common * 0.9):,}",
                feed(FeedFilter(search="maseru"), deep_search),
            ),
            (f"search rare '{RARE_WORD}' ({rare})", feed(FeedFilter(search=RARE_WORD))),
            ("search 'maseru mohair'", feed(FeedFilter(search="maseru mohair"))),
            (f"search '{RARE_WORD} mohair'", feed(FeedFilter(search=f"{RARE_WORD} mohair"))),
            ("search prefix 'moshoe'", feed(FeedFilter(search="moshoe"))),
            ("search prefix 'basotho moshoe'", feed(FeedFilter(search="basotho moshoe"))),
            ("search short prefix 'mo'", feed(FeedFilter(search="mo"))),
            (
                "search 'maseru' + tag + language",
                feed(FeedFilter(search="maseru", tag="london", language=Language.ENGLISH)),
            ),
            ("search no match 'qq' (budget)", feed(FeedFilter(search="qq"), empty=True)),
        ]
        print(f"\n{published:,} published of {posts:,} posts; pages of {first}; {runs} runs each")
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"{'query':<38} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'CPU ms':>8}")
        for name, fn in cases:
            p50, p99, worst, cpu = await timed(fn, runs, server_pid)
            print(f"{name:<38} {p50:>8.2f} {p99:>8.2f} {worst:>8.2f} {cpu:>8.2f}")
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        await writes(service, store, min(runs, 30), server_pid)
        await store.db.client.drop_database(store.db.name)
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mongodb-url", help="a running server (default: embedded secantusdb)")
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--first", type=int, default=20)
    parser.add_argument("--cache", default="1G", help="embedded server's cache size")
    args = parser.parse_args()
    if args.mongodb_url:
        asyncio.run(run(args.mongodb_url, args.posts, args.runs, args.first))
        return
    from kopano.devstack.embedded import EmbeddedMongo

    # On disk with a larger cache: 100k posts and their feed entries outgrow the default
    # in-memory store.
    with tempfile.TemporaryDirectory(prefix="kopano-content-bench-") as data:
        server = EmbeddedMongo(Path(data) / "mongodb", _free_port(), cache_size=args.cache)
        server.start()
        try:
            asyncio.run(run(server.url, args.posts, args.runs, args.first, server.pid))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
