"""`python -m content migrate`: idempotent, and every query the service runs has its index."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from content.__main__ import main
from content.adapters.feed_lanes import entry_id

pytestmark = pytest.mark.integration


def _stages(plan: dict[str, Any]) -> list[str]:
    found = [str(plan.get("stage"))]
    for key in ("inputStage", "queryPlan"):
        if isinstance(plan.get(key), dict):
            found += _stages(plan[key])
    for child in plan.get("inputStages", []):
        found += _stages(child)
    return found


async def _plans(url: str, database: str) -> dict[str, list[str]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
    db = client[database]
    queries: dict[str, tuple[str, dict[str, Any], list[tuple[str, int]]]] = {
        "feed page": (
            "feed_entries",
            {"k": {"$gte": entry_id("all", 1), "$lte": entry_id("all", 25)}},
            [("k", -1)],
        ),
        "entries of a post": ("feed_entries", {"postId": "p"}, []),
        "lane place probe": (
            "feed_entries",
            {"k": {"$in": [entry_id("tag:x", 7), entry_id("tag:x", 8)]}},
            [],
        ),
        "moderation queue": ("posts", {"status": "SUBMITTED"}, [("updateKey", 1)]),
        "an author's posts": ("posts", {"authorId": "a"}, [("updateKey", -1)]),
        "comments of a post": ("comments", {"postId": "p"}, [("createdKey", 1)]),
        "a member's reaction": ("reactions", {"postId": "p", "memberId": "m"}, []),
        "open reports": ("reports", {"resolved": False}, [("createdKey", 1)]),
        "upcoming in a city": (
            "gatherings",
            {
                "status": "SCHEDULED",
                "country": "ZA",
                "cityKey": "johannesburg",
                "sortKey": {"$gt": "2026"},
            },
            [("sortKey", 1)],
        ),
        "waitlist": ("rsvps", {"eventId": "e", "response": "WAITLISTED"}, [("queueKey", 1)]),
        "a member's RSVP": ("rsvps", {"eventId": "e", "memberId": "m"}, []),
        "officials": ("org_roles", {"memberId": "m"}, []),
        # A member's copy of their data, and erasure.
        "a member's comments": ("comments", {"authorId": "m"}, []),
        "a member's reactions": ("reactions", {"memberId": "m"}, []),
        "a member's reports": ("reports", {"reporterId": "m"}, []),
        "a member's RSVPs": ("rsvps", {"memberId": "m"}, []),
        "events a member organises": ("gatherings", {"organiserMemberId": "m"}, []),
        "events a member created": ("gatherings", {"createdBy": "m"}, []),
    }
    plans: dict[str, list[str]] = {}
    try:
        for name, (collection, query, sort) in queries.items():
            cursor = db[collection].find(query)
            if sort:
                cursor = cursor.sort(sort)
            explained = await cursor.explain()
            plans[name] = _stages(explained["queryPlanner"]["winningPlan"])
    finally:
        await client.close()
    return plans


def test_migrate_is_idempotent_and_indexes_every_query(
    mongodb_url: str, mongo_database_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONTENT_MONGODB_URL", mongodb_url)
    monkeypatch.setenv("CONTENT_MONGODB_DATABASE", mongo_database_name)
    assert main(["migrate"]) == 0
    assert main(["migrate"]) == 0  # again: nothing to do, no error
    plans = asyncio.run(_plans(mongodb_url, mongo_database_name))
    unindexed = {name: stages for name, stages in plans.items() if "IXSCAN" not in stages}
    assert unindexed == {}
    assert all("COLLSCAN" not in stages for stages in plans.values()), plans


def test_migrate_drops_indexes_no_query_uses(
    mongodb_url: str, mongo_database_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database from before the search lanes still has the multikey `feed_search` index,
    which every post write would keep paying for."""
    monkeypatch.setenv("CONTENT_MONGODB_URL", mongodb_url)
    monkeypatch.setenv("CONTENT_MONGODB_DATABASE", mongo_database_name)

    async def index_names(create_old: bool) -> set[str]:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url)
        try:
            posts = client[mongo_database_name]["posts"]
            if create_old:
                await posts.create_index(
                    [("tokens", 1), ("status", 1), ("hidden", 1), ("feedKey", -1)],
                    name="feed_search",
                )
            return set(await posts.index_information())
        finally:
            await client.close()

    assert main(["migrate"]) == 0
    assert "feed_search" in asyncio.run(index_names(create_old=True))
    assert main(["migrate"]) == 0
    remaining = asyncio.run(index_names(create_old=False))
    assert "feed_search" not in remaining
    assert "feed_author" in remaining  # the live ones stay
