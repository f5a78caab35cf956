"""GraphQL helpers shared by the payments tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from kopano.auth import TokenIssuer
from payments.settings import PaymentsSettings

MONEY = "{ amount currency formatted }"
QUOTE = f"""
mutation Q($input: QuoteInput!) {{
  quote(input: $input) {{
    id sendAmount {MONEY} fee {MONEY} totalCharged {MONEY} receiveAmount {MONEY}
    rate feeFixed {MONEY} feePercentage payoutMethod createdAt expiresAt
  }}
}}
"""
RECIPIENT_FIELDS = (
    "id name relationship payoutMethod mobileNumber bank accountNumber pickupDistrict "
    "pickupDistrictName"
)
ADD_RECIPIENT = f"""
mutation A($input: RecipientInput!) {{ addRecipient(input: $input) {{ {RECIPIENT_FIELDS} }} }}
"""
REMITTANCE_FIELDS = f"""
id reference state purpose cancellable payoutMethod rate
sendAmount {MONEY} fee {MONEY} totalCharged {MONEY} receiveAmount {MONEY}
recipient {{ id name }} history {{ from to cause at }}
receipt {{ reference status sendAmount {MONEY} fee {MONEY} totalCharged {MONEY}
  receiveAmount {MONEY} rate recipientName recipientDestination createdAt fundedAt paidOutAt }}
"""
SEND = f"""
mutation S($input: SendRemittanceInput!) {{ sendRemittance(input: $input) {{ {REMITTANCE_FIELDS} }} }}
"""
REMITTANCE = f"query R($id: ID!) {{ remittance(id: $id) {{ {REMITTANCE_FIELDS} }} }}"
SENDER = """
mutation D($input: SenderDetailsInput!) { saveSenderDetails(input: $input) { occupation address country } }
"""
SET_TIER = (
    "mutation T($m: ID!, $t: VerificationTier!) { setVerificationTier(memberId: $m, tier: $t) }"
)


def make_settings(database_url: str, **overrides: Any) -> PaymentsSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "environment": "test",
        "relay_enabled": False,
        "consumers_enabled": False,
        "dispatcher_enabled": False,
        "database_pool_size": 5,
    }
    values.update(overrides)
    return PaymentsSettings(**values)


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


class Member:
    """A signed-in member (a token from the test issuer)."""

    def __init__(self, issuer: TokenIssuer, *, roles: tuple[str, ...] = ("member",)) -> None:
        self.id = uuid.uuid4()
        self.token = issuer.issue_access_token(str(self.id), list(roles))


async def quote(
    client: httpx.AsyncClient,
    member: Member | None,
    *,
    send: str | None = "100000",
    receive: str | None = None,
    currency: str = "ZAR",
    method: str = "MPESA",
) -> dict[str, Any]:
    payload: dict[str, Any] = {"sendCurrency": currency, "payoutMethod": method}
    if send is not None:
        payload["sendAmount"] = send
    if receive is not None:
        payload["receiveAmount"] = receive
    result: dict[str, Any] = data(
        await gql(client, QUOTE, {"input": payload}, token=member.token if member else None)
    )["quote"]
    return result


async def add_mpesa_recipient(client: httpx.AsyncClient, member: Member) -> dict[str, Any]:
    body = await gql(
        client,
        ADD_RECIPIENT,
        {
            "input": {
                "name": "'Mathabo Mokoena",
                "relationship": "PARENT",
                "payoutMethod": "MPESA",
                "mobileNumber": "+266 5012 3456",
            }
        },
        token=member.token,
    )
    result: dict[str, Any] = data(body)["addRecipient"]
    return result


async def ready_sender(
    client: httpx.AsyncClient, member: Member, admin: Member, tier: str = "STANDARD"
) -> dict[str, Any]:
    """Tier set by an admin, sender details saved, one M-Pesa recipient: ready to send."""
    data(await gql(client, SET_TIER, {"m": str(member.id), "t": tier}, token=admin.token))
    data(
        await gql(
            client,
            SENDER,
            {
                "input": {
                    "occupation": "Nurse",
                    "address": "12 Long Street, Cape Town",
                    "country": "ZA",
                }
            },
            token=member.token,
        )
    )
    return await add_mpesa_recipient(client, member)


async def send(
    client: httpx.AsyncClient,
    member: Member,
    quote_id: str,
    recipient_id: str,
    key: str | None = None,
    purpose: str = "FAMILY_SUPPORT",
    *,
    fields: str | None = None,
) -> dict[str, Any]:
    return await gql(
        client,
        SEND if fields is None else SEND.replace(REMITTANCE_FIELDS, fields),
        {
            "input": {
                "quoteId": quote_id,
                "recipientId": recipient_id,
                "purpose": purpose,
                "idempotencyKey": key or f"key-{uuid.uuid4().hex}",
            }
        },
        token=member.token,
    )
