"""``python -m content migrate`` (collections and indexes, idempotent) and ``python -m content serve``."""

from __future__ import annotations

import argparse
import asyncio
import sys

from content.settings import ContentSettings


async def _migrate(settings: ContentSettings) -> None:
    from content.adapters.store import ContentStore

    store = ContentStore.connect(settings.mongodb_url, settings.mongodb_database)
    try:
        await store.migrate()
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m content", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="create the collections and indexes (CONTENT_MONGODB_URL)")
    serve = sub.add_parser("serve", help="run the service, its outbox relay and its consumer")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    args = parser.parse_args(argv)

    settings = ContentSettings()
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
        print(f"content: indexes ready in database {settings.mongodb_database!r}")
        return 0

    from content.app import create_app
    from kopano.web import serve as run

    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    run(create_app(settings), settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
