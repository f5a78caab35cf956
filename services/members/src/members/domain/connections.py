"""Connections between members (one row per unordered pair) and blocks."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime

from kopano.errors import BadUserInput

_NAMESPACE = uuid.UUID("5b0c6f3e-64a8-4d5e-9a57-6f1f0f6c1e2a")


class ConnectionStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"


def pair(a: uuid.UUID, b: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    if a == b:
        raise BadUserInput("You cannot connect with yourself.", field="memberId")
    return (a, b) if a.bytes < b.bytes else (b, a)


def connection_id(a: uuid.UUID, b: uuid.UUID) -> uuid.UUID:
    """A stable id per pair, so every event about one pair lands on one partition."""
    low, high = pair(a, b)
    return uuid.uuid5(_NAMESPACE, f"{low}:{high}")


@dataclass(slots=True)
class Connection:
    member_low: uuid.UUID
    member_high: uuid.UUID
    requested_by: uuid.UUID
    status: ConnectionStatus
    created_at: datetime
    responded_at: datetime | None = None

    @property
    def id(self) -> uuid.UUID:
        return connection_id(self.member_low, self.member_high)

    @property
    def accepted(self) -> bool:
        return self.status is ConnectionStatus.ACCEPTED

    def other(self, me: uuid.UUID) -> uuid.UUID:
        return self.member_high if me == self.member_low else self.member_low
