"""Command line: ``python -m kopano.devstack up|servers``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from kopano.devstack.launcher import (
    DEFAULT_KAFKA_PORT,
    DEFAULT_MONGO_PORT,
    DEFAULT_POSTGRES_PORT,
    Config,
    default_data_dir,
    find_repo_root,
    run_servers,
    run_up,
)


def _port(env_name: str, default: int) -> int:
    value = os.environ.get(env_name)
    return int(value) if value else default


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kopano.devstack",
        description=(
            "Run the Kopano platform locally. Servers are embedded (PostgreSQL, tansu for "
            "Kafka, secantusdb for MongoDB) unless DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS or "
            "MONGODB_URL point at real ones."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="servers, migrations, every installed service and the gateway")
    servers = sub.add_parser("servers", help="only the servers, for running services by hand")
    for command in (up, servers):
        command.add_argument(
            "--data-dir",
            type=Path,
            default=None,
            help="where data persists (default: $KOPANO_DATA_DIR or <repo>/.kopano)",
        )
        command.add_argument(
            "--postgres-port",
            type=int,
            default=_port("KOPANO_POSTGRES_PORT", DEFAULT_POSTGRES_PORT),
            help=f"embedded PostgreSQL port (default {DEFAULT_POSTGRES_PORT}; "
            "env KOPANO_POSTGRES_PORT)",
        )
        command.add_argument(
            "--kafka-port",
            type=int,
            default=_port("KOPANO_KAFKA_PORT", DEFAULT_KAFKA_PORT),
            help=f"embedded Kafka port (default {DEFAULT_KAFKA_PORT}; env KOPANO_KAFKA_PORT)",
        )
        command.add_argument(
            "--mongo-port",
            type=int,
            default=_port("KOPANO_MONGO_PORT", DEFAULT_MONGO_PORT),
            help=f"embedded MongoDB port (default {DEFAULT_MONGO_PORT}; env KOPANO_MONGO_PORT)",
        )
    up.add_argument(
        "--port-offset",
        type=int,
        default=_port("KOPANO_PORT_OFFSET", 0),
        help="added to the default gateway and service ports 4000-4004 (env KOPANO_PORT_OFFSET); "
        "one port alone moves with <PREFIX>PORT, e.g. MEMBERS_PORT or GATEWAY_PORT",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    env = dict(os.environ)
    root = find_repo_root()
    data_dir = args.data_dir.resolve() if args.data_dir else default_data_dir(env, root)
    config = Config(
        data_dir=data_dir,
        postgres_port=args.postgres_port,
        kafka_port=args.kafka_port,
        mongo_port=args.mongo_port,
        repo_root=root,
        env=env,
        port_offset=getattr(args, "port_offset", 0),
    )
    if args.command == "up":
        return run_up(config)
    return run_servers(config)


if __name__ == "__main__":
    sys.exit(main())
