"""Content rule violations, as the kit's domain errors so clients get a stable `extensions.code`."""

from __future__ import annotations

from kopano.errors import BadUserInput, Conflict, DomainError, Forbidden
from kopano.errors import NotFound as _NotFound


class ContentError(DomainError):
    """Base of every content rule violation (carries `code`, `message`, `field`)."""


class InvalidInput(ContentError, BadUserInput):
    pass


class NotAllowed(ContentError, Forbidden):
    pass


class InvalidState(ContentError, Conflict):
    pass


class NotFound(ContentError, _NotFound):
    pass


class MemberSuspended(NotAllowed):
    """A suspended member may read but not write; `extensions.reason` tells it apart."""

    REASON = "MEMBER_SUSPENDED"

    def __init__(self) -> None:
        super().__init__("Your account is suspended.", details={"reason": self.REASON})
