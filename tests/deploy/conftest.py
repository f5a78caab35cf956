"""Fixtures for the deployment tests: kustomize overlays rendered once per session."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_support import (
    K8S,
    OVERLAYS,
    STAND_IN_SUPERGRAPH,
    SUPERGRAPH_COPY,
    Rendered,
    kustomize,
)


@pytest.fixture(scope="session")
def k8s_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, bool]]:
    """deploy/k8s itself, or a temporary copy with a stand-in supergraph if none is committed."""
    if SUPERGRAPH_COPY.is_file():
        yield K8S, True
        return
    copy = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S, copy)
    (copy / "base" / "gateway" / "supergraph.graphql").write_text(STAND_IN_SUPERGRAPH)
    yield copy, False


@pytest.fixture(scope="session")
def rendered(k8s_root: tuple[Path, bool]) -> dict[str, Rendered]:
    """Every overlay and the base, rendered once per session."""
    root, real = k8s_root
    targets = {"base": root / "base"} | {name: root / "overlays" / name for name in OVERLAYS}
    return {name: Rendered(name, kustomize(path), real) for name, path in targets.items()}
