"""Member directory search: filters, visibility-aware matching, blocking, stable pagination."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from members_gql import error_code, error_field, gql, signed_up

SEARCH = """
query S($filter: MemberFilter, $first: Int!, $after: String) {
  members(filter: $filter, first: $first, after: $after) {
    edges { cursor node { id fullName city skills } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
UPDATE = "mutation U($input: UpdateProfileInput!) { updateProfile(input: $input) { id } }"
VISIBILITY = """
mutation V($s: [FieldVisibilityInput!]!) { setFieldVisibility(settings: $s) { id } }
"""


async def ids(
    client: httpx.AsyncClient, token: str, flt: dict[str, Any], first: int = 50
) -> list[str]:
    body = await gql(client, SEARCH, {"filter": flt, "first": first}, token=token)
    assert "errors" not in body, body
    return [e["node"]["id"] for e in body["data"]["members"]["edges"]]


async def member_with(
    client: httpx.AsyncClient, profile: dict[str, Any], **reg: Any
) -> tuple[dict[str, Any], str]:
    member, token = await signed_up(client, **reg)
    if profile:
        body = await gql(client, UPDATE, {"input": profile}, token=token)
        assert "errors" not in body, body
    return member, token


async def test_filters_match_visible_fields_only(client: httpx.AsyncClient) -> None:
    tag = f"skill{uuid.uuid4().hex[:8]}"
    visible, _ = await member_with(
        client,
        {"skills": [tag], "city": "Maseru", "sector": "HEALTH", "willingToMentor": True},
        fullName=f"Mpho {tag}",
    )
    hidden, hidden_token = await member_with(
        client, {"skills": [tag], "sector": "HEALTH"}, fullName=f"Palesa {tag}"
    )
    # Hide the skills and the name from everyone else.
    await gql(
        client,
        VISIBILITY,
        {
            "s": [
                {"field": "skills", "visibility": "PRIVATE"},
                {"field": "fullName", "visibility": "PRIVATE"},
            ]
        },
        token=hidden_token,
    )
    _, viewer = await signed_up(client)

    assert await ids(client, viewer, {"skill": tag.upper()}) == [visible["id"]]
    assert await ids(client, viewer, {"name": tag}) == [visible["id"]]
    # The member still finds themself through their own private fields.
    assert hidden["id"] in await ids(client, hidden_token, {"skill": tag})
    # City is CONNECTIONS by default: strangers cannot search by it.
    assert visible["id"] not in await ids(client, viewer, {"city": "maseru", "name": tag})
    both = await ids(client, viewer, {"sector": "HEALTH", "name": tag})
    assert both == [visible["id"]]
    assert await ids(client, viewer, {"willingToMentor": True, "name": tag}) == [visible["id"]]

    # Hidden fields come back as null even in results found by other fields.
    body = await gql(client, SEARCH, {"filter": {"sector": "HEALTH"}, "first": 100}, token=viewer)
    nodes = {e["node"]["id"]: e["node"] for e in body["data"]["members"]["edges"]}
    assert nodes[hidden["id"]]["skills"] is None
    assert nodes[hidden["id"]]["fullName"] is None


async def test_country_and_district_filters(client: httpx.AsyncClient) -> None:
    tag = uuid.uuid4().hex[:8]
    in_gb, _ = await member_with(
        client, {}, fullName=f"Thabo {tag}", countryOfResidence="GB", districtOfOrigin="LS-J"
    )
    in_za, _ = await member_with(
        client, {}, fullName=f"Thabo {tag}", countryOfResidence="ZA", districtOfOrigin="LS-J"
    )
    _, viewer = await signed_up(client)
    assert await ids(client, viewer, {"name": tag, "country": "gb"}) == [in_gb["id"]]
    assert await ids(client, viewer, {"name": tag, "districtOfOrigin": "LS-J"}) == [
        in_za["id"],
        in_gb["id"],
    ]
    bad = await gql(client, SEARCH, {"filter": {"country": "XX"}, "first": 5}, token=viewer)
    assert error_field(bad) == "country"


async def test_pagination_is_stable_newest_first(client: httpx.AsyncClient) -> None:
    tag = uuid.uuid4().hex[:8]
    made = [(await member_with(client, {}, fullName=f"Page {tag} {i}"))[0]["id"] for i in range(5)]
    _, viewer = await signed_up(client)
    seen: list[str] = []
    after = None
    while True:
        body = await gql(
            client, SEARCH, {"filter": {"name": tag}, "first": 2, "after": after}, token=viewer
        )
        page = body["data"]["members"]
        seen.extend(e["node"]["id"] for e in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == list(reversed(made))
    bad = await gql(client, SEARCH, {"first": 2, "after": "zzz"}, token=viewer)
    assert error_field(bad) == "after"
    assert error_field(await gql(client, SEARCH, {"first": 500}, token=viewer)) == "first"


async def test_directory_requires_sign_in_and_hides_blocked(client: httpx.AsyncClient) -> None:
    assert error_code(await gql(client, SEARCH, {"first": 5})) == "UNAUTHENTICATED"
    tag = uuid.uuid4().hex[:8]
    target, target_token = await member_with(client, {}, fullName=f"Blocked {tag}")
    viewer, viewer_token = await signed_up(client)
    assert await ids(client, viewer_token, {"name": tag}) == [target["id"]]
    await gql(
        client,
        "mutation B($id: ID!) { blockMember(memberId: $id) }",
        {"id": viewer["id"]},
        token=target_token,
    )
    assert await ids(client, viewer_token, {"name": tag}) == []


async def test_wildcards_are_literal(client: httpx.AsyncClient) -> None:
    _, viewer = await signed_up(client)
    assert await ids(client, viewer, {"name": "%"}) == []
    assert await ids(client, viewer, {"name": "_"}) == []
