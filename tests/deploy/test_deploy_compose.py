"""docker-compose.yml parses, uses real images, gates start-up on health and runs migrations first."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_support import COMPOSE, PORTS, REPO, compose_config

# Official images of the real servers, by major version (tags may be more precise).
INFRASTRUCTURE = {
    "postgres": re.compile(r"^postgres:18(\.\d+)*$"),
    "mongo": re.compile(r"^mongo:8(\.\d+)*$"),
    "kafka": re.compile(r"^apache/kafka:4\.\d+(\.\d+)?$"),
}


def own_dockerfile(service_name: str) -> str:
    """Our images build from the Dockerfile next to their component (`<x>-migrate` uses x's)."""
    component = service_name.removesuffix("-migrate")
    return "gateway/Dockerfile" if component == "gateway" else f"services/{component}/Dockerfile"


OWN = ["members", "members-migrate", "gateway"]
# Settings that are secrets: always supplied by the operator, never given a default here.
SECRETS = {"MEMBERS_SIGNING_KEY_PEM", "KOPANO_GATEWAY_TOKEN"}
# ${NAME:?message} makes compose refuse to start when NAME is unset or empty.
REQUIRED_VARIABLE = re.compile(r"^\$\{[A-Z0-9_]+:\?[^}]+\}$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def _dockerfile(service: dict[str, Any]) -> str | None:
    build = service.get("build")
    if build is None:
        return None
    assert build["context"] == ".", "images build from the workspace root"
    dockerfile: str = build["dockerfile"]
    return dockerfile


def test_compose_has_the_platform(services: dict[str, dict[str, Any]]) -> None:
    assert set(INFRASTRUCTURE) | set(OWN) <= set(services)


def test_images_are_real_and_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        image = service["image"]
        assert not image.endswith(":latest"), name
        dockerfile = _dockerfile(service)
        if dockerfile is None:
            # Pulled images: only the official servers, pinned to a major version at least.
            assert name in INFRASTRUCTURE, f"{name} uses an image we do not know: {image}"
            assert INFRASTRUCTURE[name].match(image), f"{name}: {image}"
        else:
            assert own_dockerfile(name) == dockerfile, name
            assert (REPO / dockerfile).is_file(), dockerfile
            component = Path(dockerfile).parent.name
            assert image.startswith(f"kopano/{component}:"), image


def test_every_dockerfile_is_in_compose(services: dict[str, dict[str, Any]]) -> None:
    dockerfiles = {str(p.relative_to(REPO)) for p in REPO.glob("services/*/Dockerfile")}
    dockerfiles.add("gateway/Dockerfile")
    used = {_dockerfile(s) for s in services.values()}
    assert dockerfiles <= used


def test_start_up_is_gated_on_health_and_completion(services: dict[str, dict[str, Any]]) -> None:
    gated = 0
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        # The short (list) form only waits for a container to start, not to be ready.
        assert isinstance(depends_on, dict), f"{name}: use depends_on with conditions"
        for dependency, rule in depends_on.items():
            condition = rule["condition"]
            assert condition in {"service_healthy", "service_completed_successfully"}, name
            if condition == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} needs a healthcheck"
            gated += 1
    assert gated >= 5


def test_every_long_running_service_has_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if service.get("restart") == "no":
            continue
        test = service["healthcheck"]["test"]
        assert test[0] in {"CMD", "CMD-SHELL"}, name


def test_migrations_run_once_before_members(services: dict[str, dict[str, Any]]) -> None:
    migrate, members = services["members-migrate"], services["members"]
    assert migrate["command"] == ["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["image"] == members["image"]
    assert migrate["environment"] == members["environment"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert members["command"] == ["serve"]
    assert members["depends_on"]["members-migrate"]["condition"] == (
        "service_completed_successfully"
    )
    assert members["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert services["gateway"]["depends_on"]["members"]["condition"] == "service_healthy"


def test_only_gateway_and_members_are_published_on_loopback(
    services: dict[str, dict[str, Any]],
) -> None:
    published: dict[str, list[str]] = {n: s["ports"] for n, s in services.items() if "ports" in s}
    assert set(published) == {"gateway", "members"}
    for name, ports in published.items():
        assert ports == [f"127.0.0.1:{PORTS[name]}:{PORTS[name]}"]


def test_mongo_is_a_replica_set(services: dict[str, dict[str, Any]]) -> None:
    mongo = services["mongo"]
    command = mongo["command"]
    assert command[command.index("--replSet") + 1] == "rs0"
    check = " ".join(mongo["healthcheck"]["test"])
    # The health check initiates the set on first start and waits for a primary.
    assert "rs.initiate" in check
    assert "isWritablePrimary" in check


def test_kafka_runs_kraft_single_node(services: dict[str, dict[str, Any]]) -> None:
    env = services["kafka"]["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert not any("ZOOKEEPER" in key for key in env)
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://kafka:9092"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 1
    # KRaft cluster ids are 16 bytes, base64url without padding.
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16


def test_service_settings_are_complete_and_secrets_required(
    services: dict[str, dict[str, Any]],
) -> None:
    members = services["members"]["environment"]
    assert members["MEMBERS_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert members["MEMBERS_DATABASE_URL"].split("@", 1)[1].startswith("postgres:5432/")
    assert members["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert members["KAFKA_ENABLE_IDEMPOTENCE"] == "true"
    assert members["MEMBERS_ENVIRONMENT"] == "prod"
    assert members["MEMBERS_PORT"] == str(PORTS["members"])
    gateway = services["gateway"]["environment"]
    assert gateway["GATEWAY_SUBGRAPH_URL_MEMBERS"] == f"http://members:{PORTS['members']}/graphql"
    assert gateway["KOPANO_JWKS_URL"] == f"http://members:{PORTS['members']}/.well-known/jwks.json"
    assert set(members) >= SECRETS
    for env in (members, gateway):
        for key in SECRETS & set(env):
            assert REQUIRED_VARIABLE.match(env[key]), f"{key} must be supplied, never defaulted"
    # The gateway presents the same shared secret that members expects.
    assert members["KOPANO_GATEWAY_TOKEN"] == gateway["KOPANO_GATEWAY_TOKEN"]


def test_compose_matches_the_kubernetes_settings(services: dict[str, dict[str, Any]]) -> None:
    # The same variable names in both deployments: the ConfigMap's keys are all set in compose.
    keys: set[str] = set()
    for path, name in (
        ("deploy/k8s/base/kustomization.yaml", "platform-config"),
        ("deploy/k8s/base/members/kustomization.yaml", "members-config"),
    ):
        kustomization = yaml.safe_load((REPO / path).read_text())
        (generator,) = [g for g in kustomization["configMapGenerator"] if g["name"] == name]
        keys |= {literal.split("=", 1)[0] for literal in generator["literals"]}
    assert "KAFKA_BOOTSTRAP_SERVERS" in keys
    assert keys <= set(services["members"]["environment"])


def test_our_containers_run_locked_down(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if _dockerfile(service) is None:
            continue
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name


def test_docker_compose_accepts_the_file() -> None:
    result = compose_config({"MEMBERS_SIGNING_KEY_PEM": "pem", "KOPANO_GATEWAY_TOKEN": "token"})
    assert result.returncode == 0, result.stderr
    model = json.loads(result.stdout)
    members = model["services"]["members"]
    # Merge keys and interpolation resolved the way compose resolves them.
    assert members["environment"]["KOPANO_GATEWAY_TOKEN"] == "token"
    assert members["environment"]["MEMBERS_SIGNING_KEY_PEM"] == "pem"
    assert members["read_only"] is True
    assert model["services"]["gateway"]["environment"]["KOPANO_GATEWAY_TOKEN"] == "token"
    assert members["depends_on"]["members-migrate"]["condition"] == (
        "service_completed_successfully"
    )
    (published,) = members["ports"]
    assert published["host_ip"] == "127.0.0.1"


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_docker_compose_refuses_to_start_without_a_secret(missing: str) -> None:
    env = {key: "set" for key in SECRETS if key != missing}
    result = compose_config(env)
    assert result.returncode != 0
    assert f"required variable {missing} is missing a value" in result.stderr
