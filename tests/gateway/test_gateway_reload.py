"""Hot reload: a new supergraph replaces the old atomically under load, requests in flight
finish on the old one, an invalid supergraph is refused; from a polled file or URL."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from gw_hardening import Calls, Subgraphs, hardened_sdl, start_gateway
from gw_stack import start_server
from gw_subgraphs import supergraph_sdl
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from gateway.__main__ import _source, gateway_factory
from gateway.config import GatewaySettings


async def test_reload_under_load_drops_no_request(subgraphs: Subgraphs, calls: Calls) -> None:
    settings = GatewaySettings(supergraph="unused", dedup=False, authz="off")
    make = gateway_factory(settings)
    running = await start_gateway(subgraphs, app_options={"gateway_factory": make})
    sdls = [supergraph_sdl(subgraphs.urls), hardened_sdl(subgraphs.urls)]
    want = {"data": {"users": [{"id": "1"}, {"id": "2"}]}}
    stop = asyncio.Event()

    async def reloads() -> int:
        n = 0
        while not stop.is_set():
            assert running.app.apply_supergraph(sdls[n % 2])
            n += 1
            await asyncio.sleep(0.05)
        return n

    async def client(i: int) -> list[httpx.Response]:
        return [await running.post({"query": "{ users { id } }"}) for _ in range(10)]

    try:
        reloader = asyncio.create_task(reloads())
        results = await asyncio.gather(*(client(i) for i in range(10)))
        stop.set()
        swaps = await reloader
        assert swaps > 2
        responses = [r for rs in results for r in rs]
        assert len(responses) == 100
        assert all(r.status_code == 200 and r.json() == want for r in responses)
    finally:
        await running.stop()


async def test_invalid_supergraph_is_refused(subgraphs: Subgraphs, calls: Calls) -> None:
    make = gateway_factory(GatewaySettings(supergraph="unused", dedup=False))
    running = await start_gateway(subgraphs, app_options={"gateway_factory": make})
    try:
        old = running.app.gateway
        assert not running.app.apply_supergraph("type Query {")
        assert not running.app.apply_supergraph("type Query { a: Int }")  # no join__Graph
        assert running.app.gateway is old
        r = await running.post({"query": "{ users { id } }"})
        assert r.json() == {"data": {"users": [{"id": "1"}, {"id": "2"}]}}
    finally:
        await running.stop()


async def test_file_change_is_picked_up_by_polling(
    subgraphs: Subgraphs, calls: Calls, tmp_path: Path
) -> None:
    path = tmp_path / "supergraph.graphql"
    path.write_text(supergraph_sdl(subgraphs.urls))
    settings = GatewaySettings(supergraph=str(path), dedup=False)
    running = await start_gateway(
        subgraphs,
        hardened=False,
        app_options={
            "gateway_factory": gateway_factory(settings),
            "reload_source": _source(settings),
            "reload_interval": 0.05,
        },
    )
    running.app.start_reloader()
    try:
        # the plain supergraph has no access control: whoami is served
        r = await running.post({"query": "{ whoami }"})
        assert r.json() == {"data": {"whoami": None}}
        path.write_text(hardened_sdl(subgraphs.urls))
        for _ in range(100):
            await asyncio.sleep(0.05)
            r = await running.post({"query": "{ whoami }"})
            if "errors" in r.json():
                break
        assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        path.write_text("not a supergraph")  # refused; the hardened one stays
        await asyncio.sleep(0.3)
        r = await running.post({"query": "{ whoami }"})
        assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    finally:
        if running.app._reload_task is not None:
            running.app._reload_task.cancel()
        await running.stop()


def _refusals() -> float:
    return REGISTRY.get_sample_value("gateway_supergraph_reloads_total", {"result": "refused"}) or 0


async def test_url_polling_switches_atomically_and_keeps_the_graph_on_a_bad_one(
    subgraphs: Subgraphs, calls: Calls
) -> None:
    # The supergraph is served over HTTP; the gateway polls it.
    served = {"sdl": supergraph_sdl(subgraphs.urls), "fetches": 0}

    async def supergraph_file(request: Request) -> PlainTextResponse:
        served["fetches"] += 1
        return PlainTextResponse(served["sdl"])

    source, source_task, port = await start_server(
        Starlette(routes=[Route("/supergraph.graphql", supergraph_file)])
    )
    settings = GatewaySettings(
        supergraph_url=f"http://127.0.0.1:{port}/supergraph.graphql", dedup=False
    )
    running = await start_gateway(
        subgraphs,
        hardened=False,
        app_options={
            "gateway_factory": gateway_factory(settings),
            "reload_source": _source(settings),
            "reload_interval": 0.02,
        },
    )
    running.app.start_reloader()
    old = {"data": {"whoami": None}}  # the plain supergraph serves whoami to anyone

    def is_new(body: Any) -> bool:  # the hardened one wants a signed-in caller
        return bool(body.get("data") == {"whoami": None} and body.get("errors")) and (
            body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        )

    seen_new = asyncio.Event()

    async def client() -> list[str]:
        got: list[str] = []
        for _ in range(3000):
            body = (await running.post({"query": "{ whoami }"})).json()
            assert body == old or is_new(body), body
            got.append("new" if is_new(body) else "old")
            if got[-1] == "new":
                seen_new.set()
                if got.count("new") >= 5:
                    break
        return got

    try:
        assert (await running.post({"query": "{ whoami }"})).json() == old
        clients = [asyncio.create_task(client()) for _ in range(4)]
        await asyncio.sleep(0.05)
        served["sdl"] = hardened_sdl(subgraphs.urls)
        sequences = await asyncio.gather(*clients)
        assert seen_new.is_set()
        for seq in sequences:
            # one switch: each client sees the old graph, then only the new one
            first_new = seq.index("new")
            assert set(seq[first_new:]) == {"new"}, seq
        swapped = running.app.gateway

        # An invalid supergraph is refused (once, however often it is polled); the graph stays.
        refusals = _refusals()
        served["sdl"] = "type Query { not a supergraph"
        fetched = served["fetches"]
        for _ in range(200):
            if served["fetches"] >= fetched + 5:
                break
            await asyncio.sleep(0.02)
        assert served["fetches"] >= fetched + 5
        assert running.app.gateway is swapped
        assert _refusals() == refusals + 1
        assert is_new((await running.post({"query": "{ whoami }"})).json())

        # and polling goes on: a valid one is applied again
        served["sdl"] = supergraph_sdl(subgraphs.urls)
        for _ in range(200):
            if running.app.gateway is not swapped:
                break
            await asyncio.sleep(0.02)
        assert (await running.post({"query": "{ whoami }"})).json() == old
    finally:
        if running.app._reload_task is not None:
            running.app._reload_task.cancel()
        await running.stop()
        source.should_exit = True
        await source_task
