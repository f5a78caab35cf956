"""The environment that compose and the Kubernetes manifests give a service is accepted by that
service's own settings class in `prod`, where every secret is required: the variable names in
the deployment files cannot drift from the code."""

from __future__ import annotations

import json
import os

import pytest
from deploy_support import PORTS, REPO, Rendered, compose_config, pod_spec
from pydantic import ValidationError

from kopano.settings import MissingSecretsError
from members.settings import MembersSettings

# The keys of the Secrets the manifests reference (deploy/README.md tells operators to create them).
SECRET_KEYS = {
    "platform-secrets": {"KOPANO_GATEWAY_TOKEN": "a-shared-token"},
    "members-secrets": {
        "MEMBERS_DATABASE_URL": "postgresql+asyncpg://members:pw@db.internal:5432/members",
        "MEMBERS_SIGNING_KEY_PEM": "-----BEGIN PRIVATE KEY-----\n…\n-----END PRIVATE KEY-----",
    },
}


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    # Only the variables a test sets reach the settings class.
    for key in list(os.environ):
        if key.startswith(("MEMBERS_", "KOPANO_", "KAFKA_")):
            monkeypatch.delenv(key)
    return monkeypatch


def _pod_environment(r: Rendered, workload: str, kind: str = "Deployment") -> dict[str, str]:
    """What envFrom gives the container: ConfigMaps from the render, Secrets from SECRET_KEYS."""
    env: dict[str, str] = {}
    (container,) = pod_spec(r.get(kind, workload))["containers"]
    for source in container["envFrom"]:
        if "configMapRef" in source:
            (configmap,) = [
                c
                for c in r.of_kind("ConfigMap")
                if c["metadata"]["name"] == source["configMapRef"]["name"]
            ]
            env |= configmap["data"]
        else:
            env |= SECRET_KEYS[source["secretRef"]["name"]]
    return env


@pytest.mark.parametrize("overlay", ["dev", "prod"])
@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_members_accepts_its_kubernetes_environment(
    rendered: dict[str, Rendered],
    clean_environment: pytest.MonkeyPatch,
    overlay: str,
    kind: str,
) -> None:
    workload = "members" if kind == "Deployment" else "members-migrate"
    env = _pod_environment(rendered[overlay], workload, kind)
    # Even the dev overlay must hold up as prod: every secret is wired in.
    env["MEMBERS_ENVIRONMENT"] = "prod"
    for key, value in env.items():
        clean_environment.setenv(key, value)
    settings = MembersSettings()
    assert settings.environment == "prod"
    assert settings.host == "0.0.0.0"
    assert settings.port == PORTS["members"]
    assert settings.kafka_enable_idempotence is True
    assert settings.kafka_bootstrap_servers == env["KAFKA_BOOTSTRAP_SERVERS"]
    assert settings.database_url == SECRET_KEYS["members-secrets"]["MEMBERS_DATABASE_URL"]
    assert settings.gateway_token is not None
    assert settings.gateway_token.get_secret_value() == "a-shared-token"
    assert settings.signing_key_pem is not None
    assert settings.jwks_url == f"http://members:{PORTS['members']}/.well-known/jwks.json"


def test_members_refuses_prod_without_the_platform_secret(
    rendered: dict[str, Rendered], clean_environment: pytest.MonkeyPatch
) -> None:
    # The check above could pass vacuously if secrets were optional: they are not.
    env = _pod_environment(rendered["prod"], "members")
    del env["KOPANO_GATEWAY_TOKEN"]
    for key, value in env.items():
        clean_environment.setenv(key, value)
    with pytest.raises((MissingSecretsError, ValidationError)):
        MembersSettings()


@pytest.mark.parametrize("service", ["members", "members-migrate"])
def test_members_accepts_its_compose_environment(
    clean_environment: pytest.MonkeyPatch, service: str
) -> None:
    secrets = {"MEMBERS_SIGNING_KEY_PEM": "pem", "KOPANO_GATEWAY_TOKEN": "token"}
    result = compose_config(secrets)
    assert result.returncode == 0, result.stderr
    env: dict[str, str] = json.loads(result.stdout)["services"][service]["environment"]
    for key, value in env.items():
        clean_environment.setenv(key, value)
    settings = MembersSettings()
    assert settings.environment == "prod"
    assert settings.port == PORTS["members"]
    assert settings.database_url.startswith("postgresql+asyncpg://kopano:")
    assert settings.database_url.endswith("@postgres:5432/members")
    assert settings.kafka_bootstrap_servers == "kafka:9092"
    assert settings.gateway_token is not None
    assert settings.gateway_token.get_secret_value() == "token"


def test_every_secret_key_is_documented_for_operators() -> None:
    readme = (REPO / "deploy" / "README.md").read_text()
    for secret, keys in SECRET_KEYS.items():
        assert f"`{secret}`" in readme
        for key in keys:
            assert f"`{key}`" in readme, key
