"""@interfaceObject, entity interfaces, @override, batching and deduplication through
the gateway over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from gw_stack import Stack, start_server
from gw_subgraphs_iface import apps, supergraph_sdl

from gateway.app import GatewayApp
from gateway.executor import Gateway
from gateway.http import HttpPool
from gateway.supergraph import Supergraph


@pytest.fixture(scope="module")
async def iface() -> AsyncIterator[Stack]:
    servers = []
    urls: dict[str, str] = {}
    for name, app in apps().items():
        server, task, port = await start_server(app)
        servers.append((server, task))
        urls[name] = f"http://127.0.0.1:{port}/graphql"
    gw = Gateway(Supergraph(supergraph_sdl(urls)), dedup=False)
    server, task, port = await start_server(GatewayApp(gw))
    servers.append((server, task))
    async with httpx.AsyncClient(timeout=10) as client:
        yield Stack(f"http://127.0.0.1:{port}", gw, urls, client)
    for server, task in servers:
        server.should_exit = True
        await task
    gw.pool.close()


async def test_interface_object_field_on_concrete_types(iface: Stack) -> None:
    got = await iface.query("{ nodes { id rating ... on Book { title } } }")
    assert got == {
        "data": {
            "nodes": [
                {"id": "b1", "rating": 5, "title": "Mafube"},
                {"id": "b2", "rating": 4, "title": "Chaka"},
                {"id": "f1", "rating": 3},
            ]
        }
    }


async def test_interface_object_values_get_their_real_type(iface: Stack) -> None:
    got = await iface.query(
        "{ topRated { __typename id rating ... on Film { title } ... on Book { title } } }"
    )
    assert got == {
        "data": {
            "topRated": [
                {"__typename": "Book", "id": "b1", "rating": 5, "title": "Mafube"},
                {"__typename": "Book", "id": "b2", "rating": 4, "title": "Chaka"},
                {"__typename": "Film", "id": "f1", "rating": 3, "title": "This Is Not a Burial"},
            ]
        }
    }


async def test_interface_object_only_fields_need_one_fetch(iface: Stack) -> None:
    r = await iface.client.post(
        iface.url + "/graphql?explain=1", json={"query": "{ topRated { id rating } }"}
    )
    assert [f["subgraph"] for f in r.json()["plan"]["fetches"]] == ["RATINGS"]


async def test_override_sends_the_field_to_the_new_owner(iface: Stack) -> None:
    got = await iface.query("{ nodes { ... on Book { author { name } } } }")
    assert got["data"]["nodes"][0] == {"author": {"name": "Thomas Mofolo"}}
    assert got["data"]["nodes"][2] == {}


async def test_unsatisfiable_query_is_an_error_not_a_wrong_answer() -> None:
    sdl = supergraph_sdl({"media": "http://127.0.0.1:9/x", "ratings": "http://127.0.0.1:9/y"})
    # Make the interface object's key non-resolvable: `rating` can then never be fetched.
    sdl = sdl.replace(
        '@join__type(graph: RATINGS, key: "id", isInterfaceObject: true)',
        '@join__type(graph: RATINGS, key: "id", resolvable: false, isInterfaceObject: true)',
    )
    gw = Gateway(Supergraph(sdl), dedup=False)
    got = await gw.execute("{ nodes { rating } }", None, None)
    assert got["data"] is None
    assert got["errors"]


class _CountingPool(HttpPool):
    """Answers from memory after a delay, counting the requests that reach it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def post(
        self, url: str, body: bytes, extra_headers: bytes = b"", time_limit: float | None = None
    ) -> tuple[int, bytes]:
        self.calls += 1
        await asyncio.sleep(0.05)
        return 200, b'{"data":{"nodes":[{"__typename":"Film","id":"f1","title":"T"}]}}'


async def _twice(gw: Gateway) -> list[dict[str, Any]]:
    q = "{ nodes { id ... on Film { title } } }"
    return list(await asyncio.gather(gw.execute(q, None, None), gw.execute(q, None, None)))


async def test_identical_inflight_fetches_are_shared_when_dedup_is_on() -> None:
    sdl = supergraph_sdl({"media": "http://127.0.0.1:9/m", "ratings": "http://127.0.0.1:9/r"})
    pool = _CountingPool()
    results = await _twice(Gateway(Supergraph(sdl), dedup=True, pool=pool))
    assert pool.calls == 1
    assert results[0] == results[1] == {"data": {"nodes": [{"id": "f1", "title": "T"}]}}

    pool = _CountingPool()
    await _twice(Gateway(Supergraph(sdl), dedup=False, pool=pool))
    assert pool.calls == 2


