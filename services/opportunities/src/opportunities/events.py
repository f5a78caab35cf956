"""The events the opportunities service publishes: types and their (non-sensitive) payloads.

Application events carry ids and statuses only, never the applicant's message or links.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from kopano.events import CloudEvent
from opportunities.domain.model import Application, ApplicationStatus, Opportunity

OPPORTUNITY_PUBLISHED = "opportunity.published"
OPPORTUNITY_CLOSED = "opportunity.closed"
OPPORTUNITY_MATCHED = "opportunity.matched"
APPLICATION_SUBMITTED = "application.submitted"
APPLICATION_STATUS_CHANGED = "application.status_changed"


def opportunity_published(opp: Opportunity, source: str) -> CloudEvent:
    d = opp.details
    assert opp.published_at is not None
    return CloudEvent.new(
        OPPORTUNITY_PUBLISHED,
        source,
        str(opp.id),
        {
            "opportunityId": str(opp.id),
            "organisationId": str(d.organisation_id),
            "kind": d.kind.value,
            "title": d.title.strip(),
            "sector": d.sector,
            "country": d.location.country,
            "remote": d.location.remote,
            "skills": list(d.skills),
            "deadline": d.deadline.isoformat() if d.deadline else None,
            "publishedAt": opp.published_at.isoformat(),
        },
    )


def opportunity_closed(opp: Opportunity, reason: str, source: str) -> CloudEvent:
    """``reason``: ``closed`` (by hand), ``deadline``, ``withdrawn`` or ``organisation_removed``."""
    assert opp.closed_at is not None
    return CloudEvent.new(
        OPPORTUNITY_CLOSED,
        source,
        str(opp.id),
        {
            "opportunityId": str(opp.id),
            "organisationId": str(opp.details.organisation_id),
            "status": opp.status.value,
            "reason": reason,
            "closedAt": opp.closed_at.isoformat(),
        },
    )


def opportunity_matched(
    opp: Opportunity, member_id: uuid.UUID, search_id: uuid.UUID, at: datetime, source: str
) -> CloudEvent:
    # Keyed by the member: a notifier handles one member's matches in order.
    return CloudEvent.new(
        OPPORTUNITY_MATCHED,
        source,
        str(member_id),
        {
            "memberId": str(member_id),
            "opportunityId": str(opp.id),
            "organisationId": str(opp.details.organisation_id),
            "savedSearchId": str(search_id),
            "kind": opp.details.kind.value,
            "matchedAt": at.isoformat(),
        },
    )


def _application_data(app: Application, opp: Opportunity) -> dict[str, Any]:
    return {
        "applicationId": str(app.id),
        "opportunityId": str(app.opportunity_id),
        "organisationId": str(opp.details.organisation_id),
        "applicantId": str(app.applicant_id),
        "kind": "APPLICATION" if opp.takes_applications else "EXPRESSION_OF_INTEREST",
    }


def application_submitted(app: Application, opp: Opportunity, source: str) -> CloudEvent:
    # Keyed by the application: its status changes follow it in order.
    return CloudEvent.new(
        APPLICATION_SUBMITTED,
        source,
        str(app.id),
        {**_application_data(app, opp), "submittedAt": app.submitted_at.isoformat()},
    )


def application_status_changed(
    app: Application, opp: Opportunity, previous: ApplicationStatus, at: datetime, source: str
) -> CloudEvent:
    return CloudEvent.new(
        APPLICATION_STATUS_CHANGED,
        source,
        str(app.id),
        {
            **_application_data(app, opp),
            "from": previous.value,
            "to": app.status.value,
            "changedAt": at.isoformat(),
        },
    )
