"""Composition errors: every problem found is collected, each with a stable code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CompositionIssue:
    """One problem found while composing.

    `code` uses the names of Apollo's composition error codes (e.g. `INVALID_FIELD_SHARING`)
    so that people can look them up in the Federation documentation.
    """

    code: str
    message: str

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


class CompositionError(Exception):
    """The subgraphs cannot be composed; `issues` lists every problem found."""

    def __init__(self, issues: Sequence[CompositionIssue]) -> None:
        self.issues: tuple[CompositionIssue, ...] = tuple(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))

    @property
    def codes(self) -> list[str]:
        return [issue.code for issue in self.issues]
