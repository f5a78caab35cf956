"""Comments (threaded one level), reactions (one per member per post) and abuse reports."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from content.domain.errors import InvalidInput, NotAllowed
from content.domain.markdown import validate_body
from content.domain.posts import Author

MAX_COMMENT: Final = 5_000
MAX_REPORT_REASON: Final = 1_000
SCRUBBED_TEXT: Final = "[removed]"


class ReactionKind(StrEnum):
    LIKE = "LIKE"
    LOVE = "LOVE"
    CELEBRATE = "CELEBRATE"
    SUPPORT = "SUPPORT"  # sympathy, e.g. on a funeral notice
    INSIGHTFUL = "INSIGHTFUL"


class ReportTarget(StrEnum):
    POST = "POST"
    COMMENT = "COMMENT"


@dataclass(slots=True)
class Comment:
    id: uuid.UUID
    post_id: uuid.UUID
    author_id: uuid.UUID
    parent_id: uuid.UUID | None
    body: str
    created_at: datetime
    hidden: bool = False


def new_comment(
    author: Author,
    *,
    post_id: uuid.UUID,
    body: str,
    parent: Comment | None,
    at: datetime,
) -> Comment:
    text = body.strip()
    if not text:
        raise InvalidInput("must not be empty", field="body")
    if len(text) > MAX_COMMENT:
        raise InvalidInput(f"must be at most {MAX_COMMENT} characters", field="body")
    validate_body(text)
    if parent is not None:
        if parent.post_id != post_id:
            raise InvalidInput("the parent comment belongs to another post", field="parentId")
        if parent.parent_id is not None:
            # One level of replies keeps threads readable on a phone.
            raise InvalidInput("replies cannot be replied to", field="parentId")
    return Comment(
        id=uuid.uuid4(),
        post_id=post_id,
        author_id=author.member_id,
        parent_id=parent.id if parent else None,
        body=text,
        created_at=at,
    )


def hide_comment(comment: Comment, moderator: Author, *, hidden: bool) -> None:
    if not moderator.is_moderator:
        raise NotAllowed("only moderators hide or restore comments")
    comment.hidden = hidden


def reaction_count_changes(
    previous: ReactionKind | None, new: ReactionKind | None
) -> dict[str, int]:
    """The count increments that keep per-kind totals equal to the stored reactions."""
    changes: dict[str, int] = {}
    if previous == new:
        return changes
    if previous is not None:
        changes[previous.value] = -1
    if new is not None:
        changes[new.value] = changes.get(new.value, 0) + 1
    return changes


def validate_report_reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise InvalidInput("say what is wrong", field="reason")
    if len(text) > MAX_REPORT_REASON:
        raise InvalidInput(f"must be at most {MAX_REPORT_REASON} characters", field="reason")
    return text
