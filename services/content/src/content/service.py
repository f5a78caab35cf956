"""The content service's use cases. Each write is one MongoDB transaction (see `unit_of_work`)."""

from __future__ import annotations

import contextlib
import math
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from content import data_rights, events
from content.adapters.documents import (
    REMOVED_MEMBER_ID,
    Doc,
    comment_to_doc,
    doc_to_comment,
    doc_to_post,
    new_post_doc,
    normalise_words,
    post_to_doc,
    sort_key,
)
from content.adapters.feed_lanes import (
    ALL,
    FeedLanes,
    lanes_of,
    prefix_lane,
    split_entry_id,
    word_lane,
)
from content.adapters.store import ContentStore
from content.domain import posts as p
from content.domain.engagement import (
    SCRUBBED_TEXT,
    Comment,
    ReactionKind,
    ReportTarget,
    hide_comment,
    new_comment,
    reaction_count_changes,
    validate_report_reason,
)
from content.domain.errors import InvalidInput, MemberSuspended, NotAllowed, NotFound
from content.domain.gatherings import (
    Attendance,
    GatheringDetails,
    GatheringStatus,
)
from content.domain.posts import Author, Language, Post, PostDraft, PostKind, PostStatus
from content.unit_of_work import UnitOfWork, UnitOfWorkFactory
from kopano.auth import Principal
from kopano.errors import Conflict, Unauthenticated
from kopano.graphql import decode_cursor

Clock = Callable[[], datetime]
T = TypeVar("T")
MAX_SEARCH_WORDS: Final = 8
# Lane numbers a feed or search page reads at most before returning what it found.
MAX_SCAN: Final = 200
# ... when the other lanes of the query sift entries by their signatures first (cheaper).
MAX_SCAN_SIGNED: Final = 800
OFFICIAL_ROLES: Final = ("OWNER", "ADMIN")


def utc_now() -> datetime:
    # MongoDB keeps milliseconds: cut the rest so what is read back equals what was written.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def parse_uuid(raw: str | uuid.UUID, field_name: str) -> uuid.UUID:
    if isinstance(raw, uuid.UUID):
        return raw
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise NotFound("No such record.", field=field_name) from None


def _lane_cursor(after: str) -> str:
    key = _cursor_key(after)
    try:
        assert key is not None
        split_entry_id(key)
    except (AssertionError, ValueError):
        raise InvalidInput("Invalid cursor.", field="after") from None
    return key


def _filter_lanes(flt: FeedFilter) -> list[str]:
    """The lanes holding every post that passes the filter (its search words aside)."""
    lanes = [
        f"author:{flt.author_id}" if flt.author_id else None,
        f"org:{flt.organisation_id}" if flt.organisation_id else None,
        f"tag:{flt.tag}" if flt.tag else None,
        f"kind:{flt.kind.value}" if flt.kind else None,
        f"lang:{flt.language.value}" if flt.language else None,
    ]
    return [lane for lane in lanes if lane]


def _search_lanes(words: list[str]) -> list[str]:
    """Whole words have their lane; the last word, a prefix, has the lane of the words
    sharing its first letters when it has that many (shorter ones are checked on posts)."""
    *whole, last = words
    prefix = prefix_lane(last)
    return [word_lane(w) for w in whole] + ([prefix] if prefix else [])


def _has_words(doc: Doc, words: list[str]) -> bool:
    tokens = doc.get("tokens") or []
    *whole, last = words
    return all(w in tokens for w in whole) and any(t.startswith(last) for t in tokens)


def _matches(doc: Doc, flt: FeedFilter) -> bool:
    """A live post passing the filter (checked on the stored document)."""
    return (
        doc.get("status") == PostStatus.PUBLISHED.value
        and not doc.get("hidden", False)
        and (flt.kind is None or doc.get("kind") == flt.kind.value)
        and (flt.tag is None or flt.tag in (doc.get("tags") or ()))
        and (flt.language is None or doc.get("language") == flt.language.value)
        and (flt.organisation_id is None or doc.get("organisationId") == str(flt.organisation_id))
        and (flt.author_id is None or doc.get("authorId") == str(flt.author_id))
    )


def _cursor_key(after: str | None) -> str | None:
    if after is None:
        return None
    (value,) = decode_cursor(after, length=1)
    if not isinstance(value, str):
        raise InvalidInput("Invalid cursor.", field="after")
    return value


