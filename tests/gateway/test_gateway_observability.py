"""Tracing spans and W3C traceparent to subgraphs, per-operation and per-subgraph metrics,
access logs without tokens or variable values."""

from __future__ import annotations

import uuid

import pytest
import structlog.testing
from gw_hardening import Calls, Subgraphs, start_gateway
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from gateway import app as app_module
from gateway import telemetry
from gateway.telemetry import setup_tracing


async def test_spans_and_traceparent(subgraphs: Subgraphs, calls: Calls) -> None:
    exporter = InMemorySpanExporter()
    tracer = setup_tracing("off", exporter=exporter)
    running = await start_gateway(
        subgraphs, authz="off", tracer=tracer, app_options={"tracer": tracer}
    )
    try:
        r = await running.post({"query": "{ topProducts { upc inStock } }"})
        assert "errors" not in r.json()
    finally:
        await running.stop()
    spans = exporter.get_finished_spans()
    names = [s.name for s in spans]
    assert names.count("graphql request") == 1
    assert names.count("plan step") == 2  # products, then inventory
    assert names.count("subgraph fetch") == 2
    root = next(s for s in spans if s.name == "graphql request")
    trace_id = f"{root.context.trace_id:032x}"
    assert all(s.context.trace_id == root.context.trace_id for s in spans)
    fetch_ids = {f"{s.context.span_id:016x}" for s in spans if s.name == "subgraph fetch"}
    for name in ("products", "inventory"):
        (seen,) = calls.seen[name]
        version, tid, parent, flags = seen["traceparent"].split("-")
        assert (version, tid) == ("00", trace_id)
        assert int(flags, 16) & 1  # sampled
        assert parent in fetch_ids


async def test_a_callers_trace_is_continued(subgraphs: Subgraphs, calls: Calls) -> None:
    """An ingress or traced client sends `traceparent`: the gateway's spans and the
    subgraphs' traceparent belong to that trace, under the caller's span."""
    exporter = InMemorySpanExporter()
    tracer = setup_tracing("off", exporter=exporter)
    running = await start_gateway(
        subgraphs, authz="off", tracer=tracer, app_options={"tracer": tracer}
    )
    caller_trace, caller_span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    try:
        r = await running.post(
            {"query": "{ users { id } }"},
            headers={"traceparent": f"00-{caller_trace}-{caller_span}-01"},
        )
        assert "errors" not in r.json()
        malformed = await running.post(
            {"query": "{ users { id } }"}, headers={"traceparent": "00-nonsense"}
        )
        assert "errors" not in malformed.json()
    finally:
        await running.stop()
    roots = [s for s in exporter.get_finished_spans() if s.name == "graphql request"]
    assert len(roots) == 2
    continued, fresh = roots
    assert f"{continued.context.trace_id:032x}" == caller_trace
    assert continued.parent is not None
    assert f"{continued.parent.span_id:016x}" == caller_span
    assert calls.seen["accounts"][0]["traceparent"].split("-")[1] == caller_trace
    # A malformed header starts a new trace rather than failing the request.
    assert fresh.parent is None
    assert f"{fresh.context.trace_id:032x}" != caller_trace


async def test_no_traceparent_when_tracing_is_off(subgraphs: Subgraphs, calls: Calls) -> None:
    running = await start_gateway(subgraphs)
    try:
        await running.post({"query": "{ users { id } }"})
        assert "traceparent" not in calls.seen["accounts"][0]
    finally:
        await running.stop()


async def test_metrics_by_operation_and_subgraph(subgraphs: Subgraphs, calls: Calls) -> None:
    running = await start_gateway(subgraphs)
    try:
        await running.post({"query": "query TopUpcs { topProducts { upc } }"})
        text = (await running.client.get(running.url + "/metrics")).text
        assert 'gateway_operation_requests_total{operation="TopUpcs",status="200"}' in text
        assert 'gateway_operation_duration_seconds_count{operation="TopUpcs"}' in text
        assert 'gateway_subgraph_requests_total{outcome="ok",subgraph="products"}' in text
        assert 'gateway_subgraph_duration_seconds_count{subgraph="products"}' in text
        assert 'gateway_plan_cache_total{result="miss"}' in text
    finally:
        await running.stop()


async def test_access_log_has_no_token_or_variables(subgraphs: Subgraphs, calls: Calls) -> None:
    running = await start_gateway(subgraphs)
    running.app.access_log = True
    try:
        with structlog.testing.capture_logs() as logs:
            await running.post(
                {
                    "query": "query Acc($id: ID!) { account(id: $id) { id } }",
                    "variables": {"id": "secret-variable-value"},
                },
                {"authorization": "Bearer secret-token-value", "x-request-id": "req-42"},
            )
    finally:
        await running.stop()
    (line,) = [e for e in logs if e["event"] == "graphql request"]
    assert line["operation"] == "Acc"
    assert line["subgraphs"] == ["accounts"]
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float)
    assert line["request_id"] == "req-42"
    assert "secret-token-value" not in repr(logs)
    assert "secret-variable-value" not in repr(logs)


def _operation_count(label: str, status: str) -> float:
    value = REGISTRY.get_sample_value(
        "gateway_operation_requests_total", {"operation": label, "status": status}
    )
    return value or 0.0


async def test_operation_labels_are_bounded_and_unknown_operations_get_none(
    subgraphs: Subgraphs, calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    running = await start_gateway(subgraphs)
    # two more names may get a label of their own, then `other`
    monkeypatch.setattr(telemetry, "MAX_OPERATION_LABELS", len(telemetry._seen_ops) + 2)
    tag = uuid.uuid4().hex[:8]
    other_before = _operation_count("other", "200")
    invalid_before = _operation_count("invalid", "400")
    try:
        for i in range(6):
            r = await running.post({"query": f"query Fresh{tag}{i} {{ users {{ id }} }}"})
            assert r.status_code == 200
        cached = len(app_module._OP_METRICS)
        for i in range(6, 10):  # past the bound: nothing more is cached per name
            await running.post({"query": f"query Fresh{tag}{i} {{ users {{ id }} }}"})
        assert len(app_module._OP_METRICS) == cached
        # an operation name the document does not have is refused and labels nothing
        r = await running.post(
            {"query": "query Users { users { id } }", "operationName": f"Invented{tag}"}
        )
        assert r.status_code == 400
        text = (await running.client.get(running.url + "/metrics")).text
    finally:
        await running.stop()
    assert f'operation="Fresh{tag}0"' in text
    assert f'operation="Fresh{tag}1"' in text
    assert f"Fresh{tag}2" not in text
    assert _operation_count("other", "200") == other_before + 8
    assert f"Invented{tag}" not in text
    assert _operation_count("invalid", "400") == invalid_before + 1


def test_generated_request_ids_are_unique() -> None:
    ids = {app_module._new_request_id() for _ in range(10_000)}
    assert len(ids) == 10_000
