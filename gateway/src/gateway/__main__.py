"""`python -m gateway --supergraph FILE --host H --port N [--no-dedup]`."""

from __future__ import annotations

import argparse
import gc
import logging
from pathlib import Path

import structlog
import uvicorn

from gateway.app import GatewayApp
from gateway.executor import Gateway
from gateway.supergraph import Supergraph


def build_app(supergraph_path: str, *, dedup: bool = True) -> GatewayApp:
    sdl = Path(supergraph_path).read_text(encoding="utf-8")
    return GatewayApp(Gateway(Supergraph(sdl), dedup=dedup))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="gateway", description="Kopano federation gateway")
    p.add_argument("--supergraph", required=True, help="path to the supergraph SDL")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=4000)
    p.add_argument("--no-dedup", action="store_true", help="never deduplicate subgraph requests")
    p.add_argument("--log-level", default="warning")
    args = p.parse_args(argv)
    level = getattr(logging, args.log_level.upper(), logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(level))
    app = build_app(args.supergraph, dedup=not args.no_dedup)
    # Responses are large trees of short-lived dicts without cycles: keep the cyclic GC
    # from rescanning them (and the long-lived schema/plan objects) all the time.
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    structlog.get_logger("gateway").info(
        "gateway starting", host=args.host, port=args.port, dedup=not args.no_dedup
    )
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level=args.log_level,
        access_log=False,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
