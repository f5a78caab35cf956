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
    """Our images build from the Dockerfile next to their component (`<x>-migrate` and
    `<x>-sandbox` use x's)."""
    component = service_name.split("-")[0]
    return "gateway/Dockerfile" if component == "gateway" else f"services/{component}/Dockerfile"


# Services and their one-shot migration steps.
MIGRATED = ["members", "content", "opportunities", "payments"]
OWN = [*MIGRATED, *(f"{name}-migrate" for name in MIGRATED), "payments-sandbox", "gateway"]
# Variables compose must be given: the secrets, never defaulted in the file.
SECRET_VARIABLES = {"MEMBERS_SIGNING_KEY_PEM", "KOPANO_GATEWAY_TOKEN", "PAYMENTS_WEBHOOK_SECRET"}
# Container settings that are secrets, by service.
SECRETS = {
    "members": {"MEMBERS_SIGNING_KEY_PEM", "KOPANO_GATEWAY_TOKEN"},
    "content": {"KOPANO_GATEWAY_TOKEN"},
    "opportunities": {"KOPANO_GATEWAY_TOKEN"},
    "payments": {"PAYMENTS_WEBHOOK_SECRET", "KOPANO_GATEWAY_TOKEN"},
    "payments-sandbox": {"PAYMENTS_SANDBOX_WEBHOOK_SECRET", "KOPANO_GATEWAY_TOKEN"},
    "gateway": {"KOPANO_GATEWAY_TOKEN"},
}
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


@pytest.mark.parametrize(
    ("name", "datastore"),
    [
        ("members", "postgres"),
        ("content", "mongo"),
        ("opportunities", "postgres"),
        ("payments", "postgres"),
    ],
)
def test_migrations_run_once_before_the_service(
    services: dict[str, dict[str, Any]], name: str, datastore: str
) -> None:
    migrate, service = services[f"{name}-migrate"], services[name]
    assert migrate["command"] == ["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["image"] == service["image"]
    assert migrate["environment"] == service["environment"]
    assert migrate["depends_on"][datastore]["condition"] == "service_healthy"
    assert service["command"] == ["serve"]
    assert service["depends_on"][f"{name}-migrate"]["condition"] == (
        "service_completed_successfully"
    )
    assert service["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert services["gateway"]["depends_on"][name]["condition"] == "service_healthy"
    # The gateway reaches each subgraph by its compose service name.
    gateway = services["gateway"]["environment"]
    assert gateway[f"GATEWAY_SUBGRAPH_URL_{name.upper()}"] == f"http://{name}:{PORTS[name]}/graphql"
    # Its health check asks the service on its own port.
    assert f"127.0.0.1:{PORTS[name]}/readyz" in " ".join(service["healthcheck"]["test"])


def test_each_postgres_service_has_its_own_database(services: dict[str, dict[str, Any]]) -> None:
    postgres = services["postgres"]
    created = {postgres["environment"]["POSTGRES_DB"]}
    for volume in postgres["volumes"]:
        source, _, target = volume.partition(":")
        if target.startswith("/docker-entrypoint-initdb.d/"):
            sql = (REPO / source).read_text()
            created |= set(re.findall(r"CREATE DATABASE (\w+);", sql))
    for name in ("members", "opportunities", "payments"):
        url = services[name]["environment"][f"{name.upper()}_DATABASE_URL"]
        assert url.startswith("postgresql+asyncpg://")
        assert url.rpartition("/")[2] in created
        assert url.rpartition("/")[2] == name


def test_the_sandbox_partners_and_payments_point_at_each_other(
    services: dict[str, dict[str, Any]],
) -> None:
    sandbox, payments = services["payments-sandbox"], services["payments"]
    assert sandbox["entrypoint"] == ["python", "-m", "payments.sandbox"]
    assert sandbox["image"] == payments["image"]
    assert payments["environment"]["PAYMENTS_PARTNER_BASE_URL"] == (
        f"http://payments-sandbox:{PORTS['payments-sandbox']}"
    )
    assert sandbox["environment"]["PAYMENTS_SANDBOX_WEBHOOK_URL"] == (
        f"http://payments:{PORTS['payments']}/webhooks"
    )
    # Both sign and verify with the same key.
    assert (
        sandbox["environment"]["PAYMENTS_SANDBOX_WEBHOOK_SECRET"]
        == (payments["environment"]["PAYMENTS_WEBHOOK_SECRET"])
    )


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
    for name, secrets in SECRETS.items():
        env = services[name]["environment"]
        for key in secrets:
            assert REQUIRED_VARIABLE.match(env[key]), f"{name}: {key} must be supplied"
    assert services["content"]["environment"]["CONTENT_MONGODB_URL"] == (
        "mongodb://mongo:27017/?replicaSet=rs0"
    )
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
    result = compose_config(
        {"MEMBERS_SIGNING_KEY_PEM": "pem", "KOPANO_GATEWAY_TOKEN": "token"}
        | {"PAYMENTS_WEBHOOK_SECRET": "hmac"}
    )
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
    sandbox = model["services"]["payments-sandbox"]["environment"]
    assert sandbox["PAYMENTS_SANDBOX_WEBHOOK_SECRET"] == "hmac"


@pytest.mark.parametrize("missing", sorted(SECRET_VARIABLES))
def test_docker_compose_refuses_to_start_without_a_secret(missing: str) -> None:
    env = {key: "set" for key in SECRET_VARIABLES if key != missing}
    result = compose_config(env)
    assert result.returncode != 0
    assert f"required variable {missing} is missing a value" in result.stderr
