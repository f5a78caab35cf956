"""Per-field visibility: which viewer may see which field of another member's profile."""

from __future__ import annotations

import enum

from members.domain.model import Member, Visibility


class Relation(enum.IntEnum):
    """How the viewer relates to the member being viewed (higher sees more)."""

    ANONYMOUS = 0
    MEMBER = 1
    CONNECTION = 2
    SELF = 3


_REQUIRED: dict[Visibility, Relation] = {
    Visibility.PUBLIC: Relation.ANONYMOUS,
    Visibility.MEMBERS: Relation.MEMBER,
    Visibility.CONNECTIONS: Relation.CONNECTION,
    Visibility.PRIVATE: Relation.SELF,
}


def can_see(visibility: Visibility, relation: Relation) -> bool:
    return relation >= _REQUIRED[visibility]


def field_visible(member: Member, field_name: str, relation: Relation) -> bool:
    return can_see(member.visibility_of(field_name), relation)
