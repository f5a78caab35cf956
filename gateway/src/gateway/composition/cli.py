"""`python -m gateway.composition`: compose our supergraph, or check the committed one is current.

compose                      from the in-process schemas in gateway/subgraphs.toml (default)
compose --from-urls          from each running subgraph's `_service { sdl }`
compose --from-files N=PATH  from SDL files (routing URLs from the subgraph list)
check                        recompose in-process; exit 1 with a diff if the file is stale
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway.composition import CompositionError, SubgraphSource, compose_model
from gateway.composition.config import (
    DEFAULT_CONFIG,
    DEFAULT_SUPERGRAPH,
    SubgraphConfigError,
    load_config,
    sources_from_files,
    sources_from_schemas,
    sources_from_urls,
)
from gateway.composition.printer import APOLLO_GATEWAY_UNSUPPORTED, print_supergraph


def supergraph_text(sources: Sequence[SubgraphSource]) -> str:
    """The supergraph file's content: the composed SDL with a final newline.

    Our supergraph must load unchanged in Apollo Gateway too, so router-only access-control
    features are linked without `for: SECURITY` (see `print_supergraph`).
    """
    return print_supergraph(compose_model(sources), apollo_gateway_compatible=True) + "\n"


def unenforced_by_apollo_gateway(sources: Sequence[SubgraphSource]) -> list[str]:
    """The access-control directives our subgraphs use that Apollo Gateway would not enforce."""
    used = compose_model(sources).used_spec_directives
    return sorted(name for name in APOLLO_GATEWAY_UNSUPPORTED if name in used)


def stale_diff(committed: str, fresh: str, path: Path) -> str:
    """A unified diff from the committed supergraph to a fresh composition ('' when equal)."""
    return "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            fresh.splitlines(keepends=True),
            fromfile=f"{path} (committed)",
            tofile=f"{path} (composed now)",
        )
    )


def _parse_files(values: Sequence[str]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise SubgraphConfigError(f"--from-files expects NAME=PATH, got {value!r}")
        files[name] = Path(path)
    return files


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.composition",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="subgraph list")
    parser.add_argument("--supergraph", type=Path, default=DEFAULT_SUPERGRAPH, help="output file")
    commands = parser.add_subparsers(dest="command", required=True)
    compose_cmd = commands.add_parser("compose", help="compose and write the supergraph")
    source = compose_cmd.add_mutually_exclusive_group()
    source.add_argument("--from-urls", action="store_true", help="query running subgraphs")
    source.add_argument("--from-files", nargs="+", metavar="NAME=PATH", help="SDL files")
    compose_cmd.add_argument("--stdout", action="store_true", help="print instead of writing")
    commands.add_parser("check", help="fail if the committed supergraph is stale")
    args = parser.parse_args(argv)

    try:
        entries = load_config(args.config)
        if args.command == "compose" and args.from_urls:
            sources = sources_from_urls(entries)
        elif args.command == "compose" and args.from_files:
            sources = sources_from_files(entries, _parse_files(args.from_files))
        else:
            sources = sources_from_schemas(entries)
        text = supergraph_text(sources)
    except SubgraphConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except CompositionError as exc:
        print("composition failed:", file=sys.stderr)
        for issue in exc.issues:
            print(f"  {issue}", file=sys.stderr)
        return 1

    path: Path = args.supergraph
    if args.command == "check":
        committed = path.read_text(encoding="utf-8") if path.exists() else ""
        diff = stale_diff(committed, text, path)
        if diff:
            print(diff, end="")
            print(
                f"\n{path} is stale: run `python -m gateway.composition compose` and commit it.",
                file=sys.stderr,
            )
            return 1
        print(f"{path} is current ({len(sources)} subgraphs).")
        return 0
    for name in unenforced_by_apollo_gateway(sources):
        print(
            f"note: @{name} is linked without `for: SECURITY` so that Apollo Gateway loads the "
            "supergraph; it does not enforce it (Hive Gateway and ours read it), so the "
            "services must.",
            file=sys.stderr,
        )
    if args.stdout:
        sys.stdout.write(text)
    else:
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path} ({len(text)} bytes, {len(sources)} subgraphs)")
    return 0
