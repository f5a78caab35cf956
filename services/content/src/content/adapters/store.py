"""The content database: its collections, the indexes every query needs, and the client.

Ids are UUID strings. Feed order uses one string sort key per document (`feedKey`:
publication time + id, `sortKey`: start time + id) so a cursor page is a single index
range on any MongoDB-protocol server, however deep in the feed it starts.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, TypeAlias

from bson.codec_options import CodecOptions
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid, OperationFailure

from kopano.outbox import MongoOutbox

Doc: TypeAlias = dict[str, Any]

ASC, DESC = ASCENDING, DESCENDING

# Every feed and lookup query has an index; `migrate` and start-up create them (idempotent).
INDEXES: dict[str, list[IndexModel]] = {
    "posts": [
        IndexModel([("status", ASC), ("hidden", ASC), ("feedKey", DESC)], name="feed"),
        IndexModel(
            [("kind", ASC), ("status", ASC), ("hidden", ASC), ("feedKey", DESC)], name="feed_kind"
        ),
        IndexModel(
            [("tags", ASC), ("status", ASC), ("hidden", ASC), ("feedKey", DESC)], name="feed_tag"
        ),
        IndexModel(
            [("language", ASC), ("status", ASC), ("hidden", ASC), ("feedKey", DESC)],
            name="feed_language",
        ),
        IndexModel(
            [("organisationId", ASC), ("status", ASC), ("hidden", ASC), ("feedKey", DESC)],
            name="feed_organisation",
        ),
        IndexModel(
            [("authorId", ASC), ("status", ASC), ("hidden", ASC), ("feedKey", DESC)],
            name="feed_author",
        ),
        # An author's own posts in any state, newest change first.
        IndexModel([("authorId", ASC), ("updateKey", DESC)], name="author_posts"),
        # The moderation queue: oldest submission first.
        IndexModel([("status", ASC), ("updateKey", ASC)], name="moderation_queue"),
    ],
    "comments": [
        IndexModel([("postId", ASC), ("createdKey", ASC)], name="comments_by_post"),
        IndexModel([("authorId", ASC)], name="comments_by_author"),
    ],
    "reactions": [
        IndexModel([("postId", ASC), ("memberId", ASC)], name="one_per_member", unique=True),
        IndexModel([("memberId", ASC)], name="reactions_by_member"),
    ],
    "reports": [
        IndexModel([("resolved", ASC), ("createdKey", ASC)], name="open_reports"),
        IndexModel(
            [("targetType", ASC), ("targetId", ASC), ("reporterId", ASC)],
            name="one_report_per_member",
            unique=True,
        ),
        # A member's own reports (their data copy, erasure).
        IndexModel([("reporterId", ASC)], name="reports_by_reporter"),
    ],
    "gatherings": [
        IndexModel(
            [("status", ASC), ("country", ASC), ("cityKey", ASC), ("sortKey", ASC)],
            name="upcoming_by_place",
        ),
        IndexModel([("status", ASC), ("sortKey", ASC)], name="upcoming"),
        IndexModel(
            [("organiserOrganisationId", ASC), ("status", ASC), ("sortKey", ASC)],
            name="by_organisation",
        ),
        IndexModel([("organiserMemberId", ASC)], name="by_organiser_member"),
        IndexModel([("createdBy", ASC)], name="by_creator"),
    ],
    "rsvps": [
        IndexModel([("eventId", ASC), ("memberId", ASC)], name="one_per_member", unique=True),
        # The waitlist, first come first served.
        IndexModel([("eventId", ASC), ("response", ASC), ("queueKey", ASC)], name="waitlist"),
        IndexModel([("memberId", ASC)], name="rsvps_by_member"),
    ],
    # Projection of organisation roles from members' events (who officiates where).
    "org_roles": [
        IndexModel([("memberId", ASC)], name="roles_by_member"),
        IndexModel([("organisationId", ASC)], name="roles_by_organisation"),
    ],
    "organisations": [],
    # Projection of members' suspensions: `_id` = member id, `suspended`, `changedAt`.
    "suspensions": [],
    # Feed lanes (see `feed_lanes`): entries keyed `<lane>|<seq>`, found by post to move them.
    # (`k` repeats `_id` in a secondary index: some servers scan `_id` ranges in full.)
    "feed_entries": [
        IndexModel([("k", ASC)], name="lane_order", unique=True),
        IndexModel([("postId", ASC)], name="entries_by_post"),
    ],
    "feed_counters": [],
    "inbox": [],
}

CODEC = CodecOptions[Doc](tz_aware=True)


# Indexes earlier versions created that no query uses any more: migrate drops them, since
# each one still costs every write (`feed_search`: the multikey index of search words, replaced
# by the search lanes).
RETIRED_INDEXES: dict[str, list[str]] = {"posts": ["feed_search"]}


@dataclass
class ContentStore:
    client: AsyncMongoClient[Doc]
    db: AsyncDatabase[Doc]

    @classmethod
    def connect(cls, url: str, database: str) -> ContentStore:
        client: AsyncMongoClient[Doc] = AsyncMongoClient(url, tz_aware=True)
        return cls(client, client.get_database(database, codec_options=CODEC))

    @property
    def posts(self) -> AsyncCollection[Doc]:
        return self.db["posts"]

    @property
    def comments(self) -> AsyncCollection[Doc]:
        return self.db["comments"]

    @property
    def reactions(self) -> AsyncCollection[Doc]:
        return self.db["reactions"]

    @property
    def reports(self) -> AsyncCollection[Doc]:
        return self.db["reports"]

    @property
    def gatherings(self) -> AsyncCollection[Doc]:
        return self.db["gatherings"]

    @property
    def rsvps(self) -> AsyncCollection[Doc]:
        return self.db["rsvps"]

    @property
    def org_roles(self) -> AsyncCollection[Doc]:
        return self.db["org_roles"]

    @property
    def suspensions(self) -> AsyncCollection[Doc]:
        return self.db["suspensions"]

    @property
    def organisations(self) -> AsyncCollection[Doc]:
        return self.db["organisations"]

    async def migrate(self) -> None:
        """Create collections (transactions need them to exist) and every index. Idempotent."""
        existing = set(await self.db.list_collection_names())
        for name in [*INDEXES, "outbox"]:
            if name not in existing:
                # Another instance may create it at the same moment.
                with contextlib.suppress(CollectionInvalid):
                    await self.db.create_collection(name)
        for name, indexes in INDEXES.items():
            if indexes:
                await self.db[name].create_indexes(indexes)
        for name, retired in RETIRED_INDEXES.items():
            present = await self.db[name].index_information()
            for index in retired:
                if index in present:
                    with contextlib.suppress(OperationFailure):  # another instance dropped it
                        await self.db[name].drop_index(index)
        await MongoOutbox(self.db).ensure_indexes()

    async def close(self) -> None:
        await self.client.close()
