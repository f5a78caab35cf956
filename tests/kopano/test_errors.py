"""Error codes and masking, at the schema level (the HTTP path is in test_web.py)."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry
from graphql import GraphQLError

from kopano.errors import (
    INTERNAL_ERROR_MESSAGE,
    BadUserInput,
    Conflict,
    DomainError,
    ErrorCode,
    Forbidden,
    MaskErrors,
    NotFound,
    Unauthenticated,
)


@strawberry.type
class Query:
    @strawberry.field
    def ok(self) -> str:
        return "ok"

    @strawberry.field
    def taken(self) -> str:
        raise Conflict("email already registered", field="email")

    @strawberry.field
    def boom(self) -> str:
        raise RuntimeError("SELECT * FROM members WHERE password_hash = 'secret'")

    @strawberry.field
    def missing(self) -> str:
        return None  # type: ignore[return-value]

    @strawberry.field
    def echo(self, n: int) -> int:
        return n

    @strawberry.field
    def coded(self) -> str:
        raise GraphQLError("slow down", extensions={"code": "FORBIDDEN"})


schema = strawberry.Schema(query=Query, extensions=[MaskErrors])


async def run(query: str, variables: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    result = await schema.execute(query, variable_values=variables)
    assert result.errors
    return [dict(e.formatted) for e in result.errors]


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (DomainError, ErrorCode.BAD_USER_INPUT),
        (BadUserInput, ErrorCode.BAD_USER_INPUT),
        (Unauthenticated, ErrorCode.UNAUTHENTICATED),
        (Forbidden, ErrorCode.FORBIDDEN),
        (NotFound, ErrorCode.NOT_FOUND),
        (Conflict, ErrorCode.CONFLICT),
    ],
)
def test_codes(cls: type[DomainError], code: ErrorCode) -> None:
    err = cls("nope", field="f", details={"code": "HIJACK", "limit": 3})
    assert err.code is code
    assert err.extensions() == {"code": code.value, "field": "f", "limit": 3}
    assert str(err) == "nope"


async def test_domain_error_keeps_message_and_code() -> None:
    (error,) = await run("{ taken }")
    assert error["message"] == "email already registered"
    assert error["extensions"] == {"code": "CONFLICT", "field": "email"}
    assert error["path"] == ["taken"]


async def test_unexpected_exception_is_masked() -> None:
    (error,) = await run("{ boom }")
    assert error["message"] == INTERNAL_ERROR_MESSAGE
    assert error["extensions"] == {"code": "INTERNAL"}
    assert "SELECT" not in str(error)


async def test_non_null_violation_is_internal() -> None:
    (error,) = await run("{ missing }")
    assert error["extensions"] == {"code": "INTERNAL"}
    assert error["message"] == INTERNAL_ERROR_MESSAGE


async def test_parse_error_keeps_message() -> None:
    (error,) = await run("{ ok ")
    assert error["extensions"] == {"code": "GRAPHQL_PARSE_FAILED"}
    assert "Syntax Error" in error["message"]


async def test_validation_error_keeps_message() -> None:
    (error,) = await run("{ nope }")
    assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}
    assert "nope" in error["message"]


async def test_bad_variable_is_bad_user_input() -> None:
    (error,) = await run("query Q($n: Int!) { echo(n: $n) }", {"n": "seven"})
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    assert error["message"].startswith("Variable '$n'")


async def test_graphql_error_with_known_code_is_kept() -> None:
    (error,) = await run("{ coded }")
    assert error == {
        "message": "slow down",
        "locations": [{"line": 1, "column": 3}],
        "path": ["coded"],
        "extensions": {"code": "FORBIDDEN"},
    }


async def test_partial_data_survives() -> None:
    result = await schema.execute("{ ok boom }")
    assert result.data is None  # non-null boom nulls the root
    result = await schema.execute("{ ok taken }")
    assert result.errors
    assert result.errors[0].extensions == {"code": "CONFLICT", "field": "email"}
