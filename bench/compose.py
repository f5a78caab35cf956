"""Compose the four benchmark subgraphs into ``bench/supergraph.graphql``.

``python -m bench.compose`` writes the file; ``--check`` exits 1 when it is out of date.
Composition uses the project's own composer (``gateway.composition``) when it can, else
``@apollo/composition`` from the Node cache folder (``--via node``). The committed file points
at ``http://127.0.0.1:4200/<name>``; the runner rewrites that base URL to the port it uses.
"""

from __future__ import annotations

import argparse
import difflib
import json
import subprocess
import sys
from pathlib import Path

from bench.schemas import SUBGRAPH_NAMES, SUBGRAPH_SDL

SUPERGRAPH = Path(__file__).resolve().parent / "supergraph.graphql"
BASE_URL = "http://127.0.0.1:4200"


def subgraph_list(base_url: str = BASE_URL) -> list[dict[str, str]]:
    return [{"name": n, "url": f"{base_url}/{n}", "sdl": SUBGRAPH_SDL[n]} for n in SUBGRAPH_NAMES]


def compose_python() -> str:
    """Compose with ``gateway.composition`` (the project's composer)."""
    from gateway.composition import SubgraphSource
    from gateway.composition import compose as compose_sources

    return compose_sources([SubgraphSource(s["name"], s["url"], s["sdl"]) for s in subgraph_list()])


def compose_node() -> str:
    """Compose with ``@apollo/composition`` (installed by bench.node)."""
    from bench.node import ensure_installed

    target = ensure_installed()
    proc = subprocess.run(
        ["node", str(target / "compose.mjs")],
        input=json.dumps(subgraph_list()),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"composition failed:\n{proc.stderr}")
    return proc.stdout


def compose(via: str = "auto") -> str:
    if via in ("auto", "python"):
        try:
            return compose_python()
        except Exception as exc:
            if via == "python":
                raise
            print(
                f"gateway.composition unavailable ({exc}); using @apollo/composition",
                file=sys.stderr,
            )
    return compose_node()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--via", choices=["auto", "python", "node"], default="auto")
    ap.add_argument("--check", action="store_true", help="fail if the committed file differs")
    a = ap.parse_args()
    sdl = compose(a.via)
    current = SUPERGRAPH.read_text() if SUPERGRAPH.exists() else ""
    if a.check:
        if current.strip() == sdl.strip():
            print(f"{SUPERGRAPH.name} is current")
            return 0
        diff = difflib.unified_diff(current.splitlines(), sdl.splitlines(), "committed", "composed")
        print("\n".join(diff))
        return 1
    SUPERGRAPH.write_text(sdl if sdl.endswith("\n") else sdl + "\n")
    print(f"wrote {SUPERGRAPH} ({len(sdl)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
