"""Benchmark (not a test): ``Member.recommendedOpportunities`` latency at scale.

    python bench/opportunities_recommendations.py --members 100000 --opportunities 10000 \
        --admin-url postgresql://postgres@127.0.0.1:5432/postgres

Creates a scratch database, migrates it, bulk-loads the member projection (skills drawn from a
vocabulary of 400 tags, a sector, a country, investor flags) and open opportunities (3-6 required
skills each, plus closed ones that must be skipped), then times the recommendation query for
random members two ways: the use case alone (SQL + mapping), and the whole GraphQL request
(``_entities`` on ``Member``, token verification, DataLoaders, serialisation) through the ASGI app
in-process. Prints p50/p95/p99 and the target verdict (p99 < 50 ms). Drops the database afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from datetime import timedelta

import asyncpg
import httpx

from kopano.auth import SigningKey, StaticJwks, TokenIssuer, TokenVerifier
from opportunities.app import create_app
from opportunities.migrations import upgrade_async
from opportunities.settings import OpportunitiesSettings

VOCABULARY = 400

SEED_MEMBERS = """
INSERT INTO member_profiles (member_id, skills, sector, country, languages, mentor, investor, as_of)
SELECT gen_random_uuid(),
       ARRAY(SELECT DISTINCT 'skill' || ((i * 7919 + k * 104729) % $2::int)
             FROM generate_series(1, 3 + i % 6) AS k),
       (ARRAY['HEALTH','MINING','EDUCATION','ICT','FINANCE','ENERGY'])[1 + i % 6],
       (ARRAY['ZA','GB','US','BW','AU','CA','IE','DE','NZ','NA'])[1 + (i / 6) % 10],
       ARRAY['en'], i % 9 = 0, i % 11 = 0, now()
FROM generate_series(1, $1::int) AS i
"""

SEED_OPPORTUNITIES = """
INSERT INTO opportunities (id, organisation_id, kind, status, title, description, sector, country,
    city, remote, skills, languages, deadline, details, created_by, created_at, updated_at,
    published_at, closed_at, listed_at)
SELECT gen_random_uuid(), gen_random_uuid(),
       (ARRAY['JOB','INVESTMENT','TENDER','SCHOLARSHIP','VOLUNTEERING','MENTORSHIP_REQUEST'])[1 + i % 6],
       CASE WHEN i <= $1::int THEN 'OPEN' ELSE 'CLOSED' END,
       'Opportunity ' || i, 'Description',
       (ARRAY['HEALTH','MINING','EDUCATION','ICT','FINANCE','ENERGY'])[1 + (i / 6) % 6],
       (ARRAY['LS','ZA','GB'])[1 + i % 3], NULL, i % 4 = 0,
       ARRAY(SELECT DISTINCT 'skill' || ((i * 31337 + k * 7907) % $3::int)
             FROM generate_series(1, 3 + i % 4) AS k),
       ARRAY['en'],
       CASE WHEN i % 3 = 0 OR i % 6 IN (2, 3) THEN current_date + (i % 90) ELSE NULL END,
       CASE i % 6
         WHEN 0 THEN '{"job": {"employmentType": "FULL_TIME"}}'::jsonb
         WHEN 1 THEN '{"investment": {"sector": "ENERGY", "expectedReturnBp": 800,
           "amountSought": {"minorUnits": 100000000, "currency": "LSL"},
           "minimumTicket": {"minorUnits": 100000, "currency": "LSL"}}}'::jsonb
         ELSE '{}'::jsonb END,
       gen_random_uuid(),
       now() - (i || ' minutes')::interval, now(), now() - (i || ' minutes')::interval,
       CASE WHEN i <= $1::int THEN NULL ELSE now() END, now() - (i || ' minutes')::interval
FROM generate_series(1, $1::int + $2::int) AS i
"""

QUERY = """
query R($reps: [_Any!]!) { _entities(representations: $reps) {
  ... on Member { recommendedOpportunities(first: 10) { id title kind deadline } } } }
"""


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def report(label: str, samples: list[float]) -> float:
    p99 = pct(samples, 0.99)
    print(
        f"{label:<34} n={len(samples):>5}  p50={pct(samples, 0.50):6.2f} ms  "
        f"p95={pct(samples, 0.95):6.2f} ms  p99={p99:6.2f} ms"
    )
    return p99


async def run(
    admin_url: str, members: int, opportunities: int, rounds: int, keep: bool = False
) -> None:
    name = f"bench_opportunities_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    url = f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        await upgrade_async(url)
        conn = await asyncpg.connect(f"{base}/{name}")
        started = time.perf_counter()
        await conn.execute(SEED_MEMBERS, members, VOCABULARY)
        await conn.execute(SEED_OPPORTUNITIES, opportunities, opportunities // 5, VOCABULARY)
        await conn.execute("ANALYZE")
        ids = [r[0] for r in await conn.fetch("SELECT member_id FROM member_profiles")]
        await conn.close()
        print(
            f"loaded {members} members, {opportunities} open (+{opportunities // 5} closed) "
            f"opportunities in {time.perf_counter() - started:.1f} s"
        )

        key = SigningKey.generate()
        issuer = TokenIssuer(key, issuer="bench", audience="kopano", access_ttl=timedelta(hours=1))
        verifier = TokenVerifier(StaticJwks(issuer.jwks()), "bench", "kopano")
        settings = OpportunitiesSettings(
            database_url=url,
            environment="test",
            relay_enabled=False,
            consumers_enabled=False,
            deadline_sweep_seconds=0,
            log_level="WARNING",
        )
        app = create_app(settings, token_verifier=verifier)
        rng = random.Random(7)
        async with app.router.lifespan_context(app):
            service = app.state.opportunities.service
            for member in rng.sample(ids, 20):  # warm the pool and the plan cache
                await service.recommended(member, first=10)
            use_case: list[float] = []
            empty = 0
            for member in rng.sample(ids, rounds):
                t0 = time.perf_counter()
                found = await service.recommended(member, first=10)
                use_case.append(time.perf_counter() - t0)
                empty += not found
            transport = httpx.ASGITransport(app=app)
            request: list[float] = []
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                for member in rng.sample(ids, rounds):
                    token = issuer.issue_access_token(str(member), ["member"])
                    reps = {"reps": [{"__typename": "Member", "id": str(member)}]}
                    t0 = time.perf_counter()
                    response = await client.post(
                        "/graphql",
                        json={"query": QUERY, "variables": reps},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    request.append(time.perf_counter() - t0)
                    body = response.json()
                    if body.get("errors"):
                        raise SystemExit(f"error: {body['errors']}")
        print(f"members with no recommendation: {empty}/{rounds}")
        p99 = report("use case (SQL + mapping)", use_case)
        report("GraphQL _entities request", request)
        print(f"target p99 < 50 ms for the use case: {'met' if p99 < 50 else 'NOT met'}")
    finally:
        if keep:
            print(f"kept database {name}")
        else:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:55432/postgres")
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--opportunities", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    asyncio.run(run(args.admin_url, args.members, args.opportunities, args.rounds, args.keep))


if __name__ == "__main__":
    main()
