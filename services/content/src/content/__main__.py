"""``python -m content migrate`` (collections, indexes, and the lanes older posts lack;
idempotent) and ``python -m content serve``."""

from __future__ import annotations

import argparse
import asyncio
import sys

from content.settings import ContentSettings


async def _migrate(settings: ContentSettings) -> int:
    from content.adapters.store import ContentStore
    from content.service import ContentService, ServiceConfig
    from content.unit_of_work import UnitOfWorkFactory

    store = ContentStore.connect(settings.mongodb_url, settings.mongodb_database)
    try:
        await store.migrate()
        service = ContentService(ServiceConfig(uow=UnitOfWorkFactory(store), store=store))
        return await service.index_unlaned_posts()
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m content", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "migrate",
        help="create the collections and indexes, give older posts their lanes (CONTENT_MONGODB_URL)",
    )
    serve = sub.add_parser("serve", help="run the service, its outbox relay and its consumer")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    args = parser.parse_args(argv)

    settings = ContentSettings()
    if args.command == "migrate":
        laned = asyncio.run(_migrate(settings))
        print(f"content: indexes ready in database {settings.mongodb_database!r}")
        if laned:
            print(f"content: {laned} older posts given their missing feed and search lanes")
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
