"""Small strawberry helpers every service shares.

- typed access to the request context and the caller: :func:`info_context`,
  :func:`require_principal`, :func:`require_role`, and the permission classes
  :class:`IsAuthenticated` / :class:`HasRole`;
- cursor pagination: :func:`encode_cursor` / :func:`decode_cursor` (opaque,
  base64url, typed values survive the round trip), :func:`page_size` and a generic
  :class:`Connection` with :class:`Edge` and :class:`PageInfo`.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, Generic, TypeVar

import orjson
import strawberry
from strawberry.permission import BasePermission
from strawberry.types import Info

from kopano.auth import Principal
from kopano.errors import BadUserInput, Forbidden, Unauthenticated
from kopano.web import RequestContext

__all__ = [
    "MAX_CURSOR_LENGTH",
    "Connection",
    "CursorValue",
    "Edge",
    "HasRole",
    "IsAuthenticated",
    "PageInfo",
    "decode_cursor",
    "encode_cursor",
    "info_context",
    "page_size",
    "require_principal",
    "require_role",
]

T = TypeVar("T")
CursorValue = str | int | float | bool | None | datetime | date | uuid.UUID

# A cursor is a handful of sort keys; anything longer is not one of ours.
MAX_CURSOR_LENGTH = 1024


# --------------------------------------------------------------------------- context


def info_context(info: Info[Any, Any]) -> RequestContext:
    """``info.context`` as the kit's :class:`kopano.web.RequestContext`."""
    context = info.context
    if not isinstance(context, RequestContext):
        raise TypeError(f"expected a kopano RequestContext, got {type(context).__name__}")
    return context


def _principal_of(info: Info[Any, Any]) -> tuple[Principal | None, Unauthenticated | None]:
    context = info.context
    principal = getattr(context, "principal", None)
    error = getattr(context, "auth_error", None)
    if principal is not None and not isinstance(principal, Principal):
        raise TypeError("context.principal must be a kopano.auth.Principal")
    return principal, error if isinstance(error, Unauthenticated) else None


def require_principal(info: Info[Any, Any]) -> Principal:
    """The caller; raises Unauthenticated (with the token's problem, if any) otherwise."""
    principal, error = _principal_of(info)
    if principal is not None:
        return principal
    if error is not None:
        raise Unauthenticated(error.message)
    raise Unauthenticated("Authentication required.")


def require_role(info: Info[Any, Any], role: str) -> Principal:
    """The caller when they hold ``role``; Unauthenticated / Forbidden otherwise."""
    principal = require_principal(info)
    if not principal.has_role(role):
        raise Forbidden(f"The {role!r} role is required.")
    return principal


class IsAuthenticated(BasePermission):
    """``permission_classes=[IsAuthenticated]``: the field needs a signed-in caller.

    Raises :class:`Unauthenticated` itself (with the token's problem, if any), so
    the client gets ``UNAUTHENTICATED`` and the reason.
    """

    message = "Authentication required."

    def has_permission(self, source: Any, info: Info[Any, Any], **kwargs: Any) -> bool:
        require_principal(info)
        return True


class HasRole(BasePermission):
    """``extensions=[PermissionExtension(permissions=[HasRole("admin")])]``."""

    message = "Forbidden."

    def __init__(self, role: str) -> None:
        self.role = role

    def has_permission(self, source: Any, info: Info[Any, Any], **kwargs: Any) -> bool:
        require_role(info, self.role)
        return True


# --------------------------------------------------------------------------- cursors


def _encode_value(value: CursorValue) -> Any:
    # bool before int: bool is an int subclass. datetime before date, likewise.
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {"u": str(value)}
    raise TypeError(f"unsupported cursor value: {type(value).__name__}")


def _decode_value(raw: Any) -> CursorValue:
    if raw is None or isinstance(raw, bool | int | float | str):
        return raw
    if isinstance(raw, dict) and len(raw) == 1:
        ((tag, text),) = raw.items()
        if isinstance(text, str):
            if tag == "dt":
                return datetime.fromisoformat(text)
            if tag == "d":
                return date.fromisoformat(text)
            if tag == "u":
                return uuid.UUID(text)
    raise ValueError("unknown cursor value")


def encode_cursor(values: Sequence[CursorValue]) -> str:
    """An opaque cursor for the sort key of one row (e.g. ``(created_at, id)``)."""
    payload = orjson.dumps([_encode_value(v) for v in values])
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str, *, length: int | None = None) -> tuple[CursorValue, ...]:
    """The values given to :func:`encode_cursor`; BadUserInput for anything else.

    ``length``, when given, is the number of values the caller expects.
    """
    invalid = BadUserInput("Invalid cursor.", field="after")
    if not cursor or len(cursor) > MAX_CURSOR_LENGTH:
        raise invalid
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(raw, list):
            raise ValueError("not a list")
        values = tuple(_decode_value(item) for item in raw)
    except (ValueError, TypeError, binascii.Error, UnicodeEncodeError):
        raise invalid from None
    if length is not None and len(values) != length:
        raise invalid
    return values


def page_size(first: int | None, *, default: int = 20, maximum: int = 100) -> int:
    """Validate a ``first`` argument; BadUserInput outside 1..maximum."""
    if first is None:
        return default
    if first < 1 or first > maximum:
        raise BadUserInput(f"'first' must be between 1 and {maximum}.", field="first")
    return first


# --------------------------------------------------------------------------- connections


@strawberry.type(description="Where a page sits in the whole list.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool = False
    start_cursor: str | None = None
    end_cursor: str | None = None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type(description="A page of results with cursors to continue from.")
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo

    @strawberry.field
    def nodes(self) -> list[T]:
        """The nodes of this page, without cursors."""
        return [edge.node for edge in self.edges]

    @classmethod
    def from_rows(
        cls,
        rows: Sequence[T],
        *,
        first: int,
        cursor_of: Callable[[T], Sequence[CursorValue]],
        has_previous_page: bool = False,
    ) -> Connection[T]:
        """Build a page from rows fetched with ``LIMIT first + 1``.

        The extra row only tells whether a next page exists; it is not returned.
        """
        page = list(rows[:first])
        edges = [Edge(cursor=encode_cursor(cursor_of(row)), node=row) for row in page]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(rows) > first,
                has_previous_page=has_previous_page,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )
