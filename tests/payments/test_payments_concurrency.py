"""Concurrency against real PostgreSQL: idempotency keys and limits under parallel requests."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa
from payments_gql import Member, data, error_code, make_settings, quote, ready_sender, send
from starlette.applications import Starlette

from kopano.auth import TokenIssuer, TokenVerifier
from payments.adapters import tables as t
from payments.app import PaymentsRuntime, create_app

pytestmark = pytest.mark.integration


@pytest.fixture
async def own_app(migrated_database_url: str, verifier: TokenVerifier) -> AsyncIterator[Starlette]:
    # A pool large enough that requests really overlap inside PostgreSQL.
    # A thousand requests queue for connections on a small shared machine: wait, don't fail.
    settings = make_settings(
        migrated_database_url,
        database_pool_size=20,
        database_max_overflow=10,
        database_pool_timeout=600,
    )
    application = create_app(settings, token_verifier=verifier)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def own_client(own_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=own_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://payments.test", timeout=120
    ) as c:
        yield c


async def count(app: Starlette, table: sa.Table) -> int:
    runtime: PaymentsRuntime = app.state.payments
    async with runtime.engine.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())


async def test_50_keys_times_20_concurrent_requests_create_exactly_50_transfers(
    own_app: Starlette, own_client: httpx.AsyncClient, issuer: TokenIssuer, admin: Member
) -> None:
    member = Member(issuer)
    recipient = await ready_sender(own_client, member, admin, tier="ENHANCED")
    keys = [f"conc-{i:02d}-{uuid.uuid4().hex[:8]}" for i in range(50)]
    quotes = {key: (await quote(own_client, member, send="1000"))["id"] for key in keys}

    requests = [
        send(own_client, member, quotes[key], recipient["id"], key, fields="id")
        for key in keys
        for _ in range(20)
    ]
    results = await asyncio.gather(*requests)

    ids_by_key: dict[str, set[str]] = {}
    for index, body in enumerate(results):
        remittance = data(body)["sendRemittance"]
        ids_by_key.setdefault(keys[index // 20], set()).add(remittance["id"])
    # Every request succeeded; each key maps to exactly one transfer.
    assert all(len(ids) == 1 for ids in ids_by_key.values())
    assert len({next(iter(ids)) for ids in ids_by_key.values()}) == 50
    assert await count(own_app, t.transfers) == 50
    assert await count(own_app, t.idempotency_keys) == 50
    runtime: PaymentsRuntime = own_app.state.payments
    async with runtime.engine.connect() as conn:
        created = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(t.outbox)
                .where(t.outbox.c.type == "remittance.created")
            )
        ).scalar_one()
    assert created == 50


async def test_parallel_sends_never_exceed_the_daily_limit(
    own_app: Starlette, own_client: httpx.AsyncClient, issuer: TokenIssuer, admin: Member
) -> None:
    member = Member(issuer)
    # BASIC: 5000 LSL per transfer, 10000 LSL a day. 30 sends of 900 LSL: only 11 fit.
    recipient = await ready_sender(own_client, member, admin, tier="BASIC")
    quotes = [(await quote(own_client, member, send="90000"))["id"] for _ in range(30)]
    results = await asyncio.gather(
        *(send(own_client, member, q, recipient["id"], fields="id") for q in quotes)
    )

    outcomes = Counter("ok" if not body.get("errors") else error_code(body) for body in results)
    assert outcomes == {"ok": 11, "FORBIDDEN": 19}
    runtime: PaymentsRuntime = own_app.state.payments
    async with runtime.engine.connect() as conn:
        total = (
            await conn.execute(
                sa.select(sa.func.sum(t.transfers.c.receive_amount)).where(
                    t.transfers.c.member_id == member.id
                )
            )
        ).scalar_one()
    assert total == 11 * 90_000
    assert total <= 1_000_000


async def test_parallel_sends_of_two_members_do_not_block_each_others_limits(
    own_client: httpx.AsyncClient, issuer: TokenIssuer, admin: Member
) -> None:
    one, two = Member(issuer), Member(issuer)
    r1 = await ready_sender(own_client, one, admin, tier="BASIC")
    r2 = await ready_sender(own_client, two, admin, tier="BASIC")
    q1 = [(await quote(own_client, one, send="400000"))["id"] for _ in range(4)]
    q2 = [(await quote(own_client, two, send="400000"))["id"] for _ in range(4)]
    results = await asyncio.gather(
        *(send(own_client, one, q, r1["id"]) for q in q1),
        *(send(own_client, two, q, r2["id"]) for q in q2),
    )
    ok = [not body.get("errors") for body in results]
    # 4000 LSL each: two fit in each member's 10000 LSL day, independently.
    assert sum(ok[:4]) == 2
    assert sum(ok[4:]) == 2
