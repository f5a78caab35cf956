"""The content subgraph (strawberry, Apollo Federation v2).

Owns `Post`, `Comment` and `Event` (a gathering on the calendar); adds `posts` to
`Member` and `posts` / `events` to `Organisation` by their keys only — names and
contact details stay with the members service. Resolvers are thin: they translate
GraphQL input and call `content.service`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from content.adapters.documents import REMOVED_MEMBER_ID, Doc
from content.context import ContentContext
from content.domain import engagement as eng
from content.domain import gatherings as gat
from content.domain import posts as p
from content.domain.markdown import render_html
from content.service import FeedFilter, Page, parse_uuid
from kopano.errors import MaskErrors
from kopano.graphql import encode_cursor, page_size

Ctx = Info[ContentContext, None]
F = TypeVar("F", bound=Callable[..., Any])

PostKind = strawberry.enum(p.PostKind, description="What kind of post.")


@strawberry.enum(name="PostLanguage", description="ISO 639-1: st (Sesotho) or en (English).")
class Language(Enum):
    st = "st"
    en = "en"


PostStatus = strawberry.enum(p.PostStatus)
ReactionKind = strawberry.enum(eng.ReactionKind)
ReportTarget = strawberry.enum(eng.ReportTarget)
RsvpResponse = strawberry.enum(
    gat.Attendance, name="RsvpResponse", description="WAITLISTED is given, never asked for."
)
EventStatus = strawberry.enum(gat.GatheringStatus, name="EventStatus")


def signed_in(description: str | None = None) -> Callable[[F], F]:
    """A field for signed-in callers, marked `@authenticated` for the gateway."""
    return cast(
        Callable[[F], F], strawberry.federation.field(description=description, authenticated=True)
    )


def described(description: str) -> Callable[[F], F]:
    """`strawberry.field` with a description, typed for mypy (the overload is `Any`)."""
    return cast(Callable[[F], F], strawberry.field(description=description))


def _id(value: uuid.UUID | str | None) -> strawberry.ID | None:
    return strawberry.ID(str(value)) if value is not None else None


@strawberry.type(name="ContentPageInfo")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


def _page_info(page: Page) -> PageInfo:
    return PageInfo(
        has_next_page=page.has_next,
        end_cursor=encode_cursor([page.end_key or page.keys[-1]])
        if page.end_key or page.keys
        else None,
    )


# --------------------------------------------------------------------------- references


@strawberry.federation.type(keys=["id"], name="Member", description="A member (owned by members).")
class MemberRef:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> MemberRef:
        return cls(id=id)

    @described("Their posts: published ones, or all of them for themselves.")
    async def posts(self, info: Ctx, first: int = 20, after: str | None = None) -> PostConnection:
        member_id = parse_uuid(str(self.id), "id")
        page = await info.context.service.author_posts(
            await info.context.viewer(), member_id, first=page_size(first), after=after
        )
        return PostConnection.of(page)


@strawberry.federation.type(
    keys=["id"], name="Organisation", description="An organisation (owned by members)."
)
class OrganisationRef:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> OrganisationRef:
        return cls(id=id)

    @described("Its published posts, newest first.")
    async def posts(self, info: Ctx, first: int = 20, after: str | None = None) -> PostConnection:
        org = parse_uuid(str(self.id), "id")
        page = await info.context.service.feed(
            FeedFilter(organisation_id=org), first=page_size(first), after=after
        )
        return PostConnection.of(page)

    @described("Its upcoming events, soonest first.")
    async def events(self, info: Ctx, first: int = 20, after: str | None = None) -> EventConnection:
        org = parse_uuid(str(self.id), "id")
        page = await info.context.service.upcoming_events(
            country=None, city=None, organisation_id=org, first=page_size(first), after=after
        )
        return EventConnection.of(page)


# --------------------------------------------------------------------------- posts


@strawberry.type
class ReactionCount:
    kind: ReactionKind  # type: ignore[valid-type]
    count: int


@strawberry.federation.type(keys=["id"], name="Post", description="A post in the feed.")
class PostType:
    id: strawberry.ID
    data: strawberry.Private[p.Post]

    @classmethod
    def of(cls, post: p.Post) -> PostType:
        return cls(id=strawberry.ID(str(post.id)), data=post)

    @classmethod
    async def resolve_reference(cls, info: Ctx, id: strawberry.ID) -> PostType | None:
        try:
            key = uuid.UUID(str(id))
        except ValueError:
            return None
        post = await info.context.post_loader.load(key)
        if post is None or not p.visible_to(post, await info.context.viewer()):
            return None
        return cls.of(post)

    @strawberry.field
    def kind(self) -> PostKind:  # type: ignore[valid-type]
        return self.data.content.kind

    @strawberry.field
    def title(self) -> str:
        return self.data.content.title

    @strawberry.field
    def summary(self) -> str:
        return self.data.content.summary

    @described("Markdown, as written.")
    def body(self) -> str:
        return self.data.content.body

    @described("The body rendered to sanitised HTML.")
    def body_html(self) -> str:
        return render_html(self.data.content.body)

    @strawberry.field
    def language(self) -> Language:
        return Language(self.data.content.language.value)

    @strawberry.field
    def tags(self) -> list[str]:
        return list(self.data.content.tags)

    @strawberry.field
    def cover_image_url(self) -> str | None:
        return self.data.content.cover_image_url

    @described("Null once the author erased their account.")
    def author(self) -> MemberRef | None:
        if self.data.author_id == REMOVED_MEMBER_ID:
            return None
        return MemberRef(id=strawberry.ID(str(self.data.author_id)))

    @strawberry.field
    def author_removed(self) -> bool:
        return self.data.author_id == REMOVED_MEMBER_ID

    @strawberry.field
    def organisation(self) -> OrganisationRef | None:
        org = self.data.content.organisation_id
        return OrganisationRef(id=strawberry.ID(str(org))) if org else None

    @strawberry.field
    def status(self) -> PostStatus:  # type: ignore[valid-type]
        return self.data.status

    @strawberry.field
    def rejection_reason(self) -> str | None:
        return self.data.rejection_reason

    @strawberry.field
    def hidden(self) -> bool:
        return self.data.hidden

    @strawberry.field
    def created_at(self) -> datetime:
        return self.data.created_at

    @strawberry.field
    def updated_at(self) -> datetime:
        return self.data.updated_at

    @strawberry.field
    def published_at(self) -> datetime | None:
        return self.data.published_at

    @described("Pass back as expectedVersion when editing.")
    def version(self) -> int:
        return self.data.version

    @strawberry.field
    def reactions(self) -> list[ReactionCount]:
        counts = self.data.reaction_counts
        return [
            ReactionCount(kind=k, count=counts.get(k.value, 0))
            for k in eng.ReactionKind
            if counts.get(k.value, 0) > 0
        ]

    @strawberry.field
    def reaction_count(self) -> int:
        return sum(v for v in self.data.reaction_counts.values() if v > 0)

    @described("Your reaction (null when none or not signed in).")
    async def my_reaction(self, info: Ctx) -> ReactionKind | None:  # type: ignore[valid-type]
        return await info.context.my_reaction_loader.load(self.data.id)

    @strawberry.field
    def comment_count(self) -> int:
        return self.data.comment_count

    @described("Comments, oldest first; replies carry their parentId.")
    async def comments(
        self, info: Ctx, first: int = 50, after: str | None = None
    ) -> CommentConnection:
        page = await info.context.service.comments(
            await info.context.viewer(), self.data.id, first=page_size(first), after=after
        )
        return CommentConnection.of(page)


@strawberry.type
class PostEdge:
    cursor: str
    node: PostType


@strawberry.type
class PostConnection:
    edges: list[PostEdge]
    page_info: PageInfo

    @strawberry.field
    def nodes(self) -> list[PostType]:
        return [e.node for e in self.edges]

    @classmethod
    def of(cls, page: Page) -> PostConnection:
        edges = [
            PostEdge(cursor=encode_cursor([k]), node=PostType.of(post))
            for post, k in zip(page.items, page.keys, strict=True)
        ]
        return cls(edges=edges, page_info=_page_info(page))


@strawberry.type(name="Comment")
class CommentType:
    data: strawberry.Private[eng.Comment]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.data.id))

    @strawberry.field
    def post_id(self) -> strawberry.ID:
        return strawberry.ID(str(self.data.post_id))

    @strawberry.field
    def parent_id(self) -> strawberry.ID | None:
        return _id(self.data.parent_id)

    @strawberry.field
    def author(self) -> MemberRef | None:
        if self.data.author_id == REMOVED_MEMBER_ID:
            return None
        return MemberRef(id=strawberry.ID(str(self.data.author_id)))

    @strawberry.field
    def body(self) -> str:
        return self.data.body

    @strawberry.field
    def body_html(self) -> str:
        return render_html(self.data.body)

    @strawberry.field
    def hidden(self) -> bool:
        return self.data.hidden

    @strawberry.field
    def created_at(self) -> datetime:
        return self.data.created_at


@strawberry.type
class CommentEdge:
    cursor: str
    node: CommentType


@strawberry.type
class CommentConnection:
    edges: list[CommentEdge]
    page_info: PageInfo

    @strawberry.field
    def nodes(self) -> list[CommentType]:
        return [e.node for e in self.edges]

    @classmethod
    def of(cls, page: Page) -> CommentConnection:
        edges = [
            CommentEdge(cursor=encode_cursor([k]), node=CommentType(data=c))
            for c, k in zip(page.items, page.keys, strict=True)
        ]
        return cls(edges=edges, page_info=_page_info(page))


@strawberry.type(name="Report")
class ReportType:
    data: strawberry.Private[Doc]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.data["_id"])

    @strawberry.field
    def target_type(self) -> ReportTarget:  # type: ignore[valid-type]
        return eng.ReportTarget(self.data["targetType"])

    @strawberry.field
    def target_id(self) -> strawberry.ID:
        return strawberry.ID(self.data["targetId"])

    @strawberry.field
    def reason(self) -> str:
        return str(self.data["reason"])

    @strawberry.field
    def resolved(self) -> bool:
        return bool(self.data["resolved"])

    @strawberry.field
    def created_at(self) -> datetime:
        value: datetime = self.data["createdAt"]
        return value


@strawberry.type
class ReportConnection:
    nodes: list[ReportType]
    page_info: PageInfo


# --------------------------------------------------------------------------- events


@strawberry.type(name="EventPlace")
class Place:
    city: str
    country: str = strawberry.field(description="ISO 3166-1 alpha-2 code.")
    address: str | None


@strawberry.type
class AttendanceCount:
    response: RsvpResponse  # type: ignore[valid-type]
    count: int


@strawberry.federation.type(
    keys=["id"], name="Event", description="A gathering on the calendar, in person or online."
)
class EventType:
    id: strawberry.ID
    data: strawberry.Private[Doc]

    @classmethod
    def of(cls, doc: Doc) -> EventType:
        return cls(id=strawberry.ID(doc["_id"]), data=doc)

    @classmethod
    async def resolve_reference(cls, info: Ctx, id: strawberry.ID) -> EventType | None:
        try:
            key = uuid.UUID(str(id))
        except ValueError:
            return None
        doc = await info.context.event_loader.load(key)
        return cls.of(doc) if doc else None

    @strawberry.field
    def title(self) -> str:
        return str(self.data["title"])

    @described("Markdown.")
    def description(self) -> str:
        return str(self.data["description"])

    @strawberry.field
    def description_html(self) -> str:
        return render_html(str(self.data["description"]))

    @strawberry.field
    def starts_at(self) -> datetime:
        value: datetime = self.data["startsAt"]
        return value

    @strawberry.field
    def ends_at(self) -> datetime:
        value: datetime = self.data["endsAt"]
        return value

    @described("IANA time zone the times are shown in, e.g. Africa/Maseru.")
    def time_zone(self) -> str:
        return str(self.data["timeZone"])

    @strawberry.field
    def place(self) -> Place | None:
        place = self.data.get("place")
        if not place:
            return None
        return Place(city=place["city"], country=place["country"], address=place.get("address"))

    @strawberry.field
    def online_url(self) -> str | None:
        value = self.data.get("onlineUrl")
        return str(value) if value else None

    @described("Null for an organisation's event, or once the organiser erased their account.")
    def organiser_member(self) -> MemberRef | None:
        member = self.data.get("organiserMemberId")
        if not member or member == str(REMOVED_MEMBER_ID):
            return None
        return MemberRef(id=strawberry.ID(member))

    @strawberry.field
    def organiser_organisation(self) -> OrganisationRef | None:
        org = self.data.get("organiserOrganisationId")
        return OrganisationRef(id=strawberry.ID(org)) if org else None

    @described("Null for no limit.")
    def capacity(self) -> int | None:
        value = self.data.get("capacity")
        return int(value) if value is not None else None

    @strawberry.field
    def going_count(self) -> int:
        return int(self.data.get("going", 0))

    @strawberry.field
    def seats_left(self) -> int | None:
        value = self.data.get("seatsLeft")
        return int(value) if value is not None else None

    @strawberry.field
    async def attendance(self, info: Ctx) -> list[AttendanceCount]:
        counts = await info.context.service.attendance_counts(uuid.UUID(self.data["_id"]))
        return [
            AttendanceCount(response=a, count=counts[a.value])
            for a in gat.Attendance
            if counts.get(a.value)
        ]

    @strawberry.field
    def status(self) -> EventStatus:  # type: ignore[valid-type]
        return gat.GatheringStatus(self.data["status"])

    @described("Your answer (null when none or not signed in).")
    async def my_rsvp(self, info: Ctx) -> RsvpResponse | None:  # type: ignore[valid-type]
        return await info.context.my_rsvp_loader.load(uuid.UUID(self.data["_id"]))


@strawberry.type
class EventEdge:
    cursor: str
    node: EventType


@strawberry.type
class EventConnection:
    edges: list[EventEdge]
    page_info: PageInfo

    @strawberry.field
    def nodes(self) -> list[EventType]:
        return [e.node for e in self.edges]

    @classmethod
    def of(cls, page: Page) -> EventConnection:
        edges = [
            EventEdge(cursor=encode_cursor([k]), node=EventType.of(doc))
            for doc, k in zip(page.items, page.keys, strict=True)
        ]
        return cls(edges=edges, page_info=_page_info(page))


@strawberry.type
class Rsvp:
    response: RsvpResponse  # type: ignore[valid-type]
    event: EventType


# --------------------------------------------------------------------------- inputs


@strawberry.input
class PostInput:
    kind: PostKind  # type: ignore[valid-type]
    title: str
    body: str = strawberry.field(description="Markdown; raw HTML and script links are refused.")
    language: Language
    summary: str = ""
    tags: list[str] = strawberry.field(default_factory=list)
    cover_image_url: str | None = strawberry.field(default=None, description="An https:// URL.")
    organisation_id: strawberry.ID | None = strawberry.field(
        default=None, description="Post for an organisation you officiate for."
    )

    def to_draft(self) -> p.PostDraft:
        org = (
            parse_uuid(str(self.organisation_id), "organisationId")
            if self.organisation_id
            else None
        )
        return p.PostDraft.create(
            kind=p.PostKind(self.kind),
            title=self.title,
            body=self.body,
            language=p.Language(self.language.value),
            summary=self.summary,
            tags=list(self.tags),
            cover_image_url=self.cover_image_url,
            organisation_id=org,
        )


@strawberry.input
class FeedFilterInput:
    kind: PostKind | None = None  # type: ignore[valid-type]
    tag: str | None = None
    language: Language | None = None
    organisation_id: strawberry.ID | None = None
    author_id: strawberry.ID | None = None
    search: str | None = strawberry.field(
        default=None, description="Words of the title or summary (the last may be a prefix)."
    )

    def to_domain(self) -> FeedFilter:
        return FeedFilter(
            kind=p.PostKind(self.kind) if self.kind else None,
            tag=self.tag,
            language=p.Language(self.language.value) if self.language else None,
            organisation_id=(
                parse_uuid(str(self.organisation_id), "organisationId")
                if self.organisation_id
                else None
            ),
            author_id=parse_uuid(str(self.author_id), "authorId") if self.author_id else None,
            search=self.search,
        )


@strawberry.input(name="EventPlaceInput")
class PlaceInput:
    city: str
    country: str = strawberry.field(description="ISO 3166-1 alpha-2 code.")
    address: str | None = None


@strawberry.input
class EventInput:
    title: str
    starts_at: datetime = strawberry.field(description="With a UTC offset.")
    ends_at: datetime
    time_zone: str = strawberry.field(description="IANA name, e.g. Africa/Maseru.")
    description: str = ""
    place: PlaceInput | None = None
    online_url: str | None = None
    organisation_id: strawberry.ID | None = strawberry.field(
        default=None, description="Organise for an organisation you officiate for (else yourself)."
    )
    capacity: int | None = None

    def to_details(self, organiser: uuid.UUID) -> gat.GatheringDetails:
        org = (
            parse_uuid(str(self.organisation_id), "organisationId")
            if self.organisation_id
            else None
        )
        return gat.GatheringDetails.create(
            title=self.title,
            description=self.description,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            time_zone=self.time_zone,
            place=(
                gat.Place(self.place.city, self.place.country, self.place.address)
                if self.place
                else None
            ),
            online_url=self.online_url,
            organiser_member_id=None if org else organiser,
            organiser_organisation_id=org,
            capacity=self.capacity,
        )


# --------------------------------------------------------------------------- root types


@strawberry.type
class Query:
    @described("A post you may see (published, or yours, or as a moderator).")
    async def post(self, info: Ctx, id: strawberry.ID) -> PostType | None:
        return await PostType.resolve_reference(info, id)

    @described("Published posts, newest first, with optional filters.")
    async def feed(
        self,
        info: Ctx,
        filter: FeedFilterInput | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> PostConnection:
        flt = filter.to_domain() if filter else FeedFilter()
        page = await info.context.service.feed(flt, first=page_size(first), after=after)
        return PostConnection.of(page)

    @signed_in("Your own posts in every state, most recently changed first.")
    async def my_posts(
        self, info: Ctx, first: int = 20, after: str | None = None
    ) -> PostConnection:
        author = await info.context.author()
        page = await info.context.service.author_posts(
            author, author.member_id, first=page_size(first), after=after
        )
        return PostConnection.of(page)

    @signed_in("Moderators: posts waiting for review, oldest first.")
    async def moderation_queue(
        self, info: Ctx, first: int = 20, after: str | None = None
    ) -> PostConnection:
        page = await info.context.service.moderation_queue(
            await info.context.author(), first=page_size(first), after=after
        )
        return PostConnection.of(page)

    @signed_in("Moderators: open abuse reports, oldest first.")
    async def reports(
        self, info: Ctx, first: int = 20, after: str | None = None
    ) -> ReportConnection:
        page = await info.context.service.open_reports(
            await info.context.author(), first=page_size(first), after=after
        )
        return ReportConnection(
            nodes=[ReportType(data=d) for d in page.items], page_info=_page_info(page)
        )

    @signed_in("Everything the content service holds about you, as one JSON document.")
    async def my_content_data(self, info: Ctx) -> JSON:
        data = await info.context.service.member_data(await info.context.author())
        return cast(JSON, data)

    @strawberry.field
    async def event(self, info: Ctx, id: strawberry.ID) -> EventType | None:
        return await EventType.resolve_reference(info, id)

    @described("Events that have not started yet, soonest first.")
    async def upcoming_events(
        self,
        info: Ctx,
        country: str | None = None,
        city: str | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> EventConnection:
        page = await info.context.service.upcoming_events(
            country=country, city=city, first=page_size(first), after=after
        )
        return EventConnection.of(page)


@strawberry.type
class Mutation:
    @signed_in(
        "Write a post. With submit (the default) it is published at once for moderators and "
        "officials of a verified organisation posting for it, otherwise queued for moderation."
    )
    async def create_post(self, info: Ctx, input: PostInput, submit: bool = True) -> PostType:
        post = await info.context.service.create_post(
            await info.context.author(), input.to_draft(), submit=submit
        )
        return PostType.of(post)

    @signed_in("Edit your post; a rejected or submitted post goes back to draft.")
    async def edit_post(
        self, info: Ctx, id: strawberry.ID, input: PostInput, expected_version: int | None = None
    ) -> PostType:
        post = await info.context.service.edit_post(
            await info.context.author(),
            parse_uuid(str(id), "id"),
            input.to_draft(),
            expected_version,
        )
        return PostType.of(post)

    @signed_in("Send a draft on (published or queued, as for createPost).")
    async def submit_post(self, info: Ctx, id: strawberry.ID) -> PostType:
        post = await info.context.service.submit_post(
            await info.context.author(), parse_uuid(str(id), "id")
        )
        return PostType.of(post)

    @signed_in("Moderators: publish a submitted post, or reject it with a reason.")
    async def moderate_post(
        self, info: Ctx, id: strawberry.ID, approve: bool, reason: str | None = None
    ) -> PostType:
        post = await info.context.service.moderate_post(
            await info.context.author(), parse_uuid(str(id), "id"), approve=approve, reason=reason
        )
        return PostType.of(post)

    @signed_in("The author or a moderator: take a post out of the feed for good.")
    async def archive_post(self, info: Ctx, id: strawberry.ID) -> PostType:
        post = await info.context.service.archive_post(
            await info.context.author(), parse_uuid(str(id), "id")
        )
        return PostType.of(post)

    @signed_in("Moderators: hide a post from the feed, or restore it.")
    async def set_post_hidden(self, info: Ctx, id: strawberry.ID, hidden: bool) -> PostType:
        post = await info.context.service.set_post_hidden(
            await info.context.author(), parse_uuid(str(id), "id"), hidden
        )
        return PostType.of(post)

    @signed_in("Comment on a published post, or reply to a comment (one level).")
    async def add_comment(
        self, info: Ctx, post_id: strawberry.ID, body: str, parent_id: strawberry.ID | None = None
    ) -> CommentType:
        comment = await info.context.service.add_comment(
            await info.context.author(),
            parse_uuid(str(post_id), "postId"),
            body,
            parse_uuid(str(parent_id), "parentId") if parent_id else None,
        )
        return CommentType(data=comment)

    @signed_in("Moderators: hide a comment, or restore it.")
    async def set_comment_hidden(self, info: Ctx, id: strawberry.ID, hidden: bool) -> CommentType:
        comment = await info.context.service.set_comment_hidden(
            await info.context.author(), parse_uuid(str(id), "id"), hidden
        )
        return CommentType(data=comment)

    @signed_in("Your one reaction to a post; null removes it.")
    async def react(
        self,
        info: Ctx,
        post_id: strawberry.ID,
        kind: ReactionKind | None,  # type: ignore[valid-type]
    ) -> PostType:
        post = await info.context.service.react(
            await info.context.author(),
            parse_uuid(str(post_id), "postId"),
            eng.ReactionKind(kind) if kind else None,
        )
        return PostType.of(post)

    @signed_in("Report a post or comment for abuse; moderators review it.")
    async def report(
        self,
        info: Ctx,
        target_type: ReportTarget,  # type: ignore[valid-type]
        target_id: strawberry.ID,
        reason: str,
    ) -> ReportType:
        doc = await info.context.service.report(
            await info.context.author(),
            eng.ReportTarget(target_type),
            parse_uuid(str(target_id), "targetId"),
            reason,
        )
        return ReportType(data=doc)

    @signed_in("Moderators: mark a report as dealt with.")
    async def resolve_report(self, info: Ctx, id: strawberry.ID) -> ReportType:
        doc = await info.context.service.resolve_report(
            await info.context.author(), parse_uuid(str(id), "id")
        )
        return ReportType(data=doc)

    @signed_in("Put a gathering on the calendar, as yourself or for your organisation.")
    async def schedule_event(self, info: Ctx, input: EventInput) -> EventType:
        author = await info.context.author()
        doc = await info.context.service.schedule_event(author, input.to_details(author.member_id))
        return EventType.of(doc)

    @signed_in("The organiser or a moderator: cancel an event.")
    async def cancel_event(self, info: Ctx, id: strawberry.ID) -> EventType:
        doc = await info.context.service.cancel_event(
            await info.context.author(), parse_uuid(str(id), "id")
        )
        return EventType.of(doc)

    @signed_in("Answer GOING, INTERESTED or NOT_GOING; GOING on a full event waitlists you.")
    async def rsvp(
        self,
        info: Ctx,
        event_id: strawberry.ID,
        response: RsvpResponse,  # type: ignore[valid-type]
    ) -> Rsvp:
        key = parse_uuid(str(event_id), "eventId")
        doc = await info.context.service.rsvp(
            await info.context.author(), key, gat.Attendance(response)
        )
        event = (await info.context.service.events_by_ids([key]))[key]
        return Rsvp(response=gat.Attendance(doc["response"]), event=EventType.of(event))


def build_schema() -> strawberry.federation.Schema:
    return strawberry.federation.Schema(
        query=Query,
        mutation=Mutation,
        types=[MemberRef, OrganisationRef, PostType, EventType],
        extensions=[MaskErrors],
    )
