"""A member's copy of their personal data (data-subject access), in parts.

Personal data stays in the service that holds it, so each service answers for its own part
(`myData`, `myContentData`, `myOpportunitiesData`, `myPaymentsData`). Every part starts with
the same head — `service`, `memberId`, `exportedAt` — so a client can join the parts of one
person's copy; then one list per kind of record. Times are ISO 8601 in UTC.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = ["iso_time", "iso_time_or_none", "member_export"]


def iso_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def iso_time_or_none(value: datetime | None) -> str | None:
    return None if value is None else iso_time(value)


def member_export(
    service: str,
    member_id: uuid.UUID | str,
    exported_at: datetime,
    records: Mapping[str, Any],
) -> dict[str, Any]:
    """One service's part of a member's copy: the shared head, then its records."""
    return {
        "service": service,
        "memberId": str(member_id),
        "exportedAt": iso_time(exported_at),
        **records,
    }
