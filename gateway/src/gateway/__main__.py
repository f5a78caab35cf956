"""`python -m gateway --supergraph FILE --host H --port N [--no-dedup]`."""

from __future__ import annotations

import argparse
import gc
from pathlib import Path

import uvicorn

from gateway.app import GatewayApp
from gateway.executor import Gateway
from gateway.supergraph import Supergraph
from kopano.logging import configure_logging, get_logger


def build_app(supergraph_path: str, *, dedup: bool = True, explain: bool = True) -> GatewayApp:
    sdl = Path(supergraph_path).read_text(encoding="utf-8")
    return GatewayApp(Gateway(Supergraph(sdl), dedup=dedup), explain=explain)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="gateway", description="Kopano federation gateway")
    p.add_argument("--supergraph", required=True, help="path to the supergraph SDL")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=4000)
    p.add_argument(
        "--no-dedup",
        action="store_true",
        help="never share identical in-flight requests or subgraph fetches",
    )
    p.add_argument(
        "--no-explain", action="store_true", help="ignore X-Kopano-Explain / ?explain (prod)"
    )
    p.add_argument(
        "--log-level",
        default="warning",
        help="info adds one structured access line per request (off by default: it costs)",
    )
    p.add_argument("--console-logs", action="store_true", help="human-readable logs (dev)")
    args = p.parse_args(argv)
    configure_logging("gateway", args.log_level, json_logs=not args.console_logs)
    app = build_app(args.supergraph, dedup=not args.no_dedup, explain=not args.no_explain)
    # Responses are large trees of short-lived dicts without cycles: keep the cyclic GC
    # from rescanning them (and the long-lived schema/plan objects) all the time.
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    get_logger("gateway").warning(
        "gateway starting",
        host=args.host,
        port=args.port,
        dedup=not args.no_dedup,
        subgraphs=sorted(app.gateway.names.values()),
    )
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level=args.log_level.lower(),
        log_config=None,  # keep the structured handlers configured above
        access_log=False,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
