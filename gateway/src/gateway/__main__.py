"""`python -m gateway --supergraph FILE --host H --port N [...]`; every flag also has a
`GATEWAY_*` environment variable (see `gateway.config`)."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from gateway.app import GatewayApp
from gateway.config import GatewaySettings, parse_args
from gateway.executor import Gateway
from gateway.http import HttpPool
from gateway.persisted import PersistedQueries
from gateway.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from gateway.supergraph import Supergraph
from gateway.telemetry import setup_tracing
from kopano.auth import HttpJwksProvider, TokenVerifier
from kopano.logging import configure_logging, get_logger


def gateway_factory(
    settings: GatewaySettings, pool: HttpPool | None = None, tracer: Any = None
) -> Any:
    """sdl -> Gateway with these settings (used at start and by hot reload; one pool)."""
    shared = pool or HttpPool(timeout=settings.subgraph_timeout)

    def make(sdl: str) -> Gateway:
        return Gateway(
            Supergraph(sdl, settings.subgraph_urls),
            dedup=settings.dedup,
            pool=shared,
            max_tokens=settings.max_tokens,
            limits={
                "depth": settings.max_depth,
                "aliases": settings.max_aliases,
                "root_fields": settings.max_root_fields,
                "cost": settings.max_cost,
            },
            limits_mode=settings.limits_mode,
            authz=settings.authz,
            policies=settings.policies,
            gateway_token=settings.gateway_token.get_secret_value(),
            mask_errors=settings.masking,
            introspection=settings.introspection,
            timeouts=settings.subgraph_timeouts,
            retries=settings.retries,
            retry_backoff=(settings.retry_backoff, settings.retry_backoff_max),
            breaker=(settings.breaker_failures, settings.breaker_reset),
            tracer=tracer,
        )

    return make


def build_app(
    settings: GatewaySettings | str, *, dedup: bool = True, explain: bool = True
) -> GatewayApp:
    if isinstance(settings, str):  # a supergraph path, with defaults
        settings = GatewaySettings(supergraph=settings, dedup=dedup, explain=explain)
    tracer = setup_tracing(settings.tracing, settings.otlp_endpoint)
    make = gateway_factory(settings, tracer=tracer)
    if settings.supergraph_url:
        sdl = httpx.get(settings.supergraph_url, timeout=10).text
    else:
        sdl = Path(settings.supergraph).read_text(encoding="utf-8")
    verifier = None
    if settings.jwks_url:
        verifier = TokenVerifier(
            HttpJwksProvider(settings.jwks_url),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            algorithms=settings.jwt_algorithms,
        )
    limiter: RateLimiter | None = None
    if settings.rate_limit > 0:
        limiter = (
            RedisRateLimiter(settings.redis_url, settings.rate_limit, settings.rate_limit_window)
            if settings.redis_url
            else MemoryRateLimiter(settings.rate_limit, settings.rate_limit_window)
        )
    persisted = None
    if settings.apq or settings.safelist:
        persisted = PersistedQueries(apq=settings.apq, manifest=settings.safelist)
    return GatewayApp(
        make(sdl),
        explain=settings.explain,
        graphiql=settings.graphiql,
        verifier=verifier,
        rate_limiter=limiter,
        persisted=persisted,
        max_body_bytes=settings.max_body_bytes,
        max_batch=settings.max_batch,
        limits_measure=settings.limits_mode == "measure",
        tracer=tracer,
        reload_source=_source(settings),
        reload_interval=settings.reload_interval,
        gateway_factory=make,
    )


def _source(settings: GatewaySettings) -> Any:
    if settings.supergraph_url:
        url = settings.supergraph_url

        async def fetch() -> str | None:
            async with httpx.AsyncClient(timeout=10) as client:
                r = await client.get(url)
                r.raise_for_status()
                return r.text

        return fetch
    path = Path(settings.supergraph)
    last = [path.stat().st_mtime_ns]

    async def read() -> str | None:
        mtime = (await asyncio.to_thread(path.stat)).st_mtime_ns
        if mtime == last[0]:
            return None  # unchanged: no read, no parse
        last[0] = mtime
        return await asyncio.to_thread(path.read_text, "utf-8")

    return read


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    configure_logging("gateway", settings.log_level, json_logs=not settings.console_logs)
    app = build_app(settings)
    # Responses are large trees of short-lived dicts without cycles: keep the cyclic GC
    # from rescanning them (and the long-lived schema/plan objects) all the time.
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    get_logger("gateway").warning(
        "gateway starting",
        host=settings.host,
        port=settings.port,
        dedup=settings.dedup,
        environment=settings.environment,
        subgraphs=sorted(app.gateway.names.values()),
    )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level.lower(),
        log_config=None,  # keep the structured handlers configured above
        access_log=False,
        lifespan="on",
        # SIGTERM: stop accepting, let requests in flight finish (up to this long).
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace)),
    )


if __name__ == "__main__":
    main()
