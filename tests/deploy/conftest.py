"""Fixtures for the deployment tests: kustomize overlays rendered once per session."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_support import (
    K8S,
    OVERLAYS,
    REPO,
    STAND_IN_SUPERGRAPH,
    SUPERGRAPH,
    SUPERGRAPH_KUSTOMIZATION,
    Rendered,
    kustomize,
)


@pytest.fixture(scope="session")
def k8s_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, bool]]:
    """deploy/k8s itself, or a temporary copy with a stand-in supergraph if none is committed."""
    if SUPERGRAPH.is_file():
        yield K8S, True
        return
    # The same layout, so the base's relative reference to gateway/ still resolves.
    tree = tmp_path_factory.mktemp("repo")
    shutil.copytree(K8S, tree / K8S.relative_to(REPO))
    gateway = tree / SUPERGRAPH.parent.relative_to(REPO)
    gateway.mkdir()
    shutil.copy(SUPERGRAPH_KUSTOMIZATION, gateway)
    (gateway / SUPERGRAPH.name).write_text(STAND_IN_SUPERGRAPH)
    yield tree / K8S.relative_to(REPO), False


@pytest.fixture(scope="session")
def rendered(k8s_root: tuple[Path, bool]) -> dict[str, Rendered]:
    """Every overlay and the base, rendered once per session."""
    root, real = k8s_root
    targets = {"base": root / "base"} | {name: root / "overlays" / name for name in OVERLAYS}
    return {name: Rendered(name, kustomize(path), real) for name, path in targets.items()}
