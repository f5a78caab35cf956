"""`gateway_http_responses_total{route,status}`: every answer of a running gateway counted by
route and status, readiness answers included, and an exception that escapes a handler counted
as the 500 the client gets."""

from __future__ import annotations

from typing import Any

from gw_hardening import Calls, Subgraphs, start_gateway
from prometheus_client.parser import text_string_to_metric_families

from kopano.auth import Principal


async def counts(url: str, client: Any) -> dict[tuple[str, str], float]:
    """(route, status) -> count, from the gateway's own /metrics."""
    text = (await client.get(url + "/metrics")).text
    return {
        (s.labels["route"], s.labels["status"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "gateway_http_responses_total"
    }


class BrokenVerifier:
    """A token verifier whose key source fails in an unexpected way."""

    async def verify(self, token: str) -> Principal:
        raise RuntimeError("JWKS cache corrupted")


async def test_answers_are_counted_by_route_and_status_including_escaped_errors(
    subgraphs: Subgraphs, calls: Calls
) -> None:
    running = await start_gateway(subgraphs)
    try:
        before = await counts(running.url, running.client)
        assert (await running.post({"query": "{ topProducts { upc } }"})).status_code == 200
        assert (await running.post({"query": "{ nope }"})).status_code == 400
        assert (await running.client.get(running.url + "/healthz")).status_code == 200
        assert (await running.client.get(running.url + "/no/such/path")).status_code == 404
        # An exception no handler catches, on the raw POST path and on a Starlette route.
        running.app.verifier = BrokenVerifier()
        auth = {"authorization": "Bearer x"}
        assert (await running.post({"query": "{ users { id } }"}, auth)).status_code == 500
        get = await running.client.get(
            running.url + "/graphql", params={"query": "{ users { id } }"}, headers=auth
        )
        assert get.status_code == 500
        after = await counts(running.url, running.client)
    finally:
        await running.stop()

    def delta(route: str, status: str) -> float:
        return after.get((route, status), 0.0) - before.get((route, status), 0.0)

    assert delta("/graphql", "200") == 1
    assert delta("/graphql", "400") == 1
    assert delta("/graphql", "500") == 2
    assert delta("/healthz", "200") == 1
    assert delta("other", "404") == 1
    assert delta("/metrics", "200") == 1  # the first scrape, counted once it was answered
    assert not any(route == "/no/such/path" for route, _ in after)


async def test_readiness_answers_are_counted(subgraphs: Subgraphs, calls: Calls) -> None:
    running = await start_gateway(subgraphs)
    try:
        before = await counts(running.url, running.client)
        assert (await running.client.get(running.url + "/readyz")).status_code == 200

        async def failing(scope: Any, receive: Any, send: Any) -> bool:
            await send({"type": "http.response.start", "status": 500, "headers": []})
            await send({"type": "http.response.body", "body": b"down"})
            return True

        subgraphs.hooks["inventory"] = failing
        ready = await running.client.get(running.url + "/readyz")
        assert ready.status_code == 503
        assert ready.json()["subgraphs"]["inventory"] == "HTTP 500"
        after = await counts(running.url, running.client)
    finally:
        subgraphs.hooks.clear()
        await running.stop()
    assert after.get(("/readyz", "200"), 0.0) - before.get(("/readyz", "200"), 0.0) == 1
    assert after.get(("/readyz", "503"), 0.0) - before.get(("/readyz", "503"), 0.0) == 1
