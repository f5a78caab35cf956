"""Automatic persisted queries and the safelist mode."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson
from gw_hardening import Calls, Subgraphs, start_gateway

from gateway.persisted import PersistedQueries

Q = "{ users { id } }"
H = hashlib.sha256(Q.encode()).hexdigest()


def _pq(h: str) -> dict[str, object]:
    return {"persistedQuery": {"version": 1, "sha256Hash": h}}


async def test_apq_register_then_hash_only(subgraphs: Subgraphs, calls: Calls) -> None:
    running = await start_gateway(subgraphs, app_options={"persisted": PersistedQueries(apq=True)})
    try:
        r = await running.post({"extensions": _pq(H)})
        assert r.status_code == 200
        assert r.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        assert calls.count() == 0
        r = await running.post({"query": Q, "extensions": _pq(H)})
        assert r.json() == {"data": {"users": [{"id": "1"}, {"id": "2"}]}}
        r = await running.post({"extensions": _pq(H)})
        assert r.json() == {"data": {"users": [{"id": "1"}, {"id": "2"}]}}
        calls.clear()
        r = await running.post({"query": "{ latestReviews { id } }", "extensions": _pq(H)})
        assert r.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"
        assert calls.count() == 0
    finally:
        await running.stop()


async def test_safelist_runs_only_listed_operations(
    subgraphs: Subgraphs, calls: Calls, tmp_path: Path
) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_bytes(orjson.dumps({"users-v1": Q}))
    running = await start_gateway(
        subgraphs, app_options={"persisted": PersistedQueries(apq=True, manifest=str(manifest))}
    )
    try:
        want = {"data": {"users": [{"id": "1"}, {"id": "2"}]}}
        assert (await running.post({"documentId": "users-v1"})).json() == want
        assert (await running.post({"extensions": _pq("users-v1")})).json() == want
        assert (await running.post({"query": Q})).json() == want  # the listed text itself
        calls.clear()
        for body in (
            {"query": "{ latestReviews { id } }"},
            {"documentId": "nope"},
            # APQ registration cannot add to a safelist
            {
                "query": "{ me { id } }",
                "extensions": _pq(hashlib.sha256(b"{ me { id } }").hexdigest()),
            },
        ):
            r = await running.post(body)
            assert r.status_code == 400
            assert r.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"
        # GET obeys the safelist too
        get = running.client.get
        r = await get(running.url + "/graphql", params={"query": "{ latestReviews { id } }"})
        assert r.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"
        assert calls.count() == 0
        r = await get(running.url + "/graphql", params={"documentId": "users-v1"})
        assert r.json() == want
    finally:
        await running.stop()
