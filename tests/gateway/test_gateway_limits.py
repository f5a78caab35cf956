"""Each limit accepts an operation at its boundary and rejects one past it with a stable code
and zero subgraph calls."""

from __future__ import annotations

from typing import Any

import orjson
from gw_hardening import Calls, Running, Subgraphs, start_gateway

from gateway.limits import count_tokens


def test_token_count_treats_strings_and_comments_like_the_lexer() -> None:
    q = '{ a(s: "x y z", t: """p q""") # c d e f g h\n b }'
    # { a ( s : "x y z" t : """p q""" ) b }
    assert count_tokens(q, 12) == 12
    assert count_tokens(q, 11) > 11
    assert count_tokens("{ a b c }", 4) > 4  # no strings: the word bound decides
    assert count_tokens("{ a }", 100) <= 100


async def _with(subgraphs: Subgraphs, **options: Any) -> Running:
    app_options = options.pop("app_options", {})
    return await start_gateway(subgraphs, app_options=app_options, **options)


async def _check(
    running: Running, calls: Calls, ok: dict[str, Any], bad: dict[str, Any], code: str
) -> None:
    try:
        r = await running.post(ok)
        assert r.status_code == 200, r.text
        assert "errors" not in r.json(), r.text
        calls.clear()
        r = await running.post(bad)
        assert r.status_code == 400, r.text
        body = r.json()
        assert "data" not in body
        assert body["errors"][0]["extensions"]["code"] == code
        assert calls.count() == 0
    finally:
        await running.stop()


async def test_depth(subgraphs: Subgraphs, calls: Calls) -> None:
    running = await _with(subgraphs, limits={"depth": 3})
    await _check(
        running,
        calls,
        {"query": "{ latestReviews { product { upc } } }"},
        {"query": "{ latestReviews { product { reviews { id } } } }"},
        "QUERY_TOO_DEEP",
    )


async def test_aliases(subgraphs: Subgraphs, calls: Calls) -> None:
    running = await _with(subgraphs, limits={"aliases": 2})
    await _check(
        running,
        calls,
        {"query": "{ a: users { id } b: users { id } }"},
        {"query": "{ a: users { id } b: users { i: id } }"},
        "TOO_MANY_ALIASES",
    )


async def test_root_fields(subgraphs: Subgraphs, calls: Calls) -> None:
    running = await _with(subgraphs, limits={"root_fields": 2})
    await _check(
        running,
        calls,
        {"query": "{ users { id } latestReviews { id } }"},
        {"query": "{ users { id } latestReviews { id } topProducts { upc } }"},
        "TOO_MANY_ROOT_FIELDS",
    )


async def test_cost_with_slicing_argument(subgraphs: Subgraphs, calls: Calls) -> None:
    # topProducts @listSize(slicingArguments: ["first"]): cost = first x (1 + 0)
    running = await _with(subgraphs, limits={"cost": 3})
    await _check(
        running,
        calls,
        {"query": "{ topProducts(first: 3) { upc } }"},
        {"query": "{ topProducts(first: 4) { upc } }"},
        "QUERY_TOO_COMPLEX",
    )


async def test_cost_with_variables_and_assumed_size(subgraphs: Subgraphs, calls: Calls) -> None:
    # first x (1 + reviews: assumedSize 3 x 1) = 2 x 4 = 8
    q = "query($n: Int!) { topProducts(first: $n) { reviews { id } } }"
    running = await _with(subgraphs, limits={"cost": 8})
    await _check(
        running,
        calls,
        {"query": q, "variables": {"n": 2}},
        {"query": q, "variables": {"n": 3}},
        "QUERY_TOO_COMPLEX",
    )


async def test_tokens(subgraphs: Subgraphs, calls: Calls) -> None:
    running = await _with(subgraphs, max_tokens=6)  # { users { id } } is 6 tokens
    await _check(
        running,
        calls,
        {"query": "{ users { id } }"},
        {"query": "{ users { id name } }"},
        "TOO_MANY_TOKENS",
    )


async def test_measure_mode_serves_over_limit_operations(
    subgraphs: Subgraphs, calls: Calls
) -> None:
    running = await _with(subgraphs, limits={"depth": 1, "cost": 1}, limits_mode="measure")
    try:
        r = await running.post({"query": "{ topProducts(first: 2) { reviews { id } } }"})
        assert r.status_code == 200
        assert "errors" not in r.json()
        metrics = (await running.client.get(running.url + "/metrics")).text
        assert 'gateway_limit_rejections_total{code="QUERY_TOO_DEEP",mode="measure"}' in metrics
    finally:
        await running.stop()


async def test_body_size(subgraphs: Subgraphs, calls: Calls) -> None:
    body = orjson.dumps({"query": "{ users { id } }"})
    running = await _with(subgraphs, app_options={"max_body_bytes": len(body)})
    try:
        headers = {"content-type": "application/json"}
        r = await running.client.post(running.url + "/graphql", content=body, headers=headers)
        assert r.json() == {"data": {"users": [{"id": "1"}, {"id": "2"}]}}
        calls.clear()
        bigger = orjson.dumps({"query": "{ users { id }  }"})
        r = await running.client.post(running.url + "/graphql", content=bigger, headers=headers)
        assert r.status_code == 413
        assert r.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"
        assert calls.count() == 0
    finally:
        await running.stop()


async def test_batch(subgraphs: Subgraphs, calls: Calls) -> None:
    running = await _with(subgraphs, app_options={"max_batch": 2})
    try:
        op = {"query": "{ users { id } }"}
        r = await running.post([op, {"query": "{ latestReviews { id } }"}])
        assert r.status_code == 200
        got = r.json()
        assert got[0] == {"data": {"users": [{"id": "1"}, {"id": "2"}]}}
        assert got[1]["data"]["latestReviews"][0] == {"id": "r1"}
        calls.clear()
        r = await running.post([op, op, op])
        assert r.status_code == 400
        assert r.json()["errors"][0]["extensions"]["code"] == "BATCH_TOO_LARGE"
        assert calls.count() == 0
    finally:
        await running.stop()


def _huge_query() -> str:
    # about 2 MB and well over 100,000 tokens
    fields = " ".join(f"f{i}" for i in range(270_000))
    return "{ users { " + fields + " } }"


async def test_two_megabyte_query_is_rejected(subgraphs: Subgraphs, calls: Calls) -> None:
    q = _huge_query()
    assert len(q) > 2_000_000
    # by the body limit (default 1 MB) ...
    running = await _with(subgraphs, app_options={"max_body_bytes": 1_000_000})
    try:
        r = await running.post({"query": q})
        assert r.status_code == 413
    finally:
        await running.stop()
    # ... and by the token limit when the body limit is off
    running = await _with(subgraphs, max_tokens=15_000, app_options={"max_body_bytes": 0})
    try:
        r = await running.post({"query": q})
        assert r.status_code == 400
        assert r.json()["errors"][0]["extensions"]["code"] == "TOO_MANY_TOKENS"
        assert calls.count() == 0
    finally:
        await running.stop()
