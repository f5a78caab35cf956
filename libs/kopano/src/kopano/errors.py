"""Stable error codes, domain errors and GraphQL error masking.

Clients branch on ``extensions.code``, never on message text. A ``DomainError``
raised anywhere in a resolver reaches the client with its message, its code and
(optionally) the input field it refers to. Anything else is a bug: the client gets
"Internal server error" with code ``INTERNAL`` and the details go to the server log
together with the request id.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from enum import StrEnum
from typing import Any, ClassVar

import structlog
from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import SchemaExtension

__all__ = [
    "INTERNAL_ERROR_MESSAGE",
    "BadUserInput",
    "Conflict",
    "DomainError",
    "ErrorCode",
    "Forbidden",
    "MaskErrors",
    "NotFound",
    "Unauthenticated",
    "mask_error",
    "mask_errors",
]

INTERNAL_ERROR_MESSAGE = "Internal server error"

_log = structlog.get_logger("kopano.errors")


class ErrorCode(StrEnum):
    BAD_USER_INPUT = "BAD_USER_INPUT"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    INTERNAL = "INTERNAL"
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"


_KNOWN_CODES: frozenset[str] = frozenset(code.value for code in ErrorCode)


class DomainError(Exception):
    """An expected failure whose message is safe to show to the caller."""

    code: ClassVar[ErrorCode] = ErrorCode.BAD_USER_INPUT

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details: dict[str, Any] = dict(details or {})

    def extensions(self) -> dict[str, Any]:
        ext: dict[str, Any] = {"code": self.code.value}
        if self.field is not None:
            ext["field"] = self.field
        # Details never override the code or field.
        for key, value in self.details.items():
            ext.setdefault(key, value)
        return ext

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, field={self.field!r})"


class BadUserInput(DomainError):
    code = ErrorCode.BAD_USER_INPUT


class Unauthenticated(DomainError):
    code = ErrorCode.UNAUTHENTICATED


class Forbidden(DomainError):
    code = ErrorCode.FORBIDDEN


class NotFound(DomainError):
    code = ErrorCode.NOT_FOUND


class Conflict(DomainError):
    code = ErrorCode.CONFLICT


def _find_domain_error(error: BaseException | None) -> DomainError | None:
    """Walk the original-error chain (graphql-core may wrap twice)."""
    seen = 0
    while error is not None and seen < 8:
        if isinstance(error, DomainError):
            return error
        error = getattr(error, "original_error", None)
        seen += 1
    return None


def _with(error: GraphQLError, message: str, extensions: dict[str, Any]) -> GraphQLError:
    # original_error is dropped on purpose: nothing downstream may format it.
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )


def _is_variable_error(error: GraphQLError) -> bool:
    # graphql-core's variable coercion messages have a fixed prefix and no path.
    return error.path is None and error.message.startswith("Variable '$")


def mask_error(
    error: GraphQLError,
    *,
    validation_errors: frozenset[int] = frozenset(),
) -> GraphQLError:
    """Turn one error into what a client may see (idempotent)."""
    domain = _find_domain_error(error.original_error)
    if domain is not None:
        return _with(error, domain.message, domain.extensions())
    if isinstance(error, GraphQLSyntaxError):
        return _with(error, error.message, {"code": ErrorCode.GRAPHQL_PARSE_FAILED.value})
    if _is_variable_error(error):
        # The message describes the caller's input (scalar coercion), not our internals.
        return _with(error, error.message, {"code": ErrorCode.BAD_USER_INPUT.value})
    if error.original_error is None:
        if id(error) in validation_errors:
            return _with(error, error.message, {"code": ErrorCode.GRAPHQL_VALIDATION_FAILED.value})
        # Already masked, or built deliberately with a stable code.
        if (error.extensions or {}).get("code") in _KNOWN_CODES:
            return error
    elif isinstance(error.original_error, GraphQLError):
        # A resolver raised a GraphQLError carrying one of our codes on purpose.
        raised = error.original_error
        if (raised.extensions or {}).get("code") in _KNOWN_CODES:
            return _with(error, raised.message, dict(raised.extensions or {}))
    _log.error(
        "graphql.unexpected_error",
        path=list(error.path) if error.path else None,
        error_type=type(error.original_error or error).__name__,
        exc_info=error.original_error or error,
    )
    return _with(error, INTERNAL_ERROR_MESSAGE, {"code": ErrorCode.INTERNAL.value})


def mask_errors(
    errors: list[GraphQLError],
    *,
    validation_errors: frozenset[int] = frozenset(),
) -> list[GraphQLError]:
    return [mask_error(e, validation_errors=validation_errors) for e in errors]


class MaskErrors(SchemaExtension):
    """Strawberry extension applying :func:`mask_error` to every result error.

    Add it to the schema (``extensions=[MaskErrors]``); ``kopano.web`` also
    applies the same masking to the HTTP response as a last line of defence for
    errors raised outside the operation hook.
    """

    def __init__(self) -> None:
        self._validation_errors: frozenset[int] = frozenset()

    def on_validate(self) -> Iterator[None]:
        yield
        errors = self.execution_context.pre_execution_errors or []
        self._validation_errors = frozenset(id(e) for e in errors)

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is not None and errors:
            result.errors = mask_errors(errors, validation_errors=self._validation_errors)
