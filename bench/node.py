"""The Node gateways the benchmark compares against: installed from npm into a cache folder.

``bench/node/package.json`` pins the versions; the folder (``$KOPANO_BENCH_NODE_DIR``, default
``~/.cache/kopano-bench/node``) is outside the repository and reinstalled when that file changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "node"
_FILES = (
    "package.json",
    "package-lock.json",
    "gateway-apollo.mjs",
    "gateway.config.mjs",
    "compose.mjs",
)


def node_dir() -> Path:
    default = (
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kopano-bench" / "node"
    )
    return Path(os.environ.get("KOPANO_BENCH_NODE_DIR", default))


def node_available() -> bool:
    return shutil.which("node") is not None and shutil.which("npm") is not None


def ensure_installed(*, quiet: bool = False) -> Path:
    """Copy the pinned package files to the cache folder and ``npm install`` when they changed."""
    target = node_dir()
    target.mkdir(parents=True, exist_ok=True)
    for name in _FILES:
        if (SOURCE / name).exists():
            shutil.copyfile(SOURCE / name, target / name)
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        if (SOURCE / name).exists():
            digest.update((SOURCE / name).read_bytes())
    stamp = digest.hexdigest()
    stamp_file = target / ".installed"
    if (
        stamp_file.exists()
        and stamp_file.read_text() == stamp
        and (target / "node_modules").is_dir()
    ):
        return target
    if not quiet:
        print(f"installing the Node gateways into {target} (npm, once)...", file=sys.stderr)
    cmd = ["npm", "ci" if (target / "package-lock.json").exists() else "install"]
    subprocess.run([*cmd, "--no-audit", "--no-fund", "--loglevel=error"], cwd=target, check=True)
    stamp_file.write_text(stamp)
    return target


def versions(target: Path) -> dict[str, str]:
    """Installed versions of the packages that matter for the comparison."""
    import json

    out = {"node": subprocess.run(["node", "-v"], capture_output=True, text=True).stdout.strip()}
    for pkg in ("@apollo/gateway", "@apollo/server", "@graphql-hive/gateway", "graphql"):
        manifest = target / "node_modules" / pkg / "package.json"
        if manifest.exists():
            out[pkg] = json.loads(manifest.read_text())["version"]
    return out


def apollo_command(target: Path) -> list[str]:
    return ["node", str(target / "gateway-apollo.mjs")]


def hive_command(target: Path, supergraph: Path, host: str, port: int) -> list[str]:
    bin_js = target / "node_modules" / "@graphql-hive" / "gateway" / "dist" / "bin.js"
    return [
        "node",
        str(bin_js),
        "supergraph",
        str(supergraph),
        "--config-path",
        str(target / "gateway.config.mjs"),
        "--host",
        host,
        "--port",
        str(port),
        "--fork",
        "1",
        "--jit",
    ]