@dataclass(frozen=True, slots=True)
class FeedFilter:
    kind: PostKind | None = None
    tag: str | None = None
    language: Language | None = None
    organisation_id: uuid.UUID | None = None
    author_id: uuid.UUID | None = None
    search: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Any]
    has_next: bool
    keys: list[str] = field(default_factory=list)
    # Where to continue when a page stopped at its work budget before filling up.
    end_key: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    uow: UnitOfWorkFactory
    store: ContentStore
    event_source: str = "/kopano/content"
    post_topic: str = "content.post"
    comment_topic: str = "content.comment"
    event_topic: str = "content.event"
    clock: Clock = utc_now


class ContentService:
    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.store = config.store
        self.lanes = FeedLanes(self.store.db["feed_entries"], self.store.db["feed_counters"])

    # ------------------------------------------------------------------ who acts

    async def author_for(self, principal: Principal | None) -> Author | None:
        """The caller with their roles (from the token) and the verified organisations
        they officiate for (from the projection of members' organisation events)."""
        if principal is None:
            return None
        try:
            member_id = uuid.UUID(principal.subject)
        except ValueError:
            raise Unauthenticated("Access token subject is not a member.") from None
        return Author(
            member_id=member_id,
            roles=frozenset(principal.roles),
            official_of=frozenset(await self.official_of(member_id)),
        )

    async def official_of(self, member_id: uuid.UUID) -> set[uuid.UUID]:
        roles = self.store.org_roles.find(
            {"memberId": str(member_id), "role": {"$in": list(OFFICIAL_ROLES)}},
            {"organisationId": 1},
        )
        org_ids = [d["organisationId"] async for d in roles]
        if not org_ids:
            return set()
        verified = self.store.organisations.find(
            {"_id": {"$in": org_ids}, "verified": True, "removed": {"$ne": True}}, {"_id": 1}
        )
        return {uuid.UUID(d["_id"]) async for d in verified}

    # ------------------------------------------------------------------ suspensions

    async def _run_as(self, actor: Author, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Run a write for `actor` in one transaction, refused if they are suspended (read
        in the same transaction, so a write never commits after the suspension is seen)."""

        async def checked(uow: UnitOfWork) -> T:
            found = await uow.store.suspensions.find_one(
                {"_id": str(actor.member_id), "suspended": True}, {"_id": 1}, session=uow.session
            )
            if found is not None:
                raise MemberSuspended()
            return await work(uow)

        return await self.config.uow.run(checked)

    async def record_suspension(
        self, uow: UnitOfWork, member_id: uuid.UUID, *, suspended: bool, at: datetime
    ) -> bool:
        """`member.suspended` / `member.restored`: the latest of them (by the members
        service's time) decides; an older one arriving late changes nothing."""
        key, s = str(member_id), uow.session
        current = await uow.store.suspensions.find_one({"_id": key}, session=s)
        if current is not None and current["changedAt"] > at:
            return False
        await uow.store.suspensions.update_one(
            {"_id": key},
            {"$set": {"suspended": suspended, "changedAt": at}},
            upsert=True,
            session=s,
        )
        return True

    # ------------------------------------------------------------------ lanes of older posts

    async def index_unlaned_posts(self) -> int:
        """Give every visible post the lanes it lacks (posts published before search lanes
        existed), oldest first, one transaction per post; they join at their publication
        place. Idempotent; returns how many posts changed."""
        changed = 0
        live = self.store.posts.find({"status": PostStatus.PUBLISHED.value, "hidden": False}).sort(
            "feedKey", ASCENDING
        )
        async for doc in live:
            if set(lanes_of(doc_to_post(doc))) <= set(doc.get("feedSeqs") or {}):
                continue

            async def work(uow: UnitOfWork, post_id: str = doc["_id"]) -> None:
                found = await self._load_post_doc(uow, uuid.UUID(post_id))
                await self._sync_lanes(uow, doc_to_post(found), dict(found.get("feedSeqs") or {}))

            await self.config.uow.run(work)
            changed += 1
        return changed

    # ------------------------------------------------------------------ posts: writes

    async def _load_post_doc(self, uow: UnitOfWork, post_id: uuid.UUID) -> Doc:
        doc = await uow.store.posts.find_one({"_id": str(post_id)}, session=uow.session)
        if doc is None:
            raise NotFound("No such post.", field="id")
        return doc

    async def _load_post(self, uow: UnitOfWork, post_id: uuid.UUID) -> Post:
        return doc_to_post(await self._load_post_doc(uow, post_id))

    async def _sync_lanes(self, uow: UnitOfWork, post: Post, seqs: dict[str, Any]) -> None:
        """Keep the post's feed entries in step with its state, in the same transaction."""
        kept = await self.lanes.sync(post, seqs, uow.session)
        if kept != seqs:
            await uow.store.posts.update_one(
                {"_id": str(post.id)}, {"$set": {"feedSeqs": kept}}, session=uow.session
            )

    async def _save_post(self, uow: UnitOfWork, post: Post, expected_version: int) -> None:
        changes = post_to_doc(post)
        del changes["_id"]
        result = await uow.store.posts.update_one(
            {"_id": str(post.id), "version": expected_version},
            {"$set": changes},
            session=uow.session,
        )
        if result.matched_count != 1:
            raise Conflict("The post was changed by someone else; reload it.", field="version")

    def _announce(
        self, uow: UnitOfWork, before: PostStatus, before_hidden: bool, post: Post
    ) -> None:
        src, topic = self.config.event_source, self.config.post_topic
        was_live = before is PostStatus.PUBLISHED and not before_hidden
        is_live = post.status is PostStatus.PUBLISHED and not post.hidden
        if is_live and not was_live:
            uow.publish(events.post_published(post, src), topic)
        elif was_live and not is_live:
            reason = "hidden" if post.hidden else post.status.value.lower()
            uow.publish(events.post_removed(post, src, reason=reason, at=post.updated_at), topic)

    async def create_post(self, author: Author, draft: PostDraft, *, submit: bool) -> Post:
        async def work(uow: UnitOfWork) -> Post:
            post = p.new_post(author, draft, at=self.config.clock(), submit=submit)
            await uow.store.posts.insert_one(new_post_doc(post), session=uow.session)
            await self._sync_lanes(uow, post, {})
            self._announce(uow, PostStatus.DRAFT, False, post)
            return post

        return await self._run_as(author, work)

    async def _change_post(
        self, actor: Author, post_id: uuid.UUID, change: Callable[[Post, datetime], None]
    ) -> Post:
        async def work(uow: UnitOfWork) -> Post:
            doc = await self._load_post_doc(uow, post_id)
            post = doc_to_post(doc)
            before, before_hidden, version = post.status, post.hidden, post.version
            change(post, self.config.clock())
            await self._save_post(uow, post, version)
            await self._sync_lanes(uow, post, dict(doc.get("feedSeqs") or {}))
            self._announce(uow, before, before_hidden, post)
            return post

        return await self._run_as(actor, work)

    async def edit_post(
        self, author: Author, post_id: uuid.UUID, draft: PostDraft, expected_version: int | None
    ) -> Post:
        return await self._change_post(
            author,
            post_id,
            lambda post, at: p.edit_post(
                post, author, draft, at=at, expected_version=expected_version
            ),
        )

    async def submit_post(self, author: Author, post_id: uuid.UUID) -> Post:
        return await self._change_post(
            author, post_id, lambda post, at: p.submit_post(post, author, at=at)
        )

    async def moderate_post(
        self, moderator: Author, post_id: uuid.UUID, *, approve: bool, reason: str | None
    ) -> Post:
        if not moderator.is_moderator:
            raise NotAllowed("only moderators review posts")
        return await self._change_post(
            moderator,
            post_id,
            lambda post, at: p.moderate(post, moderator, approve=approve, reason=reason, at=at),
        )

    async def archive_post(self, actor: Author, post_id: uuid.UUID) -> Post:
        return await self._change_post(
            actor, post_id, lambda post, at: p.archive(post, actor, at=at)
        )

    async def set_post_hidden(self, moderator: Author, post_id: uuid.UUID, hidden: bool) -> Post:
        if not moderator.is_moderator:
            raise NotAllowed("only moderators hide or restore posts")
        return await self._change_post(
            moderator, post_id, lambda post, at: p.set_hidden(post, moderator, hidden=hidden, at=at)
        )

    # ------------------------------------------------------------------ posts: reads

    async def posts_by_ids(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Post]:
        keys = [str(i) for i in ids]
        found = self.store.posts.find({"_id": {"$in": keys}})
        return {post.id: post for post in [doc_to_post(d) async for d in found]}

    async def get_post(self, viewer: Author | None, post_id: uuid.UUID) -> Post | None:
        post = (await self.posts_by_ids([post_id])).get(post_id)
        return post if post is not None and p.visible_to(post, viewer) else None

    async def _page(
        self,
        collection: Any,
        query: Doc,
        key_field: str,
        *,
        first: int,
        after: str | None,
        descending: bool,
    ) -> tuple[list[Doc], bool]:
        key = _cursor_key(after)
        if key is not None:
            query = {**query, key_field: {"$lt" if descending else "$gt": key}}
        order = DESCENDING if descending else ASCENDING
        cursor = collection.find(query).sort(key_field, order).limit(first + 1)
        docs: list[Doc] = await cursor.to_list()
        return docs[:first], len(docs) > first

    async def feed(self, flt: FeedFilter, *, first: int, after: str | None) -> Page:
        if flt.tag is not None:
            tags = p.normalise_tags([flt.tag])
            if not tags:
                raise InvalidInput("not a tag", field="tag")
            flt = replace(flt, tag=tags[0])
        lanes = _filter_lanes(flt)
        accept: Callable[[Doc], bool] = lambda doc: _matches(doc, flt)  # noqa: E731
        if flt.search is not None:
            words = normalise_words(flt.search)
            if not words:
                raise InvalidInput("give at least one word to search for", field="search")
            if len(words) > MAX_SEARCH_WORDS:
                raise InvalidInput(f"at most {MAX_SEARCH_WORDS} words", field="search")
            lanes += _search_lanes(words)
            accept = lambda doc: _matches(doc, flt) and _has_words(doc, words)  # noqa: E731
        lane, share = await self._driving_lane(lanes or [ALL], after)
        below: str | None = None
        if after is not None:
            below = _lane_cursor(after)
            if split_entry_id(below)[0] != lane:
                raise InvalidInput("This cursor belongs to another feed.", field="after")
        # Read enough numbers at once to expect a full page (fewer round trips).
        margin = 1.5 if share < 1 else 1.0
        span = math.ceil((first + 1) / max(share, 0.01) * margin) + 4
        others = [other for other in lanes if other != lane]
        budget = MAX_SCAN_SIGNED if others else MAX_SCAN
        span = min(budget, span)
        walk = await self.lanes.walk(
            lane, accept, want=first + 1, below=below, budget=budget, span=span, also_in=others
        )
        page = walk.found[:first]
        return Page(
            [doc_to_post(doc) for _, doc in page],
            len(walk.found) > first or walk.resume is not None,
            [key for key, _ in page],
            end_key=walk.resume if len(walk.found) <= first else None,
        )

    async def _driving_lane(self, lanes: list[str], after: str | None) -> tuple[str, float]:
        """The lane to walk — the smallest of those every result is in; the others are
        checked on each post — and the share of its posts expected to pass (the other
        lanes' shares of the whole feed, taken as independent). A cursor keeps the lane it
        was made on, if still a candidate, so pages stay consistent while sizes change."""
        sizes = await self.lanes.tops([*lanes, ALL])
        lane = min(lanes, key=lambda name: sizes[name])
        if after is not None:
            with contextlib.suppress(InvalidInput, ValueError):
                from_cursor = split_entry_id(_lane_cursor(after))[0]
                if from_cursor in lanes:
                    lane = from_cursor
        share = 1.0
        for other in lanes:
            if other != lane and sizes[ALL] > 0:
                share *= min(1.0, sizes[other] / sizes[ALL])
        return lane, share

    async def author_posts(
        self, viewer: Author | None, author_id: uuid.UUID, *, first: int, after: str | None
    ) -> Page:
        """A member's posts: everyone sees the published ones; the author and moderators
        also see drafts, submissions and rejections."""
        if viewer is not None and (viewer.member_id == author_id or viewer.is_moderator):
            docs, has_next = await self._page(
                self.store.posts,
                {"authorId": str(author_id)},
                "updateKey",
                first=first,
                after=after,
                descending=True,
            )
            return Page([doc_to_post(d) for d in docs], has_next, [d["updateKey"] for d in docs])
        return await self.feed(FeedFilter(author_id=author_id), first=first, after=after)

    async def moderation_queue(self, moderator: Author, *, first: int, after: str | None) -> Page:
        if not moderator.is_moderator:
            raise NotAllowed("only moderators see the moderation queue")
        docs, has_next = await self._page(
            self.store.posts,
            {"status": PostStatus.SUBMITTED.value},
            "updateKey",
            first=first,
            after=after,
            descending=False,
        )
        return Page([doc_to_post(d) for d in docs], has_next, [d["updateKey"] for d in docs])

    # ------------------------------------------------------------------ comments

    async def _visible_post(self, uow: UnitOfWork, author: Author, post_id: uuid.UUID) -> Post:
        post = await self._load_post(uow, post_id)
        if not p.visible_to(post, author):
            raise NotFound("No such post.", field="postId")
        if post.status is not PostStatus.PUBLISHED or post.hidden:
            raise InvalidInput("only published posts take comments and reactions", field="postId")
        return post

    async def add_comment(
        self, author: Author, post_id: uuid.UUID, body: str, parent_id: uuid.UUID | None
    ) -> Comment:
        async def work(uow: UnitOfWork) -> Comment:
            await self._visible_post(uow, author, post_id)
            parent: Comment | None = None
            if parent_id is not None:
                found = await uow.store.comments.find_one(
                    {"_id": str(parent_id)}, session=uow.session
                )
                if found is None:
                    raise NotFound("No such comment.", field="parentId")
                parent = doc_to_comment(found)
            comment = new_comment(
                author, post_id=post_id, body=body, parent=parent, at=self.config.clock()
            )
            await uow.store.comments.insert_one(comment_to_doc(comment), session=uow.session)
            await uow.store.posts.update_one(
                {"_id": str(post_id)}, {"$inc": {"commentCount": 1}}, session=uow.session
            )
            uow.publish(
                events.comment_added(comment, self.config.event_source), self.config.comment_topic
            )
            return comment

        return await self._run_as(author, work)

    async def set_comment_hidden(
        self, moderator: Author, comment_id: uuid.UUID, hidden: bool
    ) -> Comment:
        async def work(uow: UnitOfWork) -> Comment:
            found = await uow.store.comments.find_one({"_id": str(comment_id)}, session=uow.session)
            if found is None:
                raise NotFound("No such comment.", field="id")
            comment = doc_to_comment(found)
            hide_comment(comment, moderator, hidden=hidden)
            await uow.store.comments.update_one(
                {"_id": str(comment_id)}, {"$set": {"hidden": hidden}}, session=uow.session
            )
            return comment

        return await self._run_as(moderator, work)

    async def comments(
        self, viewer: Author | None, post_id: uuid.UUID, *, first: int, after: str | None
    ) -> Page:
        query: Doc = {"postId": str(post_id)}
        if viewer is None or not viewer.is_moderator:
            query["hidden"] = False
        docs, has_next = await self._page(
            self.store.comments, query, "createdKey", first=first, after=after, descending=False
        )
        return Page([doc_to_comment(d) for d in docs], has_next, [d["createdKey"] for d in docs])

    # ------------------------------------------------------------------ reactions

    async def react(self, author: Author, post_id: uuid.UUID, kind: ReactionKind | None) -> Post:
        """Set (or with None, remove) the caller's one reaction; counts move in the same
        transaction as the reaction document, so they always equal the stored reactions."""

        async def work(uow: UnitOfWork) -> Post:
            await self._visible_post(uow, author, post_id)
            key = {"postId": str(post_id), "memberId": str(author.member_id)}
            existing = await uow.store.reactions.find_one(key, session=uow.session)
            previous = ReactionKind(existing["kind"]) if existing else None
            changes = reaction_count_changes(previous, kind)
            if kind is None:
                if existing is not None:
                    await uow.store.reactions.delete_one(key, session=uow.session)
            elif existing is None:
                await uow.store.reactions.insert_one(
                    {**key, "kind": kind.value, "at": self.config.clock()}, session=uow.session
                )
            elif previous is not kind:
                await uow.store.reactions.update_one(
                    key,
                    {"$set": {"kind": kind.value, "at": self.config.clock()}},
                    session=uow.session,
                )
            if changes:
                await uow.store.posts.update_one(
                    {"_id": str(post_id)},
                    {"$inc": {f"reactionCounts.{k}": v for k, v in changes.items()}},
                    session=uow.session,
                )
            return await self._load_post(uow, post_id)

        return await self._run_as(author, work)

    async def my_reactions(
        self, member_id: uuid.UUID, post_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, ReactionKind]:
        found = self.store.reactions.find(
            {"memberId": str(member_id), "postId": {"$in": [str(i) for i in post_ids]}}
        )
        return {uuid.UUID(d["postId"]): ReactionKind(d["kind"]) async for d in found}

    # ------------------------------------------------------------------ reports

    async def report(
        self, reporter: Author, target: ReportTarget, target_id: uuid.UUID, reason: str
    ) -> Doc:
        text = validate_report_reason(reason)

        async def work(uow: UnitOfWork) -> Doc:
            if target is ReportTarget.POST:
                post = await self._load_post(uow, target_id)
                if not p.visible_to(post, reporter):
                    raise NotFound("No such post.", field="targetId")
            elif (
                await uow.store.comments.find_one({"_id": str(target_id)}, session=uow.session)
                is None
            ):
                raise NotFound("No such comment.", field="targetId")
            now = self.config.clock()
            report_id = uuid.uuid4()
            doc: Doc = {
                "_id": str(report_id),
                "targetType": target.value,
                "targetId": str(target_id),
                "reporterId": str(reporter.member_id),
                "reason": text,
                "createdAt": now,
                "createdKey": sort_key(now, report_id),
                "resolved": False,
            }
            try:
                await uow.store.reports.insert_one(doc, session=uow.session)
            except DuplicateKeyError:
                raise Conflict("You already reported this.", field="targetId") from None
            return doc

        return await self._run_as(reporter, work)

    async def open_reports(self, moderator: Author, *, first: int, after: str | None) -> Page:
        if not moderator.is_moderator:
            raise NotAllowed("only moderators see reports")
        docs, has_next = await self._page(
            self.store.reports,
            {"resolved": False},
            "createdKey",
            first=first,
            after=after,
            descending=False,
        )
        return Page(docs, has_next, [d["createdKey"] for d in docs])

    async def resolve_report(self, moderator: Author, report_id: uuid.UUID) -> Doc:
        if not moderator.is_moderator:
            raise NotAllowed("only moderators resolve reports")

        async def work(uow: UnitOfWork) -> Doc:
            doc = await uow.store.reports.find_one_and_update(
                {"_id": str(report_id)},
                {"$set": {"resolved": True, "resolvedBy": str(moderator.member_id)}},
                return_document=ReturnDocument.AFTER,
                session=uow.session,
            )
            if doc is None:
                raise NotFound("No such report.", field="id")
            result: Doc = doc
            return result

        return await self._run_as(moderator, work)

    # ------------------------------------------------------------------ gatherings

    async def schedule_event(self, author: Author, details: GatheringDetails) -> Doc:
        org = details.organiser_organisation_id
        if org is not None and org not in author.official_of and not author.is_moderator:
            raise NotAllowed("you do not officiate for this organisation", field="organiser")
        if (
            details.organiser_member_id is not None
            and details.organiser_member_id != author.member_id
        ):
            raise NotAllowed("you can only organise as yourself", field="organiser")

        async def work(uow: UnitOfWork) -> Doc:
            now = self.config.clock()
            event_id = uuid.uuid4()
            place = details.place
            doc: Doc = {
                "_id": str(event_id),
                "title": details.title,
                "description": details.description,
                "startsAt": details.starts_at.astimezone(UTC),
                "endsAt": details.ends_at.astimezone(UTC),
                "timeZone": details.time_zone,
                "place": (
                    {"city": place.city, "country": place.country, "address": place.address}
                    if place
                    else None
                ),
                "country": place.country if place else None,
                "cityKey": " ".join(normalise_words(place.city)) if place else None,
                "onlineUrl": details.online_url,
                "organiserMemberId": str(details.organiser_member_id)
                if details.organiser_member_id
                else None,
                "organiserOrganisationId": str(org) if org else None,
                "capacity": details.capacity,
                "seatsLeft": details.capacity,
                "going": 0,
                "status": GatheringStatus.SCHEDULED.value,
                "createdBy": str(author.member_id),
                "createdAt": now,
                "cancelledAt": None,
                "sortKey": sort_key(details.starts_at, event_id),
            }
            await uow.store.gatherings.insert_one(doc, session=uow.session)
            uow.publish(
                events.event_scheduled(doc, self.config.event_source), self.config.event_topic
            )
            return doc

        return await self._run_as(author, work)

    def _may_manage(self, actor: Author, doc: Doc) -> bool:
        if actor.is_moderator or doc.get("createdBy") == str(actor.member_id):
            return True
        org = doc.get("organiserOrganisationId")
        return org is not None and uuid.UUID(org) in actor.official_of

    async def cancel_event(self, actor: Author, event_id: uuid.UUID) -> Doc:
        async def work(uow: UnitOfWork) -> Doc:
            doc = await uow.store.gatherings.find_one({"_id": str(event_id)}, session=uow.session)
            if doc is None:
                raise NotFound("No such event.", field="id")
            if not self._may_manage(actor, doc):
                raise NotAllowed("only the organiser or a moderator can cancel this event")
            if doc["status"] == GatheringStatus.CANCELLED.value:
                raise Conflict("The event is already cancelled.")
            now = self.config.clock()
            updated = await uow.store.gatherings.find_one_and_update(
                {"_id": str(event_id), "status": GatheringStatus.SCHEDULED.value},
                {"$set": {"status": GatheringStatus.CANCELLED.value, "cancelledAt": now}},
                return_document=ReturnDocument.AFTER,
                session=uow.session,
            )
            assert updated is not None
            uow.publish(
                events.event_cancelled(str(event_id), self.config.event_source, at=now),
                self.config.event_topic,
            )
            result: Doc = updated
            return result

        return await self._run_as(actor, work)

    async def rsvp(self, author: Author, event_id: uuid.UUID, wanted: Attendance) -> Doc:
        """Answer an invitation. GOING takes a seat only if one is left (a conditional
        update on the event's `seatsLeft` in this transaction), else the member waits;
        a seat given back goes to the first on the waitlist."""
        if wanted is Attendance.WAITLISTED:
            raise InvalidInput("ask for GOING; the waitlist is automatic", field="response")

        async def work(uow: UnitOfWork) -> Doc:
            gatherings, rsvps, s = uow.store.gatherings, uow.store.rsvps, uow.session
            event = await gatherings.find_one({"_id": str(event_id)}, session=s)
            if event is None:
                raise NotFound("No such event.", field="eventId")
            if event["status"] != GatheringStatus.SCHEDULED.value:
                raise InvalidInput("the event was cancelled", field="eventId")
            key = {"eventId": str(event_id), "memberId": str(author.member_id)}
            existing = await rsvps.find_one(key, session=s)
            previous = Attendance(existing["response"]) if existing else None
            if previous is wanted or (
                previous is Attendance.WAITLISTED and wanted is Attendance.GOING
            ):
                assert existing is not None
                return existing
            now = self.config.clock()
            response: Attendance = wanted
            if wanted is Attendance.GOING:
                response = await self._take_seat(uow, event)
            if previous is Attendance.GOING:
                await self._give_back_seat(uow, event, exclude=str(author.member_id))
            doc: Doc = {
                **key,
                "response": response.value,
                "updatedAt": now,
                "queueKey": sort_key(now, author.member_id),
            }
            await rsvps.update_one(key, {"$set": doc}, upsert=True, session=s)
            return doc

        return await self._run_as(author, work)

    async def _take_seat(self, uow: UnitOfWork, event: Doc) -> Attendance:
        capacity = event.get("capacity")
        if capacity is None:
            await uow.store.gatherings.update_one(
                {"_id": event["_id"]}, {"$inc": {"going": 1}}, session=uow.session
            )
            return Attendance.GOING
        taken = await uow.store.gatherings.find_one_and_update(
            {"_id": event["_id"], "seatsLeft": {"$gt": 0}},
            {"$inc": {"seatsLeft": -1, "going": 1}},
            session=uow.session,
        )
        return Attendance.GOING if taken is not None else Attendance.WAITLISTED

    async def _give_back_seat(self, uow: UnitOfWork, event: Doc, *, exclude: str) -> None:
        s = uow.session
        first = await uow.store.rsvps.find_one(
            {
                "eventId": event["_id"],
                "response": Attendance.WAITLISTED.value,
                "memberId": {"$ne": exclude},
            },
            sort=[("queueKey", ASCENDING)],
            session=s,
        )
        if first is not None and event.get("capacity") is not None:
            # The seat passes straight to the first in line: `going` and `seatsLeft` stay.
            await uow.store.rsvps.update_one(
                {"_id": first["_id"]},
                {"$set": {"response": Attendance.GOING.value, "updatedAt": self.config.clock()}},
                session=s,
            )
            return
        inc: Doc = {"going": -1}
        if event.get("capacity") is not None:
            inc["seatsLeft"] = 1
        await uow.store.gatherings.update_one({"_id": event["_id"]}, {"$inc": inc}, session=s)

    async def events_by_ids(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Doc]:
        found = self.store.gatherings.find({"_id": {"$in": [str(i) for i in ids]}})
        return {uuid.UUID(d["_id"]): d async for d in found}

    async def upcoming_events(
        self,
        *,
        country: str | None,
        city: str | None,
        organisation_id: uuid.UUID | None = None,
        first: int,
        after: str | None,
    ) -> Page:
        now = self.config.clock()
        query: Doc = {"status": GatheringStatus.SCHEDULED.value}
        if organisation_id is not None:
            query["organiserOrganisationId"] = str(organisation_id)
        if country is not None:
            code = country.strip().upper()
            if len(code) != 2 or not code.isalpha():
                raise InvalidInput("an ISO 3166-1 alpha-2 country code", field="country")
            query["country"] = code
        if city is not None:
            if country is None:
                raise InvalidInput("give the country too", field="country")
            query["cityKey"] = " ".join(normalise_words(city))
        # Upcoming: not yet started, in start order (`sortKey` is start time + id).
        lower = max(sort_key(now, ""), _cursor_key(after) or "")
        query["sortKey"] = {"$gt": lower}
        cursor = self.store.gatherings.find(query).sort("sortKey", ASCENDING).limit(first + 1)
        found: list[Doc] = await cursor.to_list()
        docs, has_next = found[:first], len(found) > first
        return Page(docs, has_next, [d["sortKey"] for d in docs])

    async def my_rsvps(
        self, member_id: uuid.UUID, event_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, Attendance]:
        found = self.store.rsvps.find(
            {"memberId": str(member_id), "eventId": {"$in": [str(i) for i in event_ids]}}
        )
        return {uuid.UUID(d["eventId"]): Attendance(d["response"]) async for d in found}

    async def attendance_counts(self, event_id: uuid.UUID) -> dict[str, int]:
        pipeline: list[Doc] = [
            {"$match": {"eventId": str(event_id)}},
            {"$group": {"_id": "$response", "n": {"$sum": 1}}},
        ]
        cursor = await self.store.rsvps.aggregate(pipeline)
        return {d["_id"]: int(d["n"]) async for d in cursor}

    # ------------------------------------------------------------------ data rights

    async def member_data(self, member: Author) -> dict[str, Any]:
        """Everything this service holds about the caller, as one JSON document. A read:
        suspended members get their copy too."""
        at = self.config.clock()

        async def work(uow: UnitOfWork) -> dict[str, Any]:
            return await data_rights.member_data(uow, member.member_id, exported_at=at)

        return await self.config.uow.run(work)

    # ------------------------------------------------------------------ member life cycle

    async def scrub_member(self, uow: UnitOfWork, member_id: uuid.UUID) -> None:
        """`member.erased`: posts and gatherings stay, attributed to a removed member;
        comments keep their place in threads with their text scrubbed; reports lose their
        reporter; reactions and RSVPs go (counts and seats follow), and so do the member's
        organisation roles and suspension record."""
        mid, s, store = str(member_id), uow.session, uow.store
        removed = str(REMOVED_MEMBER_ID)
        await store.posts.update_many(
            {"authorId": mid},
            # The post's place in the author's lane goes with the lane.
            {"$set": {"authorId": removed}, "$unset": {f"feedSeqs.author:{mid}": ""}},
            session=s,
        )
        await self.lanes.drop_lanes([f"author:{mid}"], s)
        await store.comments.update_many(
            {"authorId": mid}, {"$set": {"authorId": removed, "body": SCRUBBED_TEXT}}, session=s
        )
        async for reaction in store.reactions.find({"memberId": mid}, session=s):
            await store.posts.update_one(
                {"_id": reaction["postId"]},
                {"$inc": {f"reactionCounts.{reaction['kind']}": -1}},
                session=s,
            )
        await store.reactions.delete_many({"memberId": mid}, session=s)
        async for rsvp in store.rsvps.find({"memberId": mid}, session=s):
            if rsvp["response"] == Attendance.GOING.value:
                event = await store.gatherings.find_one({"_id": rsvp["eventId"]}, session=s)
                if event is not None:
                    await self._give_back_seat(uow, event, exclude=mid)
        await store.rsvps.delete_many({"memberId": mid}, session=s)
        await store.reports.update_many(
            {"reporterId": mid}, {"$set": {"reporterId": removed}}, session=s
        )
        await store.gatherings.update_many(
            {"createdBy": mid}, {"$set": {"createdBy": removed}}, session=s
        )
        await store.gatherings.update_many(
            {"organiserMemberId": mid}, {"$set": {"organiserMemberId": removed}}, session=s
        )
        # Projections keyed by the member: nothing left to decide for them.
        await store.org_roles.delete_many({"memberId": mid}, session=s)
        await store.suspensions.delete_one({"_id": mid}, session=s)

    async def withdraw_pending(self, uow: UnitOfWork, member_id: uuid.UUID) -> int:
        """`member.suspended`: posts waiting for moderation go back to drafts."""
        now = self.config.clock()
        result = await uow.store.posts.update_many(
            {"authorId": str(member_id), "status": PostStatus.SUBMITTED.value},
            {"$set": {"status": PostStatus.DRAFT.value, "updatedAt": now}, "$inc": {"version": 1}},
            session=uow.session,
        )
        return int(result.modified_count)
