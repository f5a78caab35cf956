"""The committed supergraph is the composition of every service that exists, routed to the
ports ``make up`` gives them, and the launcher knows every service in the repository."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gateway.composition.config import DEFAULT_CONFIG, DEFAULT_SUPERGRAPH, load_config
from gateway.supergraph import Supergraph
from kopano.devstack.launcher import find_repo_root
from kopano.devstack.services import SERVICES, module_available

ROOT = find_repo_root(Path(__file__).parent)


def test_the_launcher_knows_every_service_in_the_repository() -> None:
    assert ROOT is not None
    on_disk = {p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml")}
    assert on_disk == {s.name for s in SERVICES}


def test_every_installed_service_is_composed_at_its_launcher_url() -> None:
    listed = {entry.name: entry.url for entry in load_config(DEFAULT_CONFIG)}
    installed = {s.name: s.graphql_url for s in SERVICES if module_available(s.module)}
    assert installed, "no service is installed"
    missing = sorted(set(installed) - set(listed))
    assert not missing, f"installed but not in gateway/subgraphs.toml: {missing}"
    for name, url in installed.items():
        assert listed[name] == url, name
    # The committed supergraph routes to the same places.
    graphs = Supergraph(DEFAULT_SUPERGRAPH.read_text(encoding="utf-8")).graphs
    routed = {graph.subgraph: graph.url for graph in graphs.values()}
    assert {name: routed.get(name) for name in installed} == installed


def test_the_committed_supergraph_is_current() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gateway.composition", "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
