"""Payments benchmark: remittances end to end on the embedded stack.

    .tools/bin/uv run --no-sync python bench/payments_sends.py [--sends 2000] [--concurrency 64]

Each send is the whole flow: `quote` → `sendRemittance` over HTTP to `python -m payments serve`;
its dispatcher asks the sandbox partners (`python -m payments.sandbox`, auto mode, its own process)
to collect; the sandbox answers with a signed webhook (→ FUNDED), the dispatcher instructs the
payout, the sandbox confirms by webhook (→ PAID_OUT). Every step posts to the ledger and writes
events that the in-service outbox relay publishes to Kafka.

Reports API sends/s, end-to-end completions/s (last send PAID_OUT and every event published),
and checks the ledger afterwards (every transaction balanced, running balances = entries).

Starts an embedded PostgreSQL and tansu broker on free ports unless `DATABASE_URL` (a server
URL; the script creates and drops its own database) and `KAFKA_BOOTSTRAP_SERVERS` are set.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import ExitStack
from datetime import timedelta
from typing import Any

import httpx
import psutil
import sqlalchemy as sa
import uvicorn
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kopano.auth import SigningKey, TokenIssuer

QUOTE = """mutation Q($input: QuoteInput!) { quote(input: $input) { id } }"""
SEND = """mutation S($input: SendRemittanceInput!) { sendRemittance(input: $input) { id state } }"""
SETUP = [
    (
        "mutation T($m: ID!) { setVerificationTier(memberId: $m, tier: ENHANCED) }",
        "admin",
    ),
    (
        'mutation { saveSenderDetails(input: {occupation: "Engineer", '
        'address: "1 Main Road, Johannesburg", country: "ZA"}) { country } }',
        "member",
    ),
    (
        'mutation { addRecipient(input: {name: "Palesa Mohapi", relationship: PARENT, '
        'payoutMethod: MPESA, mobileNumber: "+266 5800 1234"}) { id } }',
        "member",
    ),
]


async def gql(client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str) -> Any:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(body["errors"])
    return body["data"]


@contextlib.asynccontextmanager
async def jwks_server(issuer: TokenIssuer, port: int) -> AsyncIterator[str]:
    """The members service's JWKS endpoint, stood in for by this process."""

    async def jwks(_: Request) -> Response:
        return JSONResponse(issuer.jwks())

    app = Starlette(routes=[Route("/.well-known/jwks.json", jwks)])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/.well-known/jwks.json"
    finally:
        server.should_exit = True
        await task


async def wait_healthy(url: str) -> None:
    async with httpx.AsyncClient() as client, asyncio.timeout(60):
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.2)


async def main_async(args: argparse.Namespace, database_url: str, bootstrap: str) -> None:
    from kopano.devstack._process import free_port
    from payments.migrations import upgrade_async
    from payments.service.admin import AdminService
    from payments.service.common import ServiceConfig
    from payments.unit_of_work import UnitOfWorkFactory

    await upgrade_async(database_url)
    issuer = TokenIssuer(
        SigningKey.generate(),
        issuer="kopano-members",
        audience="kopano",
        access_ttl=timedelta(hours=2),
    )
    payments_port, sandbox_port, jwks_port = free_port(), free_port(), free_port()
    topic = f"bench.payments.{uuid.uuid4().hex[:8]}"
    async with jwks_server(issuer, jwks_port) as jwks_url:
        env = {
            **os.environ,
            "PAYMENTS_ENVIRONMENT": "test",
            "PAYMENTS_LOG_LEVEL": "WARNING",
            "PAYMENTS_DATABASE_URL": database_url,
            "PAYMENTS_PORT": str(payments_port),
            # Room for every concurrent request (API + the sandbox's 32 webhook senders +
            # dispatcher + relay) without overflow: an overflow connection is opened and closed
            # per burst and re-prepares every statement.
            "PAYMENTS_DATABASE_POOL_SIZE": "56",
            "PAYMENTS_DATABASE_MAX_OVERFLOW": "0",
            "PAYMENTS_PARTNER_BASE_URL": f"http://127.0.0.1:{sandbox_port}",
            "PAYMENTS_REMITTANCE_TOPIC": topic,
            "PAYMENTS_SANDBOX_ENVIRONMENT": "test",
            "PAYMENTS_SANDBOX_LOG_LEVEL": "WARNING",
            "PAYMENTS_SANDBOX_PORT": str(sandbox_port),
            "PAYMENTS_SANDBOX_WEBHOOK_URL": f"http://127.0.0.1:{payments_port}/webhooks",
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "KAFKA_ENABLE_IDEMPOTENCE": "false",
            "KOPANO_JWKS_URL": jwks_url,
        }
        # Started once, before the load: blocking here costs nothing measured.
        procs = [
            subprocess.Popen([sys.executable, "-m", "payments.sandbox", "serve"], env=env),  # noqa: ASYNC220
            subprocess.Popen([sys.executable, "-m", "payments", "serve"], env=env),  # noqa: ASYNC220
        ]
        try:
            await wait_healthy(f"http://127.0.0.1:{sandbox_port}/healthz")
            await wait_healthy(f"http://127.0.0.1:{payments_port}/readyz")
            await run(args, f"http://127.0.0.1:{payments_port}", issuer, database_url, procs)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=30)

    engine = create_async_engine(database_url)
    try:
        check = await AdminService(ServiceConfig(uow=UnitOfWorkFactory(engine))).ledger_check()
    finally:
        await engine.dispose()
    print(
        f"ledger: {check.transactions} transactions, {check.entries} entries, "
        f"unbalanced {len(check.unbalanced_transactions)}, "
        f"balances differing from entries {len(check.mismatched_accounts)} → "
        f"{'CONSISTENT' if check.consistent else 'INCONSISTENT'}"
    )
    for account, balance in sorted(check.balances.items()):
        print(f"  {account:32s} {balance:>16d}")
    if not check.consistent:
        sys.exit(1)


