"""``python -m members migrate`` (Alembic upgrade head) and ``python -m members serve``."""

from __future__ import annotations

import argparse
import asyncio
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
    grant = sub.add_parser("grant-role", help="give a member a role (bootstrap the first admin)")
    grant.add_argument("email")
    grant.add_argument("role", choices=["member", "moderator", "official", "admin"])
    args = parser.parse_args(argv)

    settings = MembersSettings()
    if args.command == "migrate":
        from members.migrations import upgrade

        upgrade(settings.database_url, args.revision)
        return 0

    if args.command == "grant-role":
        return asyncio.run(_grant_role(settings, args.email, args.role))

    from kopano.web import serve as run
    from members.app import create_app

    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    run(create_app(settings), settings)
    return 0


async def _grant_role(settings: MembersSettings, email: str, role: str) -> int:
    from sqlalchemy.ext.asyncio import create_async_engine

    from members.service.admin import grant_role_from_cli
    from members.service.common import ServiceConfig
    from members.unit_of_work import UnitOfWorkFactory

    engine = create_async_engine(settings.database_url)
    try:
        config = ServiceConfig(uow=UnitOfWorkFactory(engine), event_source=settings.event_source)
        member = await grant_role_from_cli(config, email, role)
    finally:
        await engine.dispose()
    print(f"{member.id}: roles {sorted(r.value for r in member.roles)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
