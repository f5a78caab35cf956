"""``python -m payments.sandbox serve``: the sandbox pay-in provider and payout partners."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m payments.sandbox", description=__doc__)
    parser.add_argument("command", nargs="?", default="serve", choices=["serve"])
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    args = parser.parse_args(argv)

    from kopano.web import serve
    from payments.sandbox.app import SandboxSettings, create_sandbox_app

    settings = SandboxSettings()
    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    serve(create_sandbox_app(settings), settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
