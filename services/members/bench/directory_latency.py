"""Benchmark (not a test): member directory and entity-resolution latency at scale.

    python services/members/bench/directory_latency.py --members 100000 \
        --admin-url postgresql://postgres@127.0.0.1:5432/postgres

Creates a scratch database, migrates it, bulk-loads members with profiles, visibility
settings and connections, then times the directory query (several filter shapes, first
page and a deep cursor page) and a 50-entity ``_entities`` batch through the service layer.
Prints p50/p99 per shape. Drops the database afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

import asyncpg

from members.adapters.directory import DirectoryFilter, search
from members.migrations import upgrade_async

SEED = """
INSERT INTO members (id, email, password_hash, full_name, country_of_residence,
    district_of_origin, sector, skills, city, willing_to_mentor, visibility,
    registered_at, updated_at)
SELECT gen_random_uuid(),
       'bench' || i || '@example.org', 'x', 'Member ' || i,
       (ARRAY['ZA','GB','US','BW','AU','CA','IE','DE','NZ','NA'])[1 + i % 10],
       (ARRAY['LS-A','LS-B','LS-C','LS-D','LS-E','LS-F','LS-G','LS-H','LS-J','LS-K'])[1 + i % 10],
       (ARRAY['HEALTH','MINING','EDUCATION','ICT','FINANCE'])[1 + (i / 10) % 5],
       ARRAY['skill' || (i % 500), 'skill' || (i % 37)],
       (ARRAY['Johannesburg','London','Leeds','Gaborone','Durban'])[1 + (i / 7) % 5],
       i % 7 = 0,
       CASE WHEN i % 4 = 0 THEN '{"skills": "PRIVATE", "fullName": "CONNECTIONS"}'::jsonb
            ELSE '{}'::jsonb END,
       now() - (i || ' minutes')::interval, now()
FROM generate_series(1, $1) AS i
"""


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def run(admin_url: str, members: int, rounds: int) -> None:
    name = f"bench_members_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    url = f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        await upgrade_async(url)
        conn = await asyncpg.connect(f"{base}/{name}")
        started = time.perf_counter()
        await conn.execute(SEED, members)
        await conn.execute("ANALYZE")
        print(f"loaded {members} members in {time.perf_counter() - started:.1f}s")
        viewer = await conn.fetchval("SELECT id FROM members ORDER BY registered_at LIMIT 1")
        await conn.close()

        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(url, pool_size=2)
        shapes = {
            "no filter, first page": DirectoryFilter(),
            "skill": DirectoryFilter(skill="skill42"),
            "country + sector": DirectoryFilter(country="GB", sector="ICT"),
            "name substring": DirectoryFilter(name="ember 999"),
            "mentor flag + district": DirectoryFilter(willing_to_mentor=True, district="LS-J"),
        }
        async with engine.connect() as sql:
            for label, flt in shapes.items():
                samples = []
                for _ in range(rounds):
                    t0 = time.perf_counter()
                    await search(sql, flt, viewer=viewer, limit=21, after=None)
                    samples.append(time.perf_counter() - t0)
                print(
                    f"directory {label:<24} p50 {pct(samples, 0.5):7.2f} ms"
                    f"   p99 {pct(samples, 0.99):7.2f} ms"
                )
            # A deep page: the cursor of row ~members/2.
            page = await search(
                sql, DirectoryFilter(), viewer=viewer, limit=members // 2, after=None
            )
            last = page[-1]
            samples = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                await search(
                    sql,
                    DirectoryFilter(),
                    viewer=viewer,
                    limit=21,
                    after=(last.registered_at, last.id),
                )
                samples.append(time.perf_counter() - t0)
            print(
                f"directory {'deep cursor page':<24} p50 {pct(samples, 0.5):7.2f} ms"
                f"   p99 {pct(samples, 0.99):7.2f} ms"
            )
            from members.adapters.repository import MemberRepository

            ids = [m.id for m in page[:50]]
            repo = MemberRepository(sql)
            samples = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                await repo.get_many(ids)
                samples.append(time.perf_counter() - t0)
            print(
                f"entities batch of 50            p50 {pct(samples, 0.5):7.2f} ms"
                f"   p99 {pct(samples, 0.99):7.2f} ms   (mean {statistics.mean(samples) * 1000:.2f})"
            )
        await engine.dispose()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(run(args.admin_url, args.members, args.rounds))


if __name__ == "__main__":
    main()
