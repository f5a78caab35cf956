"""Data rights (Lesotho Data Protection Act 2011): the member's copy of what content holds.

Only records tied to the member's own id are read, and only their fields: who resolved a
report, who else answered an invitation or reacted never appear. Derived data (search
tokens, feed lanes, counters) is left out; it is the records' index, not more about them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Final

from pymongo import DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from content.adapters.documents import Doc
from content.domain.gatherings import Attendance
from content.unit_of_work import UnitOfWork
from kopano.data_export import iso_time_or_none, member_export

SERVICE_NAME: Final = "content"


def _post(doc: Doc) -> dict[str, Any]:
    return {
        "id": doc["_id"],
        "kind": doc["kind"],
        # The API's enum names for languages are the ISO 639-1 codes stored here.
        "language": doc["language"],
        "title": doc["title"],
        "summary": doc.get("summary", ""),
        "body": doc["body"],
        "tags": list(doc.get("tags") or []),
        "coverImageUrl": doc.get("coverImageUrl"),
        "organisationId": doc.get("organisationId"),
        "status": doc["status"],
        "rejectionReason": doc.get("rejectionReason"),
        "hidden": bool(doc.get("hidden", False)),
        "createdAt": iso_time_or_none(doc["createdAt"]),
        "updatedAt": iso_time_or_none(doc["updatedAt"]),
        "publishedAt": iso_time_or_none(doc.get("publishedAt")),
        "version": int(doc["version"]),
    }


def _comment(doc: Doc) -> dict[str, Any]:
    return {
        "id": doc["_id"],
        "postId": doc["postId"],
        "parentId": doc.get("parentId"),
        "body": doc["body"],
        "hidden": bool(doc.get("hidden", False)),
        "createdAt": iso_time_or_none(doc["createdAt"]),
    }


def _reaction(doc: Doc) -> dict[str, Any]:
    return {
        "postId": doc["postId"],
        "kind": doc["kind"],
        "reactedAt": iso_time_or_none(doc.get("at")),
    }


def _report(doc: Doc) -> dict[str, Any]:
    # `resolvedBy` names a moderator: their data, not the reporter's.
    return {
        "id": doc["_id"],
        "targetType": doc["targetType"],
        "targetId": doc["targetId"],
        "reason": doc["reason"],
        "resolved": bool(doc.get("resolved", False)),
        "createdAt": iso_time_or_none(doc["createdAt"]),
    }


def _rsvp(doc: Doc) -> dict[str, Any]:
    return {
        "eventId": doc["eventId"],
        "response": doc["response"],
        "waitlisted": doc["response"] == Attendance.WAITLISTED.value,
        "answeredAt": iso_time_or_none(doc.get("updatedAt")),
    }


def _event(doc: Doc) -> dict[str, Any]:
    place = doc.get("place")
    return {
        "id": doc["_id"],
        "title": doc["title"],
        "description": doc.get("description", ""),
        "startsAt": iso_time_or_none(doc["startsAt"]),
        "endsAt": iso_time_or_none(doc["endsAt"]),
        "timeZone": doc["timeZone"],
        "place": (
            {"city": place["city"], "country": place["country"], "address": place.get("address")}
            if place
            else None
        ),
        "onlineUrl": doc.get("onlineUrl"),
        # Null when organised as themselves, else the organisation they organised it for.
        "organiserOrganisationId": doc.get("organiserOrganisationId"),
        "capacity": doc.get("capacity"),
        "status": doc["status"],
        "createdAt": iso_time_or_none(doc.get("createdAt")),
        "cancelledAt": iso_time_or_none(doc.get("cancelledAt")),
    }


def _suspension(doc: Doc) -> dict[str, Any]:
    return {
        "suspended": bool(doc.get("suspended")),
        "changedAt": iso_time_or_none(doc.get("changedAt")),
    }


def _organisation_role(doc: Doc) -> dict[str, Any]:
    return {"organisationId": doc["organisationId"], "role": doc["role"]}


async def _all(collection: AsyncCollection[Doc], query: Doc, uow: UnitOfWork) -> list[Doc]:
    found: list[Doc] = await collection.find(query, session=uow.session).to_list()
    return found


async def member_data(
    uow: UnitOfWork, member_id: uuid.UUID, *, exported_at: datetime
) -> dict[str, Any]:
    """Every record content keeps about `member_id`, read in the caller's transaction
    (one snapshot), each kind through its index on the member's id."""
    mid, store = str(member_id), uow.store
    posts: list[Doc] = (
        await store.posts.find({"authorId": mid}, session=uow.session)
        .sort("updateKey", DESCENDING)
        .to_list()
    )
    comments = await _all(store.comments, {"authorId": mid}, uow)
    reactions = await _all(store.reactions, {"memberId": mid}, uow)
    reports = await _all(store.reports, {"reporterId": mid}, uow)
    rsvps = await _all(store.rsvps, {"memberId": mid}, uow)
    # Organised as themselves, or created for an organisation they officiate for.
    gatherings = {
        d["_id"]: d for d in await _all(store.gatherings, {"organiserMemberId": mid}, uow)
    }
    gatherings.update((d["_id"], d) for d in await _all(store.gatherings, {"createdBy": mid}, uow))
    suspension = await store.suspensions.find_one({"_id": mid}, session=uow.session)
    roles = await _all(store.org_roles, {"memberId": mid}, uow)
    records = {
        "posts": [_post(d) for d in posts],
        "comments": [_comment(d) for d in sorted(comments, key=lambda d: d["createdKey"])],
        "reactions": [
            _reaction(d) for d in sorted(reactions, key=lambda d: (d["at"], d["postId"]))
        ],
        "reports": [_report(d) for d in sorted(reports, key=lambda d: d["createdKey"])],
        "rsvps": [_rsvp(d) for d in sorted(rsvps, key=lambda d: (d["updatedAt"], d["eventId"]))],
        "events": [_event(d) for d in sorted(gatherings.values(), key=lambda d: d["sortKey"])],
        "suspensions": [_suspension(suspension)] if suspension is not None else [],
        "organisationRoles": [
            _organisation_role(d) for d in sorted(roles, key=lambda d: d["organisationId"])
        ],
    }
    return member_export(SERVICE_NAME, member_id, exported_at, records)
