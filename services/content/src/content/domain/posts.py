"""Posts and their life cycle: draft -> submitted -> published | rejected -> archived."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Final
from urllib.parse import urlsplit

from content.domain.errors import InvalidInput, InvalidState, NotAllowed
from content.domain.markdown import validate_body

MAX_TITLE: Final = 200
MAX_SUMMARY: Final = 500
MAX_TAGS: Final = 10
MAX_TAG_LENGTH: Final = 32
MAX_REJECTION_REASON: Final = 1_000
_TAG_CHARS: Final = re.compile(r"[^a-z0-9]+")


class PostKind(StrEnum):
    NEWS_LESOTHO = "NEWS_LESOTHO"
    NEWS_DIASPORA = "NEWS_DIASPORA"
    ANNOUNCEMENT = "ANNOUNCEMENT"
    STORY = "STORY"
    OBITUARY = "OBITUARY"  # obituaries and funeral notices
    OPINION = "OPINION"


class Language(StrEnum):
    SESOTHO = "st"
    ENGLISH = "en"


class PostStatus(StrEnum):
    DRAFT = "DRAFT"
    SUBMITTED = "SUBMITTED"
    PUBLISHED = "PUBLISHED"
    REJECTED = "REJECTED"
    ARCHIVED = "ARCHIVED"


P = PostStatus
_TRANSITIONS: Final[dict[PostStatus, frozenset[PostStatus]]] = {
    P.DRAFT: frozenset({P.SUBMITTED, P.PUBLISHED, P.ARCHIVED}),
    P.SUBMITTED: frozenset({P.PUBLISHED, P.REJECTED, P.DRAFT}),
    P.PUBLISHED: frozenset({P.ARCHIVED}),
    # A rejected post can be edited back into a draft and submitted again.
    P.REJECTED: frozenset({P.DRAFT, P.ARCHIVED}),
    P.ARCHIVED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class Author:
    """Who acts: a member, their platform roles, and the verified organisations they officiate for."""

    member_id: uuid.UUID
    roles: frozenset[str] = frozenset()
    official_of: frozenset[uuid.UUID] = frozenset()

    @property
    def is_moderator(self) -> bool:
        return bool({"moderator", "admin"} & self.roles)


def normalise_tags(tags: list[str]) -> tuple[str, ...]:
    """Lower-case, hyphenated, de-duplicated tags in the order given."""
    seen: dict[str, None] = {}
    for raw in tags:
        tag = _TAG_CHARS.sub("-", raw.strip().lower()).strip("-")
        if not tag:
            continue
        if len(tag) > MAX_TAG_LENGTH:
            raise InvalidInput(f"a tag is at most {MAX_TAG_LENGTH} characters", field="tags")
        seen.setdefault(tag, None)
    if len(seen) > MAX_TAGS:
        raise InvalidInput(f"at most {MAX_TAGS} tags", field="tags")
    return tuple(seen)


def validate_https_url(url: str | None, *, field_name: str) -> str | None:
    if url is None or url == "":
        return None
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc or len(url) > 2_000:
        raise InvalidInput("must be an https URL", field=field_name)
    return url


def _text(value: str, *, field_name: str, maximum: int, required: bool) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidInput("must not be empty", field=field_name)
    if len(value) > maximum:
        raise InvalidInput(f"must be at most {maximum} characters", field=field_name)
    return value


@dataclass(frozen=True, slots=True)
class PostDraft:
    """Validated, writer-supplied fields of a post."""

    kind: PostKind
    title: str
    summary: str
    body: str
    language: Language
    tags: tuple[str, ...]
    cover_image_url: str | None
    organisation_id: uuid.UUID | None

    @classmethod
    def create(
        cls,
        *,
        kind: PostKind,
        title: str,
        body: str,
        language: Language,
        summary: str = "",
        tags: list[str] | None = None,
        cover_image_url: str | None = None,
        organisation_id: uuid.UUID | None = None,
    ) -> PostDraft:
        return cls(
            kind=kind,
            title=_text(title, field_name="title", maximum=MAX_TITLE, required=True),
            summary=_text(summary, field_name="summary", maximum=MAX_SUMMARY, required=False),
            body=validate_body(body),
            language=language,
            tags=normalise_tags(tags or []),
            cover_image_url=validate_https_url(cover_image_url, field_name="coverImageUrl"),
            organisation_id=organisation_id,
        )


@dataclass(slots=True)
class Post:
    id: uuid.UUID
    author_id: uuid.UUID
    content: PostDraft
    status: PostStatus
    created_at: datetime
    updated_at: datetime
    version: int = 1
    published_at: datetime | None = None
    rejection_reason: str | None = None
    hidden: bool = False
    reaction_counts: dict[str, int] = field(default_factory=dict)
    comment_count: int = 0

    def _move(self, target: PostStatus, at: datetime) -> None:
        if target not in _TRANSITIONS[self.status]:
            raise InvalidState(
                f"a {self.status.value.lower()} post cannot become {target.value.lower()}"
            )
        self.status = target
        self.updated_at = at
        self.version += 1


def may_publish_directly(author: Author, organisation_id: uuid.UUID | None) -> bool:
    """Moderators, and officials posting for their verified organisation, skip the queue."""
    if author.is_moderator:
        return True
    return organisation_id is not None and organisation_id in author.official_of


def check_may_post_for(author: Author, organisation_id: uuid.UUID | None) -> None:
    if (
        organisation_id is not None
        and organisation_id not in author.official_of
        and not author.is_moderator
    ):
        raise NotAllowed("you do not officiate for this organisation", field="organisationId")


def new_post(author: Author, draft: PostDraft, *, at: datetime, submit: bool) -> Post:
    check_may_post_for(author, draft.organisation_id)
    post = Post(
        id=uuid.uuid4(),
        author_id=author.member_id,
        content=draft,
        status=P.DRAFT,
        created_at=at,
        updated_at=at,
    )
    if submit:
        submit_post(post, author, at=at)
    return post


def submit_post(post: Post, author: Author, *, at: datetime) -> None:
    """Send a draft on: published at once for trusted authors, otherwise into moderation."""
    if post.author_id != author.member_id:
        raise NotAllowed("only the author can submit this post")
    if may_publish_directly(author, post.content.organisation_id):
        post._move(P.PUBLISHED, at)
        post.published_at = at
    else:
        post._move(P.SUBMITTED, at)


def edit_post(
    post: Post, author: Author, draft: PostDraft, *, at: datetime, expected_version: int | None
) -> None:
    if post.author_id != author.member_id:
        raise NotAllowed("you can only edit your own posts")
    if expected_version is not None and expected_version != post.version:
        raise InvalidState("the post was changed by someone else; reload it", field="version")
    if post.status is P.ARCHIVED:
        raise InvalidState("an archived post cannot be edited")
    check_may_post_for(author, draft.organisation_id)
    if post.status in (P.REJECTED, P.SUBMITTED):
        post._move(P.DRAFT, at)
        post.rejection_reason = None
    else:
        post.version += 1
        post.updated_at = at
    post.content = draft


def moderate(
    post: Post, moderator: Author, *, approve: bool, reason: str | None, at: datetime
) -> None:
    if not moderator.is_moderator:
        raise NotAllowed("only moderators review posts")
    if approve:
        post._move(P.PUBLISHED, at)
        post.published_at = at
        return
    cleaned = _text(reason or "", field_name="reason", maximum=MAX_REJECTION_REASON, required=True)
    post._move(P.REJECTED, at)
    post.rejection_reason = cleaned


def archive(post: Post, actor: Author, *, at: datetime) -> None:
    if post.author_id != actor.member_id and not actor.is_moderator:
        raise NotAllowed("only the author or a moderator can archive this post")
    post._move(P.ARCHIVED, at)


def set_hidden(post: Post, moderator: Author, *, hidden: bool, at: datetime) -> None:
    if not moderator.is_moderator:
        raise NotAllowed("only moderators hide or restore posts")
    post.hidden = hidden
    post.updated_at = at
    post.version += 1


def visible_to(post: Post, viewer: Author | None) -> bool:
    """Published, unhidden posts are public; anything else only its author and moderators see."""
    if post.status is P.PUBLISHED and not post.hidden:
        return True
    return viewer is not None and (viewer.member_id == post.author_id or viewer.is_moderator)


def scrub_author(post: Post, *, removed_member_id: uuid.UUID) -> Post:
    """After erasure the post stays, attributed to a removed member."""
    return replace(post, author_id=removed_member_id)