def cpu_seconds(procs: list[psutil.Process]) -> list[float]:
    """User + system CPU each process has used so far (0 for one that has exited)."""
    used = []
    for proc in procs:
        try:
            used.append(sum(proc.cpu_times()[:2]))
        except psutil.NoSuchProcess:
            used.append(0.0)
    return used


def machine_groups(children: list[subprocess.Popen[bytes]]) -> dict[str, list[psutil.Process]]:
    """Every process of the run by role: the whole machine budget a send costs here,
    load generator, database and broker included."""
    service_pids = {p.pid for p in children}
    groups: dict[str, list[psutil.Process]] = {"load generator (this process)": [psutil.Process()]}
    for proc in psutil.Process().children(recursive=True):
        if proc.pid in service_pids:
            continue
        try:
            name = proc.name()
        except psutil.NoSuchProcess:
            continue
        role = "postgresql" if name.startswith("postgres") else f"broker/other ({name})"
        groups.setdefault(role, []).append(proc)
    return groups


async def run(
    args: argparse.Namespace,
    base_url: str,
    issuer: TokenIssuer,
    database_url: str,
    children: list[subprocess.Popen[bytes]],
) -> None:
    # CPU time, not only throughput: other processes share the cores.
    watched = [psutil.Process(p.pid) for p in children]
    admin = issuer.issue_access_token(str(uuid.uuid4()), ["member", "admin"])
    members: list[tuple[str, str]] = []  # (token, recipient id)
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:
        for _ in range(args.members):
            member_id = str(uuid.uuid4())
            token = issuer.issue_access_token(member_id, ["member"])
            recipient = ""
            for query, who in SETUP:
                result = await gql(
                    client, query, {"m": member_id}, admin if who == "admin" else token
                )
                if "addRecipient" in result:
                    recipient = result["addRecipient"]["id"]
            members.append((token, recipient))

        remaining = iter(range(args.sends))
        failures = 0

        async def worker() -> None:
            nonlocal failures
            for i in remaining:
                token, recipient = members[i % len(members)]
                try:
                    q = await gql(
                        client,
                        QUOTE,
                        {
                            "input": {
                                "sendCurrency": "ZAR",
                                "payoutMethod": "MPESA",
                                "sendAmount": "10000",
                            }
                        },
                        token,
                    )
                    await gql(
                        client,
                        SEND,
                        {
                            "input": {
                                "quoteId": q["quote"]["id"],
                                "recipientId": recipient,
                                "purpose": "FAMILY_SUPPORT",
                                "idempotencyKey": f"bench-{i}-{uuid.uuid4().hex[:8]}",
                            }
                        },
                        token,
                    )
                except (RuntimeError, httpx.HTTPError) as exc:
                    failures += 1
                    if failures <= 3:
                        print(f"send failed: {exc!r}")

        # What the services burn with nothing to do (dispatcher and relay polling).
        idle_start = cpu_seconds(watched)
        await asyncio.sleep(2)
        idle = [
            (end - begin) / 2 for begin, end in zip(idle_start, cpu_seconds(watched), strict=True)
        ]
        groups = machine_groups(children)
        group_start = {role: sum(cpu_seconds(procs)) for role, procs in groups.items()}
        cpu_start = cpu_seconds(watched)
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        sent_at = time.perf_counter()

    accepted = args.sends - failures
    engine = create_async_engine(database_url)
    try:
        async with asyncio.timeout(args.drain_timeout):
            while True:
                async with engine.connect() as conn:
                    paid = (
                        await conn.execute(
                            sa.text("SELECT count(*) FROM transfers WHERE state = 'PAID_OUT'")
                        )
                    ).scalar_one()
                    unsent = (
                        await conn.execute(
                            sa.text("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
                        )
                    ).scalar_one()
                    events = (
                        await conn.execute(sa.text("SELECT count(*) FROM outbox"))
                    ).scalar_one()
                if paid >= accepted and unsent == 0:
                    break
                await asyncio.sleep(0.1)
        done_at = time.perf_counter()
        cpu_used = [end - begin for begin, end in zip(cpu_start, cpu_seconds(watched), strict=True)]
        # Processes started during the run (new database backends) count in full.
        known = {proc.pid for procs in groups.values() for proc in procs}
        for role, procs in machine_groups(children).items():
            groups.setdefault(role, []).extend(p for p in procs if p.pid not in known)
        group_used = {
            role: sum(cpu_seconds(procs)) - group_start.get(role, 0.0)
            for role, procs in groups.items()
        }
    finally:
        await engine.dispose()

    api_s = sent_at - start
    total_s = done_at - start
    print(
        f"members {args.members}, concurrency {args.concurrency}, sends {args.sends}, failed {failures}"
    )
    print(f"API (quote + sendRemittance): {accepted / api_s:8.1f} sends/s  ({api_s:.2f} s)")
    print(
        f"end to end (PAID_OUT, {events} events on Kafka): {accepted / total_s:8.1f} sends/s  "
        f"({total_s:.2f} s)"
    )
    sandbox_cpu, payments_cpu = cpu_used
    print(
        f"CPU per send, end to end: payments service {payments_cpu / accepted * 1000:.1f} ms, "
        f"sandbox partners {sandbox_cpu / accepted * 1000:.1f} ms "
        f"(idle: payments {idle[1] * 1000:.0f} ms/s, sandbox {idle[0] * 1000:.0f} ms/s)"
    )
    others = ", ".join(
        f"{role} {used / accepted * 1000:.1f} ms" for role, used in sorted(group_used.items())
    )
    total = (sum(cpu_used) + sum(group_used.values())) / accepted * 1000
    print(f"  the rest of the machine per send: {others}; all processes {total:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sends", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--drain-timeout", type=float, default=600)
    args = parser.parse_args()

    with ExitStack() as stack:
        server_url = os.environ.get("DATABASE_URL")
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        from kopano.devstack import pg
        from kopano.devstack._process import free_port
        from kopano.devstack.embedded import (
            EmbeddedKafka,
            EmbeddedPostgres,
            make_temp_dir,
            remove_dir,
        )

        if not server_url:
            tmp = make_temp_dir("kopano-bench-")
            stack.callback(remove_dir, tmp)
            postgres = EmbeddedPostgres(tmp / "pg", free_port(), durable=True)
            postgres.start()
            stack.callback(postgres.stop)
            server_url = postgres.url
            print(f"embedded PostgreSQL on {server_url}")
        if not bootstrap:
            kafka = EmbeddedKafka(free_port())
            kafka.start()
            stack.callback(kafka.stop)
            bootstrap = kafka.bootstrap_servers
            print(f"embedded tansu broker on {bootstrap}")
        name = f"bench_payments_{uuid.uuid4().hex[:8]}"
        database_url = pg.ensure_database(server_url, name)
        stack.callback(lambda: pg.run_sync(pg.drop_database(server_url, name)))
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"cpus: {os.cpu_count()}  load average: {load}  python {sys.version.split()[0]}")
        asyncio.run(main_async(args, database_url, bootstrap))


if __name__ == "__main__":
    main()
