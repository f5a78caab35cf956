"""GraphQL helpers shared by the content tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette

from content.app import ContentRuntime
from content.consumers import ContentEventHandler
from content.settings import ContentSettings
from kopano.auth import TokenIssuer
from kopano.events import CloudEvent, EventSchemas, parse_time
from kopano.outbox import MongoInbox

EVENT_SCHEMAS = EventSchemas(Path(__file__).resolve().parents[2] / "docs" / "events")

POST_FIELDS = """
  id kind title summary body bodyHtml language tags coverImageUrl status rejectionReason
  hidden version publishedAt author { id } authorRemoved organisation { id }
  reactionCount reactions { kind count } myReaction commentCount
"""

CREATE_POST = f"""
mutation Create($input: PostInput!, $submit: Boolean! = true) {{
  createPost(input: $input, submit: $submit) {{ {POST_FIELDS} }}
}}
"""

EVENT_FIELDS = """
  id title description startsAt endsAt timeZone place { city country address } onlineUrl
  organiserMember { id } organiserOrganisation { id } capacity goingCount seatsLeft status myRsvp
"""

SCHEDULE = f"""
mutation Schedule($input: EventInput!) {{ scheduleEvent(input: $input) {{ {EVENT_FIELDS} }} }}
"""

RSVP = """
mutation Rsvp($id: ID!, $r: RsvpResponse!) {
  rsvp(eventId: $id, response: $r) { response event { id goingCount seatsLeft } }
}
"""


def make_settings(mongodb_url: str, database: str, **overrides: Any) -> ContentSettings:
    values: dict[str, Any] = {
        "mongodb_url": mongodb_url,
        "mongodb_database": database,
        "environment": "test",
        "relay_enabled": False,
        "consumers_enabled": False,
    }
    values.update(overrides)
    return ContentSettings(**values)


def post_input(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": "NEWS_DIASPORA",
        "title": "Basotho ba Gauteng ba kopana",
        "summary": "Kopano ea selemo ea Letšolo",
        "body": "Kopano ea **selemo** e tla ba ka la 12.",
        "language": "st",
        "tags": ["Gauteng", "kopano"],
    }
    data.update(overrides)
    return data


def event_input(**overrides: Any) -> dict[str, Any]:
    starts = datetime.now(UTC) + timedelta(days=10)
    data: dict[str, Any] = {
        "title": "Moshoeshoe Day picnic",
        "description": "Bring a *blanket*.",
        "startsAt": starts.isoformat(),
        "endsAt": (starts + timedelta(hours=5)).isoformat(),
        "timeZone": "Africa/Johannesburg",
        "place": {"city": "Johannesburg", "country": "ZA", "address": "Zoo Lake"},
        "capacity": None,
    }
    data.update(overrides)
    return data


def error_code(body: dict[str, Any]) -> str:
    assert body.get("errors"), body
    code: str = body["errors"][0]["extensions"]["code"]
    return code


def error_field(body: dict[str, Any]) -> str | None:
    field: str | None = body["errors"][0]["extensions"].get("field")
    return field


@dataclass
class Member:
    id: str
    token: str


@dataclass
class ContentHarness:
    client: httpx.AsyncClient
    app: Starlette
    issuer: TokenIssuer

    @property
    def runtime(self) -> ContentRuntime:
        runtime: ContentRuntime = self.app.state.content
        return runtime

    def member(self, *roles: str) -> Member:
        member_id = str(uuid.uuid4())
        return Member(member_id, self.issuer.issue_access_token(member_id, roles or ("member",)))

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, *, as_: Member | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {as_.token}"} if as_ else {}
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code in (200, 400, 401, 403, 404, 409), response.text
        body: dict[str, Any] = response.json()
        return body

    async def ok(
        self, query: str, variables: dict[str, Any] | None = None, *, as_: Member | None = None
    ) -> dict[str, Any]:
        body = await self.gql(query, variables, as_=as_)
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def create_post(
        self, author: Member, *, submit: bool = True, **fields: Any
    ) -> dict[str, Any]:
        data = await self.ok(
            CREATE_POST, {"input": post_input(**fields), "submit": submit}, as_=author
        )
        post: dict[str, Any] = data["createPost"]
        return post

    async def deliver(self, event_type: str, subject: str, data: dict[str, Any]) -> CloudEvent:
        """Apply one of another service's events through the real handler and inbox."""
        event = CloudEvent.new(event_type, "/kopano/members", subject, data)
        await self.redeliver(event)
        return event

    async def redeliver(self, event: CloudEvent) -> bool:
        runtime = self.runtime
        handler = ContentEventHandler(runtime.service, runtime.store)
        return await MongoInbox(runtime.store.db).process("content", event, handler)

    async def make_official(self, member: Member, *, verified: bool = True) -> str:
        org = str(uuid.uuid4())
        now = datetime.now(UTC).isoformat()
        await self.deliver(
            "organisation.member_joined",
            org,
            {
                "organisationId": org,
                "memberId": member.id,
                "role": "OWNER",
                "organisationVerified": verified,
                "joinedAt": now,
            },
        )
        return org

    async def outbox_events(self, event_type: str | None = None) -> list[CloudEvent]:
        query = {"type": event_type} if event_type else {}
        found = []
        async for row in self.runtime.store.db.outbox.find(query).sort("_id", 1):
            headers = row["headers"]
            event = CloudEvent(
                id=headers["ce_id"],
                source=headers["ce_source"],
                type=headers["ce_type"],
                subject=headers["ce_subject"],
                time=parse_time(headers["ce_time"]),
                data=orjson.loads(bytes(row["payload"])),
            )
            EVENT_SCHEMAS.validate(event)
            found.append(event)
        return found
