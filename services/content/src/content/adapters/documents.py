"""Domain objects to MongoDB documents and back."""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import UTC, datetime
from typing import Any, Final

from content.domain.engagement import Comment
from content.domain.posts import Language, Post, PostDraft, PostKind, PostStatus

Doc = dict[str, Any]

# Erased authors: the post stays, attributed to nobody.
REMOVED_MEMBER_ID: Final = uuid.UUID(int=0)

_WORD: Final = re.compile(r"[a-z0-9]+")
MAX_TOKENS: Final = 200


def sort_key(at: datetime, ident: uuid.UUID | str) -> str:
    """Time then id, as one string that sorts like the pair (fixed-width UTC time)."""
    return f"{at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%f')}|{ident}"


def normalise_words(text: str) -> list[str]:
    """Lower-case words without accents (`Letšolo` -> `letsolo`), in order, de-duplicated."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    return list(dict.fromkeys(_WORD.findall(plain)))


def search_tokens(title: str, summary: str) -> list[str]:
    return normalise_words(f"{title} {summary}")[:MAX_TOKENS]


def post_to_doc(post: Post) -> Doc:
    """Every field a use case may change (counters are only ever changed with `$inc`)."""
    c = post.content
    published = post.status is PostStatus.PUBLISHED and post.published_at is not None
    return {
        "_id": str(post.id),
        "authorId": str(post.author_id),
        "organisationId": str(c.organisation_id) if c.organisation_id else None,
        "kind": c.kind.value,
        "title": c.title,
        "summary": c.summary,
        "body": c.body,
        "language": c.language.value,
        "tags": list(c.tags),
        "coverImageUrl": c.cover_image_url,
        "status": post.status.value,
        "createdAt": post.created_at,
        "updatedAt": post.updated_at,
        "updateKey": sort_key(post.updated_at, post.id),
        "publishedAt": post.published_at,
        "feedKey": sort_key(post.published_at, post.id)
        if published and post.published_at
        else None,
        "version": post.version,
        "rejectionReason": post.rejection_reason,
        "hidden": post.hidden,
        "tokens": search_tokens(c.title, c.summary),
    }


def new_post_doc(post: Post) -> Doc:
    return {**post_to_doc(post), "reactionCounts": {}, "commentCount": 0}


def doc_to_post(doc: Doc) -> Post:
    org = doc.get("organisationId")
    return Post(
        id=uuid.UUID(doc["_id"]),
        author_id=uuid.UUID(doc["authorId"]),
        content=PostDraft(
            kind=PostKind(doc["kind"]),
            title=doc["title"],
            summary=doc.get("summary", ""),
            body=doc["body"],
            language=Language(doc["language"]),
            tags=tuple(doc.get("tags", ())),
            cover_image_url=doc.get("coverImageUrl"),
            organisation_id=uuid.UUID(org) if org else None,
        ),
        status=PostStatus(doc["status"]),
        created_at=doc["createdAt"],
        updated_at=doc["updatedAt"],
        version=int(doc["version"]),
        published_at=doc.get("publishedAt"),
        rejection_reason=doc.get("rejectionReason"),
        hidden=bool(doc.get("hidden", False)),
        reaction_counts={k: int(v) for k, v in (doc.get("reactionCounts") or {}).items()},
        comment_count=int(doc.get("commentCount", 0)),
    )


def comment_to_doc(comment: Comment) -> Doc:
    return {
        "_id": str(comment.id),
        "postId": str(comment.post_id),
        "authorId": str(comment.author_id),
        "parentId": str(comment.parent_id) if comment.parent_id else None,
        "body": comment.body,
        "createdAt": comment.created_at,
        "createdKey": sort_key(comment.created_at, comment.id),
        "hidden": comment.hidden,
    }


def doc_to_comment(doc: Doc) -> Comment:
    parent = doc.get("parentId")
    return Comment(
        id=uuid.UUID(doc["_id"]),
        post_id=uuid.UUID(doc["postId"]),
        author_id=uuid.UUID(doc["authorId"]),
        parent_id=uuid.UUID(parent) if parent else None,
        body=doc["body"],
        created_at=doc["createdAt"],
        hidden=bool(doc.get("hidden", False)),
    )
