"""OTLP/HTTP span export: with `--tracing otlp` the gateway's spans reach a loopback OTLP
receiver (POST /v1/traces, protobuf decoded with opentelemetry-proto), in the same trace as
the `traceparent` the subgraphs received. Tracing is off by default."""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path
from typing import Any

import httpx
from gw_hardening import Calls, Subgraphs
from gw_stack import start_server
from gw_subgraphs import supergraph_sdl
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import telemetry
from gateway.__main__ import build_app
from gateway.config import parse_args


def receiver(requests: list[ExportTraceServiceRequest]) -> Starlette:
    async def traces(request: Request) -> Response:
        body = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        assert request.headers["content-type"] == "application/x-protobuf"
        requests.append(ExportTraceServiceRequest.FromString(body))
        return Response(
            ExportTraceServiceResponse().SerializeToString(),
            media_type="application/x-protobuf",
        )

    return Starlette(routes=[Route("/v1/traces", traces, methods=["POST"])])


def spans(requests: list[ExportTraceServiceRequest]) -> list[tuple[dict[str, Any], Any]]:
    """(resource attributes, span) for every exported span."""
    out: list[tuple[dict[str, Any], Any]] = []
    for req in requests:
        for rs in req.resource_spans:
            resource = {a.key: a.value.string_value for a in rs.resource.attributes}
            for ss in rs.scope_spans:
                out.extend((resource, s) for s in ss.spans)
    return out


async def test_spans_reach_an_otlp_receiver_with_traceparent_at_the_subgraphs(
    subgraphs: Subgraphs, calls: Calls, tmp_path: Path
) -> None:
    path = tmp_path / "supergraph.graphql"
    path.write_text(supergraph_sdl(subgraphs.urls))
    # off by default: no tracer, no traceparent
    assert build_app(parse_args(["--supergraph", str(path)])).tracer is None

    exported: list[ExportTraceServiceRequest] = []
    server, task, port = await start_server(receiver(exported))
    app = build_app(
        parse_args(
            [
                "--supergraph",
                str(path),
                "--no-dedup",
                "--tracing",
                "otlp",
                "--otlp-endpoint",
                f"http://127.0.0.1:{port}",  # the base URL: /v1/traces is added
            ]
        )
    )
    gateway, gateway_task, gateway_port = await start_server(app)
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            r = await client.post(
                f"http://127.0.0.1:{gateway_port}/graphql",
                json={"query": "{ topProducts { upc inStock } }"},
            )
        assert r.json()["data"]["topProducts"][0] == {"upc": "p1", "inStock": True}
        # the batch processor exports on its own thread; flushing blocks, so off the loop
        assert await asyncio.to_thread(telemetry.flush_tracing)
    finally:
        gateway.should_exit = True
        await gateway_task
        server.should_exit = True
        await task
        await asyncio.to_thread(telemetry.shutdown_tracing)

    got = spans(exported)
    names = sorted(s.name for _, s in got)
    assert names == [
        "graphql request",
        "plan step",
        "plan step",
        "subgraph fetch",
        "subgraph fetch",
    ]
    assert all(resource["service.name"] == "kopano-gateway" for resource, _ in got)
    (trace_id,) = {s.trace_id.hex() for _, s in got}
    fetches = {s.span_id.hex(): s for _, s in got if s.name == "subgraph fetch"}
    fetched_from = {
        a.value.string_value
        for s in fetches.values()
        for a in s.attributes
        if a.key == "graphql.subgraph"
    }
    assert fetched_from == {"products", "inventory"}
    for name in ("products", "inventory"):
        (seen,) = calls.seen[name]
        version, tid, parent, flags = seen["traceparent"].split("-")
        assert (version, tid) == ("00", trace_id)
        assert int(flags, 16) & 1  # sampled
        assert parent in fetches  # the subgraph's parent is the exported fetch span
        assert fetches[parent].trace_id.hex() == trace_id


def test_otlp_endpoint_is_a_base_url_or_the_traces_url() -> None:
    assert telemetry.otlp_traces_url("http://c:4318") == "http://c:4318/v1/traces"
    assert telemetry.otlp_traces_url("http://c:4318/") == "http://c:4318/v1/traces"
    assert telemetry.otlp_traces_url("http://c:4318/v1/traces") == "http://c:4318/v1/traces"
    assert telemetry.otlp_traces_url("") is None  # the exporter's OTEL_* environment decides
