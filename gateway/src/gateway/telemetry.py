"""Prometheus collectors and OpenTelemetry tracing for the gateway.

Tracing is off unless configured: the executor then holds `tracer = None` and never touches
the OpenTelemetry API on the hot path.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

REQUESTS = Counter("gateway_requests_total", "GraphQL requests", ["status"])
LATENCY = Histogram("gateway_request_duration_seconds", "GraphQL request latency", buckets=_BUCKETS)
OPERATIONS = Counter(
    "gateway_operation_requests_total", "GraphQL operations by name", ["operation", "status"]
)
OPERATION_LATENCY = Histogram(
    "gateway_operation_duration_seconds",
    "latency by operation name",
    ["operation"],
    buckets=_BUCKETS,
)
SUBGRAPH_REQUESTS = Counter(
    "gateway_subgraph_requests_total", "subgraph fetches", ["subgraph", "outcome"]
)
SUBGRAPH_LATENCY = Histogram(
    "gateway_subgraph_duration_seconds", "subgraph fetch latency", ["subgraph"], buckets=_BUCKETS
)
PLAN_CACHE = Counter("gateway_plan_cache_total", "document/plan cache lookups", ["result"])
REJECTIONS = Counter(
    "gateway_limit_rejections_total", "requests rejected (or measured) by a limit", ["code", "mode"]
)
CIRCUIT_STATE = Gauge(
    "gateway_circuit_state", "circuit breaker state (0 closed, 1 open, 2 half-open)", ["subgraph"]
)
SUPERGRAPH_RELOADS = Counter("gateway_supergraph_reloads_total", "hot reloads", ["result"])
HTTP_RESPONSES = Counter(
    "gateway_http_responses_total",
    "HTTP responses by route and status code; an exception no handler caught counts as 500",
    ["route", "status"],
)

# The paths the gateway serves; anything else is one label (clients choose paths).
_ROUTES = {p: p for p in ("/graphql", "/healthz", "/readyz", "/metrics")}
_responses: dict[tuple[str, int], Any] = {}


def count_response(path: str, status: int) -> None:
    """Count one HTTP response (a child per route and status, created once)."""
    key = (_ROUTES.get(path, "other"), status)
    child = _responses.get(key)
    if child is None:
        child = _responses[key] = HTTP_RESPONSES.labels(key[0], str(status))
    child.inc()


# Operation names are client-chosen: bound the label set.
MAX_OPERATION_LABELS = 500
_seen_ops: set[str] = set()


def operation_label(name: Any) -> str:
    if not isinstance(name, str) or not name:
        return "anonymous"
    if name in _seen_ops:
        return name
    if len(_seen_ops) >= MAX_OPERATION_LABELS or len(name) > 100:
        return "other"
    _seen_ops.add(name)
    return name


# Tracer providers created here, so their batched spans can be flushed on shutdown.
_providers: list[Any] = []

OTLP_TRACES_PATH = "/v1/traces"


def otlp_traces_url(endpoint: str) -> str | None:
    """The OTLP/HTTP traces URL for `--otlp-endpoint`: a collector's base URL gets
    `/v1/traces` (as the OTEL_EXPORTER_OTLP_ENDPOINT convention has it); empty leaves the
    exporter to its own OTEL_* environment (default http://localhost:4318/v1/traces)."""
    if not endpoint:
        return None
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith(OTLP_TRACES_PATH) else endpoint + OTLP_TRACES_PATH


def setup_tracing(kind: str, endpoint: str = "", exporter: Any = None) -> Any:
    """A tracer for `kind` (`console`, `otlp`) or for a given span exporter (tests: the SDK's
    in-memory exporter); None when tracing is off."""
    if kind == "off" and exporter is None:
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )

    provider = TracerProvider(resource=Resource.create({"service.name": "kopano-gateway"}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif kind == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif kind == "otlp":
        try:  # an optional extra: kopano-gateway[otlp]
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
                OTLPSpanExporter,
            )
        except ImportError as exc:
            raise RuntimeError(
                "GATEWAY_TRACING=otlp needs the OTLP exporter: install kopano-gateway[otlp] "
                "(opentelemetry-exporter-otlp-proto-http)"
            ) from exc
        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_traces_url(endpoint)))
        )
    else:
        raise ValueError(f"unknown tracing exporter {kind!r}")
    _providers.append(provider)
    return provider.get_tracer("gateway")


def flush_tracing(timeout_millis: int = 5000) -> bool:
    """Export the spans still batched (blocking: call it off the event loop)."""
    return all(p.force_flush(timeout_millis) for p in _providers)


def shutdown_tracing() -> None:
    """Flush and stop every exporter (at shutdown, off the event loop)."""
    while _providers:
        _providers.pop().shutdown()


def incoming_context(headers: Any) -> Any:
    """The caller's W3C trace context (`traceparent`, `tracestate` from the ingress or a
    traced client), so the request's spans join the caller's trace; None when it sent none
    or a malformed one (a new trace starts)."""
    carrier: dict[str, str] = {}
    for name, value in headers:
        if name in (b"traceparent", b"tracestate"):
            carrier[name.decode()] = value.decode("latin-1")
    if "traceparent" not in carrier:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator().extract(carrier)


def traceparent_header() -> bytes:
    """`traceparent: ...\\r\\n` for the current span (W3C Trace Context), or b""."""
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return b""
    return (
        f"traceparent: 00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}\r\n"
    ).encode()
