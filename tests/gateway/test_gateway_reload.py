"""Hot reload: a new supergraph replaces the old atomically under load, requests in flight
finish on the old one, an invalid supergraph is refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from gw_hardening import Calls, Subgraphs, hardened_sdl, start_gateway
from gw_subgraphs import supergraph_sdl

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
