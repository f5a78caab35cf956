"""kopano.graphql helpers: cursors, page sizes, generic connections, context accessors."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
import strawberry
from hypothesis import given
from hypothesis import strategies as st
from strawberry.permission import PermissionExtension
from strawberry.types import Info

from kopano.auth import Principal
from kopano.errors import BadUserInput, MaskErrors, Unauthenticated
from kopano.graphql import (
    MAX_CURSOR_LENGTH,
    Connection,
    CursorValue,
    HasRole,
    IsAuthenticated,
    decode_cursor,
    encode_cursor,
    info_context,
    page_size,
    require_principal,
)


def test_cursor_round_trip_keeps_types() -> None:
    values: tuple[CursorValue, ...] = (
        datetime(2026, 11, 27, 9, 30, tzinfo=UTC),
        uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e"),
        date(2026, 1, 1),
        "Maseru",
        42,
        1.5,
        True,
        None,
    )
    cursor = encode_cursor(values)
    assert "=" not in cursor
    assert "Maseru" not in cursor  # opaque to the client
    assert decode_cursor(cursor) == values
    assert decode_cursor(cursor, length=len(values)) == values


@given(
    st.lists(
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(min_value=-(2**63), max_value=2**63 - 1),
            st.text(max_size=20),
            st.uuids(),
            st.datetimes(timezones=st.just(UTC)),
        ),
        max_size=4,
    )
)
def test_cursor_round_trip_property(values: list[CursorValue]) -> None:
    assert decode_cursor(encode_cursor(values)) == tuple(values)


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "!!!",
        "not base64 at all",
        base64.urlsafe_b64encode(b"{not json").decode(),
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),  # not a list
        base64.urlsafe_b64encode(b'[{"x": "y"}]').decode(),  # unknown tag
        base64.urlsafe_b64encode(b'[{"dt": "yesterday"}]').decode(),
        base64.urlsafe_b64encode(b'[{"u": "not-a-uuid"}]').decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "A" * (MAX_CURSOR_LENGTH + 4),
        "é",
    ],
)
def test_garbage_cursor_is_bad_user_input(garbage: str) -> None:
    with pytest.raises(BadUserInput) as info:
        decode_cursor(garbage)
    assert info.value.message == "Invalid cursor."
    assert info.value.extensions() == {"code": "BAD_USER_INPUT", "field": "after"}


def test_cursor_length_checked() -> None:
    with pytest.raises(BadUserInput):
        decode_cursor(encode_cursor((1, 2)), length=3)


def test_unsupported_cursor_value() -> None:
    with pytest.raises(TypeError):
        encode_cursor((object(),))  # type: ignore[arg-type]


def test_page_size() -> None:
    assert page_size(None) == 20
    assert page_size(None, default=5) == 5
    assert page_size(1) == 1
    assert page_size(100) == 100
    for bad in (0, -1, 101):
        with pytest.raises(BadUserInput) as info:
            page_size(bad)
        assert info.value.field == "first"


# --------------------------------------------------------------------------- Connection[T]


@strawberry.type
class City:
    id: int
    name: str


CITIES = [City(id=i, name=f"city-{i}") for i in range(1, 8)]


@strawberry.type
class Query:
    @strawberry.field
    def cities(self, first: int | None = None, after: str | None = None) -> Connection[City]:
        size = page_size(first, default=3, maximum=5)
        start = 0
        if after is not None:
            (last_id,) = decode_cursor(after, length=1)
            start = next(i for i, c in enumerate(CITIES) if c.id == last_id) + 1
        rows = CITIES[start : start + size + 1]  # one extra row: is there a next page?
        return Connection.from_rows(
            rows, first=size, cursor_of=lambda c: (c.id,), has_previous_page=start > 0
        )

    @strawberry.field
    def who(self, info: Info[Any, None]) -> str:
        return require_principal(info).subject

    @strawberry.field
    def typed(self, info: Info[Any, None]) -> str:
        return info_context(info).request_id

    @strawberry.field(permission_classes=[IsAuthenticated])  # type: ignore[untyped-decorator]
    def secret(self) -> str:
        return "for members"

    @strawberry.field(extensions=[PermissionExtension(permissions=[HasRole("moderator")])])  # type: ignore[untyped-decorator]
    def queue(self) -> str:
        return "for moderators"


schema = strawberry.Schema(query=Query, extensions=[MaskErrors])

PAGE = """
query Page($after: String) {
  cities(first: 3, after: $after) {
    edges { cursor node { id } }
    nodes { name }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


async def test_connection_pages_through_everything() -> None:
    sdl = schema.as_str()
    assert "type CityConnection" in sdl
    assert "type CityEdge" in sdl

    seen: list[int] = []
    after = None
    pages = 0
    while True:
        result = await schema.execute(PAGE, variable_values={"after": after})
        assert result.errors is None
        assert result.data is not None
        page = result.data["cities"]
        ids = [edge["node"]["id"] for edge in page["edges"]]
        assert [n["name"] for n in page["nodes"]] == [f"city-{i}" for i in ids]
        assert page["pageInfo"]["hasPreviousPage"] == (pages > 0)
        assert page["pageInfo"]["startCursor"] == page["edges"][0]["cursor"]
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        seen.extend(ids)
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [c.id for c in CITIES]
    assert pages == 3


async def test_connection_errors() -> None:
    result = await schema.execute(PAGE, variable_values={"after": "garbage!"})
    assert result.errors
    assert result.errors[0].extensions == {"code": "BAD_USER_INPUT", "field": "after"}
    result = await schema.execute("{ cities(first: 50) { nodes { id } } }")
    assert result.errors
    assert result.errors[0].extensions == {"code": "BAD_USER_INPUT", "field": "first"}


def test_empty_connection() -> None:
    conn: Connection[City] = Connection.from_rows([], first=10, cursor_of=lambda c: (c.id,))
    assert conn.edges == []
    assert conn.page_info.has_next_page is False
    assert conn.page_info.start_cursor is None


# --------------------------------------------------------------------------- context helpers


@dataclass
class OtherContext:
    principal: Any = None
    auth_error: Any = None


async def test_require_principal_with_a_foreign_context() -> None:
    result = await schema.execute("{ who }", context_value=OtherContext())
    assert result.errors
    assert result.errors[0].extensions == {"code": "UNAUTHENTICATED"}


async def test_info_context_refuses_a_foreign_context() -> None:
    result = await schema.execute("{ typed }", context_value=OtherContext())
    assert result.errors
    assert result.errors[0].extensions == {"code": "INTERNAL"}


async def test_permission_classes() -> None:
    async def run(query: str, context: OtherContext) -> tuple[Any, Any]:
        result = await schema.execute(query, context_value=context)
        return result.data, [e.formatted for e in result.errors or []]

    member = Principal(subject="m1", roles=frozenset({"member"}))
    moderator = Principal(subject="m2", roles=frozenset({"moderator"}))

    data, errors = await run("{ secret }", OtherContext())
    assert data is None
    assert errors[0]["extensions"] == {"code": "UNAUTHENTICATED"}
    assert errors[0]["message"] == "Authentication required."

    data, errors = await run(
        "{ secret }", OtherContext(auth_error=Unauthenticated("access token expired"))
    )
    assert errors[0]["message"] == "access token expired"

    assert await run("{ secret }", OtherContext(principal=member)) == (
        {"secret": "for members"},
        [],
    )
    data, errors = await run("{ queue }", OtherContext(principal=member))
    assert errors[0]["extensions"] == {"code": "FORBIDDEN"}
    assert await run("{ queue }", OtherContext(principal=moderator)) == (
        {"queue": "for moderators"},
        [],
    )
