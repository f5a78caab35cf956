"""``python -m opportunities migrate`` (Alembic upgrade head) and ``python -m opportunities serve``."""

from __future__ import annotations

import argparse
import sys

from opportunities.settings import OpportunitiesSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m opportunities", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    migrate = sub.add_parser(
        "migrate", help="apply database migrations (OPPORTUNITIES_DATABASE_URL)"
    )
    migrate.add_argument("--revision", default="head")
    serve = sub.add_parser("serve", help="run the service, its outbox relay and its consumer")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    args = parser.parse_args(argv)

    settings = OpportunitiesSettings()
    if args.command == "migrate":
        from opportunities.migrations import upgrade

        upgrade(settings.database_url, args.revision)
        return 0

    from kopano.web import serve as run
    from opportunities.app import create_app

    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    run(create_app(settings), settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
