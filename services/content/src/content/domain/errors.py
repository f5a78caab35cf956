"""Content rule violations; the schema layer maps `code` to the GraphQL `extensions.code`."""

from __future__ import annotations


class ContentError(Exception):
    code = "BAD_USER_INPUT"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(ContentError):
    pass


class NotAllowed(ContentError):
    code = "FORBIDDEN"


class InvalidState(ContentError):
    code = "CONFLICT"


class NotFound(ContentError):
    code = "NOT_FOUND"
