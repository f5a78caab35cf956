"""Copy gateway/supergraph.graphql into the kustomize base, or check that the copy is current.

kustomize reads files only from under a kustomization's own folder (its default load
restrictor), so the gateway's supergraph ConfigMap is generated from a committed copy in
deploy/k8s/base/gateway/. Run this after the supergraph changes; tests/deploy fails while the
two files differ.

    python deploy/sync_supergraph.py           # write the copy
    python deploy/sync_supergraph.py --check   # exit 1 if the copy is missing or stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "gateway" / "supergraph.graphql"
COPY = REPO / "deploy" / "k8s" / "base" / "gateway" / "supergraph.graphql"


def is_current() -> bool:
    """True when the copy exists and is byte-for-byte the gateway's supergraph."""
    return COPY.is_file() and COPY.read_bytes() == SOURCE.read_bytes()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check, change nothing")
    args = parser.parse_args(argv)
    if not SOURCE.is_file():
        print(f"{SOURCE.relative_to(REPO)} does not exist yet; nothing to copy", file=sys.stderr)
        return 1
    if is_current():
        print(f"{COPY.relative_to(REPO)} is current")
        return 0
    if args.check:
        print(f"{COPY.relative_to(REPO)} is stale: run python deploy/sync_supergraph.py")
        return 1
    COPY.write_bytes(SOURCE.read_bytes())
    print(f"wrote {COPY.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