async def test_entity_fetches_of_a_level_are_batched(stack: Stack) -> None:
    q = "{ me { reviews { body } } latestReviews { author { name } } }"
    r = await stack.client.post(stack.url + "/graphql?explain=1", json={"query": q})
    batched = [f for f in r.json()["plan"]["fetches"] if "batch" in f]
    assert batched == []  # REVIEWS at level 1 and ACCOUNTS at level 1: different subgraphs
    got = await stack.query(q)
    assert got["data"]["me"]["reviews"] == [{"body": "Beautiful"}, {"body": "Classic"}]
    assert got["data"]["latestReviews"][1] == {"author": {"name": "Lineo Letsie"}}

    q = "{ me { reviews { body } } topProducts { reviews { body } } }"
    r = await stack.client.post(stack.url + "/graphql?explain=1", json={"query": q})
    batched = [f for f in r.json()["plan"]["fetches"] if "batch" in f]
    assert {f["subgraph"] for f in batched} == {"REVIEWS"}
    assert len(batched) == 2
    got = await stack.query(q)
    assert got == {
        "data": {
            "me": {"reviews": [{"body": "Beautiful"}, {"body": "Classic"}]},
            "topProducts": [
                {"reviews": [{"body": "Beautiful"}]},
                {"reviews": [{"body": "Warm"}, {"body": "Classic"}]},
            ],
        }
    }


async def test_identical_inflight_requests_share_one_execution() -> None:
    sdl = supergraph_sdl({"media": "http://127.0.0.1:9/m", "ratings": "http://127.0.0.1:9/r"})
    for dedup, expected_runs in ((True, 1), (False, 3)):
        gw = Gateway(Supergraph(sdl), dedup=dedup, pool=_CountingPool())
        runs = 0
        original = gw.execute

        async def counting(*args: Any, _orig: Any = original, **kw: Any) -> dict[str, Any]:
            nonlocal runs
            runs += 1
            return dict(await _orig(*args, **kw))

        gw.execute = counting  # type: ignore[method-assign]
        transport = httpx.ASGITransport(app=GatewayApp(gw))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            body = {"query": "{ nodes { id } }"}
            got = await asyncio.gather(*(client.post("/graphql", json=body) for _ in range(3)))
        assert [r.json() for r in got] == [{"data": {"nodes": [{"id": "f1"}]}}] * 3
        assert runs == expected_runs, dedup


async def test_composite_key_and_requires_with_arguments(iface: Stack) -> None:
    q = """
    {
      nodes {
        ... on Book { copies { shelf insured priceGBP: value(currency: "GBP") branch { code } } }
      }
    }
    """
    got = await iface.query(q)
    copies = [
        {"shelf": "MSU-1", "insured": True, "priceGBP": 8, "branch": {"code": "MSU"}},
        {"shelf": "JHB-2", "insured": True, "priceGBP": 8, "branch": {"code": "JHB"}},
    ]
    assert got == {"data": {"nodes": [{"copies": copies}, {"copies": copies}, {}]}}
    plan = await iface.client.post(iface.url + "/graphql?explain=1", json={"query": q})
    fetches = plan.json()["plan"]["fetches"]
    assert [f["subgraph"] for f in fetches] == ["MEDIA", "RATINGS"]
    # the required field is fetched under an internal alias, next to the client's own `value`
    assert 'value(currency:"LSL")' in fetches[0]["query"]
    assert 'priceGBP:value(currency:"GBP")' in fetches[0]["query"]


async def test_shareable_root_field_goes_where_the_whole_selection_resolves(iface: Stack) -> None:
    q = "{ branches { code city } }"
    plan = await iface.client.post(iface.url + "/graphql?explain=1", json={"query": q})
    assert [f["subgraph"] for f in plan.json()["plan"]["fetches"]] == ["MEDIA"]
    got = await iface.query(q)
    assert got == {
        "data": {
            "branches": [
                {"code": "MSU", "city": "Maseru"},
                {"code": "JHB", "city": "Johannesburg"},
            ]
        }
    }
