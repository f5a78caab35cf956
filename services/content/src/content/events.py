"""The events the content service publishes: types and their payloads (ids and minimum fields)."""

from __future__ import annotations

import uuid
from datetime import datetime

from content.domain.engagement import Comment
from content.domain.posts import Post
from kopano.events import CloudEvent

POST_PUBLISHED = "post.published"
POST_REMOVED = "post.removed"
COMMENT_ADDED = "comment.added"
EVENT_SCHEDULED = "event.scheduled"
EVENT_CANCELLED = "event.cancelled"


def _id(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


def post_published(post: Post, source: str) -> CloudEvent:
    assert post.published_at is not None
    return CloudEvent.new(
        POST_PUBLISHED,
        source,
        str(post.id),
        {
            "postId": str(post.id),
            "authorId": str(post.author_id),
            "organisationId": _id(post.content.organisation_id),
            "kind": post.content.kind.value,
            "language": post.content.language.value,
            "tags": list(post.content.tags),
            "publishedAt": post.published_at.isoformat(),
        },
    )


def post_removed(post: Post, source: str, *, reason: str, at: datetime) -> CloudEvent:
    """A published post left the feed: archived, hidden by a moderator."""
    return CloudEvent.new(
        POST_REMOVED,
        source,
        str(post.id),
        {"postId": str(post.id), "reason": reason, "removedAt": at.isoformat()},
    )


def comment_added(comment: Comment, source: str) -> CloudEvent:
    # Keyed by the post: a post's comments stay in order on one partition.
    return CloudEvent.new(
        COMMENT_ADDED,
        source,
        str(comment.post_id),
        {
            "commentId": str(comment.id),
            "postId": str(comment.post_id),
            "parentId": _id(comment.parent_id),
            "authorId": str(comment.author_id),
            "addedAt": comment.created_at.isoformat(),
        },
    )


def event_scheduled(doc: dict[str, object], source: str) -> CloudEvent:
    place = doc.get("place")
    starts_at = doc["startsAt"]
    ends_at = doc["endsAt"]
    assert isinstance(starts_at, datetime)
    assert isinstance(ends_at, datetime)
    return CloudEvent.new(
        EVENT_SCHEDULED,
        source,
        str(doc["_id"]),
        {
            "eventId": doc["_id"],
            "organiserMemberId": doc.get("organiserMemberId"),
            "organiserOrganisationId": doc.get("organiserOrganisationId"),
            "startsAt": starts_at.isoformat(),
            "endsAt": ends_at.isoformat(),
            "timeZone": doc["timeZone"],
            "country": doc.get("country"),
            "city": place.get("city") if isinstance(place, dict) else None,
            "online": doc.get("onlineUrl") is not None,
            "capacity": doc.get("capacity"),
        },
    )


def event_cancelled(event_id: str, source: str, *, at: datetime) -> CloudEvent:
    return CloudEvent.new(
        EVENT_CANCELLED, source, event_id, {"eventId": event_id, "cancelledAt": at.isoformat()}
    )
