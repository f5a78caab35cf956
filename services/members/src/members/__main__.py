"""``python -m members migrate`` (Alembic upgrade head) and ``python -m members serve``."""

from __future__ import annotations

import argparse
import sys

from members.settings import MembersSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m members", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    migrate = sub.add_parser("migrate", help="apply database migrations (MEMBERS_DATABASE_URL)")
    migrate.add_argument("--revision", default="head")
    serve = sub.add_parser("serve", help="run the service and its outbox relay")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    args = parser.parse_args(argv)

    settings = MembersSettings()
    if args.command == "migrate":
        from members.migrations import upgrade

        upgrade(settings.database_url, args.revision)
        return 0

    from kopano.web import serve as run
    from members.app import create_app

    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    run(create_app(settings), settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
