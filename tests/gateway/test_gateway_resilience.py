"""A hanging or failing subgraph gives partial data within the time limit; retries only
for queries; the circuit breaker; masking; production switches; graceful shutdown."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from gw_hardening import Calls, Subgraphs, start_gateway

from gateway.resilience import backoff_delay


def _answer(status: int, body: bytes) -> Any:
    async def hook(scope: Any, receive: Any, send: Any) -> bool:
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": body})
        return True

    return hook


def _hang(seconds: float) -> Any:
    async def hook(scope: Any, receive: Any, send: Any) -> bool:
        await asyncio.sleep(seconds)
        return False  # then answer normally

    return hook


Q = "{ topProducts { upc inStock } }"  # inStock (inventory) is nullable in this supergraph
PARTIAL = {"topProducts": [{"upc": "p1", "inStock": None}, {"upc": "p2", "inStock": None}]}


async def test_hanging_subgraph_gives_partial_data(subgraphs: Subgraphs, calls: Calls) -> None:
    subgraphs.hooks["inventory"] = _hang(5)
    running = await start_gateway(subgraphs, authz="off", timeouts={"inventory": 0.3}, retries=0)
    try:
        r = await running.post({"query": Q})
        assert r.status_code == 200
        body = r.json()
        assert body["data"] == PARTIAL
        (err,) = body["errors"]
        assert err["extensions"] == {"code": "SUBGRAPH_FETCH_ERROR", "serviceName": "inventory"}
        assert err["path"] == ["topProducts"]
        assert "127.0.0.1" not in r.text
    finally:
        await running.stop()


async def test_subgraph_500_gives_partial_data(subgraphs: Subgraphs, calls: Calls) -> None:
    subgraphs.hooks["inventory"] = _answer(500, b"Internal Server Error")
    running = await start_gateway(subgraphs, authz="off", retries=0)
    try:
        r = await running.post({"query": Q})
        assert r.status_code == 200
        assert r.json()["data"] == PARTIAL
        assert r.json()["errors"][0]["extensions"]["code"] == "SUBGRAPH_FETCH_ERROR"
    finally:
        await running.stop()


async def test_queries_are_retried_mutations_never(subgraphs: Subgraphs, calls: Calls) -> None:
    subgraphs.hooks["inventory"] = _answer(503, b"")
    subgraphs.hooks["accounts"] = _answer(503, b"")
    running = await start_gateway(subgraphs, authz="off", retries=2)
    try:
        r = await running.post({"query": Q})
        assert r.json()["data"] == PARTIAL
        assert calls.count("inventory") == 3  # one try and two retries
        r = await running.post({"query": "mutation { bump(by: 1) }"})
        assert r.json()["errors"][0]["extensions"]["code"] == "SUBGRAPH_FETCH_ERROR"
        assert calls.count("accounts") == 1
    finally:
        await running.stop()


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    # the ceiling doubles per retry up to the cap; the delay is uniform below it
    assert [backoff_delay(n, 0.1, 0.5, lambda: 1.0) for n in range(5)] == [
        0.1,
        0.2,
        0.4,
        0.5,
        0.5,
    ]
    assert backoff_delay(3, 0.1, 0.5, lambda: 0.0) == 0.0
    assert backoff_delay(1, 0.1, 0.5, lambda: 0.25) == 0.05
    rng = random.Random(7)
    delays = [backoff_delay(2, 0.1, 10.0, rng.random) for _ in range(200)]
    assert all(0 <= d <= 0.4 for d in delays)
    assert len(set(delays)) == 200  # jittered, not one fixed wait


async def test_retries_wait_with_backoff_and_mutations_never_wait(
    subgraphs: Subgraphs, calls: Calls
) -> None:
    subgraphs.hooks["inventory"] = _answer(503, b"")
    subgraphs.hooks["accounts"] = _answer(503, b"")
    running = await start_gateway(subgraphs, authz="off", retries=4, retry_backoff=(0.01, 0.03))
    gw = running.app.gateway
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    gw._sleep = record
    gw._random = lambda: 1.0  # the top of each jitter range
    try:
        r = await running.post({"query": Q})
        assert r.json()["data"] == PARTIAL
        assert calls.count("inventory") == 5  # one try and four retries
        assert waits == [0.01, 0.02, 0.03, 0.03]  # doubling, then capped; none after the last
        waits.clear()
        r = await running.post({"query": "mutation { bump(by: 1) }"})
        assert r.json()["errors"][0]["extensions"]["code"] == "SUBGRAPH_FETCH_ERROR"
        assert calls.count("accounts") == 1
        assert waits == []
    finally:
        await running.stop()


async def test_circuit_opens_after_consecutive_failures(subgraphs: Subgraphs, calls: Calls) -> None:
    subgraphs.hooks["inventory"] = _answer(500, b"oops")
    running = await start_gateway(subgraphs, authz="off", retries=0, breaker=(2, 60.0))
    try:
        for _ in range(4):
            r = await running.post({"query": Q})
            assert r.json()["data"] == PARTIAL
        assert calls.count("inventory") == 2  # then the circuit is open: no more calls
        metrics = (await running.client.get(running.url + "/metrics")).text
        assert 'gateway_circuit_state{subgraph="inventory"} 1.0' in metrics
        assert 'gateway_subgraph_requests_total{outcome="circuit_open",subgraph="inventory"}' in (
            metrics
        )
    finally:
        await running.stop()


async def test_subgraph_errors_are_masked_unless_shown(subgraphs: Subgraphs, calls: Calls) -> None:
    for mask in (True, False):
        running = await start_gateway(subgraphs, mask_errors=mask)
        try:
            r = await running.post({"query": "{ failing users { id } }"})
            body = r.json()
            assert body["data"]["users"] == [{"id": "1"}, {"id": "2"}]
            (err,) = body["errors"]
            assert err["path"] == ["failing"]
            if mask:
                assert err["message"] == "Internal error in a subgraph."
                assert err["extensions"]["code"] == "INTERNAL"
                assert "exploded" not in r.text
            else:
                assert "accounts exploded" in err["message"]
        finally:
            await running.stop()


async def test_introspection_and_graphiql_can_be_switched_off(
    subgraphs: Subgraphs, calls: Calls
) -> None:
    running = await start_gateway(subgraphs, introspection=False, app_options={"graphiql": False})
    try:
        r = await running.post({"query": "{ __schema { queryType { name } } }"})
        assert r.json()["errors"][0]["extensions"]["code"] == "INTROSPECTION_DISABLED"
        r = await running.client.get(running.url + "/graphql", headers={"accept": "text/html"})
        assert r.status_code == 404
        # __typename is not introspection
        r = await running.post({"query": "{ __typename }"})
        assert r.json() == {"data": {"__typename": "Query"}}
    finally:
        await running.stop()


async def test_graceful_shutdown_finishes_requests_in_flight(
    subgraphs: Subgraphs, calls: Calls
) -> None:
    subgraphs.hooks["accounts"] = _hang(0.5)
    running = await start_gateway(subgraphs)
    pending = asyncio.create_task(running.post({"query": "{ users { id } }"}))
    for _ in range(100):
        if calls.count("accounts"):
            break
        await asyncio.sleep(0.01)
    running.server.should_exit = True  # what SIGTERM does
    r = await pending
    assert r.json() == {"data": {"users": [{"id": "1"}, {"id": "2"}]}}
    await running.task
