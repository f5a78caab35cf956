"""GraphQL helpers shared by the opportunities tests."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from kopano.auth import TokenIssuer
from opportunities.adapters.repository import ProjectionRepository
from opportunities.settings import OpportunitiesSettings

MONEY = "{ amount currency formatted }"
OPPORTUNITY_FIELDS = f"""
id kind status title description organisation {{ id }} location {{ country city remote }}
sector skills languages deadline takesApplications acceptingApplications
job {{ employmentType salaryMin {MONEY} salaryMax {MONEY} }}
investment {{ sector amountSought {MONEY} minimumTicket {MONEY} expectedReturnBasisPoints }}
createdAt publishedAt closedAt
"""
APPLICATION_FIELDS = (
    "id status message links submittedAt applicant { id } opportunity { id } history { status at }"
)

CREATE = f"""
mutation C($input: CreateOpportunityInput!) {{ createOpportunity(input: $input) {{ {OPPORTUNITY_FIELDS} }} }}
"""
UPDATE = f"""
mutation U($id: ID!, $input: OpportunityContentInput!) {{
  updateOpportunity(id: $id, input: $input) {{ {OPPORTUNITY_FIELDS} }}
}}
"""
PUBLISH = "mutation P($id: ID!) { publishOpportunity(id: $id) { id status publishedAt } }"
CLOSE = "mutation X($id: ID!) { closeOpportunity(id: $id) { id status closedAt } }"
WITHDRAW = "mutation W($id: ID!) { withdrawOpportunity(id: $id) { id status } }"
APPLY = f"""
mutation A($id: ID!, $message: String!, $links: [String!]) {{
  apply(opportunityId: $id, message: $message, links: $links) {{ {APPLICATION_FIELDS} }}
}}
"""
INTEREST = f"""
mutation I($id: ID!, $message: String!) {{
  expressInterest(opportunityId: $id, message: $message) {{ {APPLICATION_FIELDS} }}
}}
"""
WITHDRAW_APPLICATION = "mutation WA($id: ID!) { withdrawApplication(id: $id) { id status } }"
REVIEW = """
mutation R($id: ID!, $d: ReviewDecision!) { reviewApplication(id: $id, decision: $d) { id status history { status } } }
"""
APPLICATION = f"query G($id: ID!) {{ application(id: $id) {{ {APPLICATION_FIELDS} }} }}"
OPPORTUNITY = f"query O($id: ID!) {{ opportunity(id: $id) {{ {OPPORTUNITY_FIELDS} }} }}"
SEARCH = """
query S($filter: OpportunityFilterInput, $first: Int, $after: String) {
  opportunities(filter: $filter, first: $first, after: $after) {
    edges { cursor node { id title deadline kind } } pageInfo { hasNextPage endCursor }
  }
}
"""


class Member:
    """A signed-in member: a random id and an access token from the test issuer."""

    def __init__(self, issuer: TokenIssuer, roles: tuple[str, ...] = ("member",)) -> None:
        self.id = uuid.uuid4()
        self.token = issuer.issue_access_token(str(self.id), list(roles))


def make_settings(database_url: str, **overrides: Any) -> OpportunitiesSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "environment": "test",
        "relay_enabled": False,
        "consumers_enabled": False,
        "deadline_sweep_seconds": 0,
        "database_pool_size": 5,
    }
    values.update(overrides)
    return OpportunitiesSettings(**values)


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code in (200, 400), response.text
    body: dict[str, Any] = response.json()
    return body


def data(body: dict[str, Any]) -> dict[str, Any]:
    assert not body.get("errors"), body
    result: dict[str, Any] = body["data"]
    return result


def error_code(body: dict[str, Any]) -> str:
    assert body.get("errors"), body
    code: str = body["errors"][0]["extensions"]["code"]
    return code


def error_field(body: dict[str, Any]) -> str | None:
    field: str | None = body["errors"][0]["extensions"].get("field")
    return field


async def make_official(
    engine: AsyncEngine,
    member: Member,
    *,
    verified: bool = True,
    organisation: uuid.UUID | None = None,
) -> uuid.UUID:
    """Seed the organisation projection as the members service's events would."""
    org = organisation or uuid.uuid4()
    async with engine.begin() as conn:
        repo = ProjectionRepository(conn)
        await repo.set_organisation(org, verified=verified, at=datetime.now(UTC))
        await repo.set_official(org, member.id, "OWNER")
    return org


def job_input(org: uuid.UUID, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "kind": "JOB",
        "organisationId": str(org),
        "title": "Data engineer, Maseru",
        "description": "Build the **ministry's** data platform.",
        "location": {"country": "LS", "city": "Maseru", "remote": True},
        "sector": "FINANCE",
        "skills": ["Python", "SQL", "data engineering"],
        "languages": ["en", "st"],
        "deadline": (date.today() + timedelta(days=30)).isoformat(),
        "job": {
            "employmentType": "FULL_TIME",
            "salaryMin": {"amount": "2500000", "currency": "LSL"},
            "salaryMax": {"amount": "4000000", "currency": "LSL"},
        },
    }
    values.update(overrides)
    return values


def investment_input(org: uuid.UUID, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "kind": "INVESTMENT",
        "organisationId": str(org),
        "title": "Solar mini-grid in Mokhotlong",
        "description": "Seeking diaspora capital.",
        "location": {"country": "LS", "remote": False},
        "skills": ["energy"],
        "investment": {
            "sector": "ENERGY",
            "amountSought": {"amount": "500000000", "currency": "LSL"},
            "minimumTicket": {"amount": "1000000", "currency": "LSL"},
            "expectedReturnBasisPoints": 850,
        },
    }
    values.update(overrides)
    return values


async def posted(
    client: httpx.AsyncClient, official: Member, payload: dict[str, Any], *, publish: bool = True
) -> dict[str, Any]:
    created: dict[str, Any] = data(
        await gql(client, CREATE, {"input": payload}, token=official.token)
    )["createOpportunity"]
    if publish:
        data(await gql(client, PUBLISH, {"id": created["id"]}, token=official.token))
    return created
