"""The environment that compose and the Kubernetes manifests give a service is accepted by that
service's own settings class in `prod`, where every secret is required: the variable names in
the deployment files cannot drift from the code."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from deploy_support import PORTS, REPO, Rendered, compose_config, pod_spec
from pydantic import ValidationError

from content.settings import ContentSettings
from kopano.settings import BaseServiceSettings, MissingSecretsError
from members.settings import MembersSettings
from opportunities.settings import OpportunitiesSettings
from payments.sandbox.app import SandboxSettings
from payments.settings import PaymentsSettings

# The keys of the Secrets the manifests reference (deploy/README.md tells operators to create them).
SECRET_KEYS = {
    "platform-secrets": {"KOPANO_GATEWAY_TOKEN": "a-shared-token"},
    "members-secrets": {
        "MEMBERS_DATABASE_URL": "postgresql+asyncpg://members:pw@db.internal:5432/members",
        "MEMBERS_SIGNING_KEY_PEM": "-----BEGIN PRIVATE KEY-----\n…\n-----END PRIVATE KEY-----",
    },
    "content-secrets": {
        "CONTENT_MONGODB_URL": "mongodb://content:pw@mongo.internal:27017/?replicaSet=rs0",
    },
    "opportunities-secrets": {
        "OPPORTUNITIES_DATABASE_URL": "postgresql+asyncpg://opp:pw@db.internal:5432/opportunities",
    },
    "payments-secrets": {
        "PAYMENTS_DATABASE_URL": "postgresql+asyncpg://payments:pw@db.internal:5432/payments",
        "PAYMENTS_WEBHOOK_SECRET": "an-hmac-key",
    },
}
# Each runnable thing and the settings class it reads.
SETTINGS: dict[str, type[BaseServiceSettings]] = {
    "members": MembersSettings,
    "content": ContentSettings,
    "opportunities": OpportunitiesSettings,
    "payments": PaymentsSettings,
    "payments-sandbox": SandboxSettings,
}
PREFIXES = ("MEMBERS_", "CONTENT_", "PAYMENTS_", "KOPANO_", "KAFKA_", "MONGODB_")


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    # Only the variables a test sets reach the settings class.
    for key in list(os.environ):
        if key.startswith(PREFIXES):
            monkeypatch.delenv(key)
    return monkeypatch


def _pod_environment(r: Rendered, workload: str, kind: str = "Deployment") -> dict[str, str]:
    """What the container gets: ConfigMaps from the render, Secrets from SECRET_KEYS."""
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
    for variable in container.get("env", []):
        ref = variable["valueFrom"]["secretKeyRef"]
        env[variable["name"]] = SECRET_KEYS[ref["name"]][ref["key"]]
    return env


def _settings(
    monkeypatch: pytest.MonkeyPatch, name: str, env: dict[str, str]
) -> BaseServiceSettings:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = SETTINGS[name]()
    return settings


WORKLOADS = [
    ("dev", "Deployment", "members"),
    ("prod", "Deployment", "members"),
    ("prod", "Job", "members"),
    ("dev", "Deployment", "content"),
    ("prod", "Deployment", "content"),
    ("prod", "Job", "content"),
    ("dev", "Deployment", "opportunities"),
    ("prod", "Deployment", "opportunities"),
    ("prod", "Job", "opportunities"),
    ("dev", "Deployment", "payments"),
    ("prod", "Deployment", "payments"),
    ("prod", "Job", "payments"),
    ("dev", "Deployment", "payments-sandbox"),
]


@pytest.mark.parametrize(("overlay", "kind", "name"), WORKLOADS)
def test_each_service_accepts_its_kubernetes_environment(
    rendered: dict[str, Rendered],
    clean_environment: pytest.MonkeyPatch,
    overlay: str,
    kind: str,
    name: str,
) -> None:
    workload = name if kind == "Deployment" else f"{name}-migrate"
    env = _pod_environment(rendered[overlay], workload, kind)
    # Even the dev overlay must hold up as prod: every secret is wired in.
    prefix = name.upper().replace("-", "_") + "_"
    env[f"{prefix}ENVIRONMENT"] = "prod"
    settings: Any = _settings(clean_environment, name, env)
    assert settings.environment == "prod"
    assert settings.host == "0.0.0.0"
    assert settings.port == PORTS[name]
    assert settings.kafka_enable_idempotence is True
    assert settings.kafka_bootstrap_servers == env["KAFKA_BOOTSTRAP_SERVERS"]
    assert settings.gateway_token.get_secret_value() == "a-shared-token"
    assert settings.jwks_url == f"http://members:{PORTS['members']}/.well-known/jwks.json"
    if name == "members":
        assert settings.database_url == SECRET_KEYS["members-secrets"]["MEMBERS_DATABASE_URL"]
        assert settings.signing_key_pem is not None
    if name == "content":
        assert settings.mongodb_url == SECRET_KEYS["content-secrets"]["CONTENT_MONGODB_URL"]
    if name == "opportunities":
        assert (
            settings.database_url
            == (SECRET_KEYS["opportunities-secrets"]["OPPORTUNITIES_DATABASE_URL"])
        )
    if name == "payments":
        assert settings.database_url == SECRET_KEYS["payments-secrets"]["PAYMENTS_DATABASE_URL"]
        assert settings.webhook_key() == b"an-hmac-key"
        assert settings.partner_base_url.startswith("http")
    if name == "payments-sandbox":
        # Signs with the key payments verifies with, and posts to payments.
        assert settings.webhook_key() == b"an-hmac-key"
        assert settings.webhook_url == f"http://payments:{PORTS['payments']}/webhooks"


def test_members_refuses_prod_without_the_platform_secret(
    rendered: dict[str, Rendered], clean_environment: pytest.MonkeyPatch
) -> None:
    # The check above could pass vacuously if secrets were optional: they are not.
    env = _pod_environment(rendered["prod"], "members")
    del env["KOPANO_GATEWAY_TOKEN"]
    with pytest.raises((MissingSecretsError, ValidationError)):
        _settings(clean_environment, "members", env)


def test_payments_refuses_prod_without_the_webhook_secret(
    rendered: dict[str, Rendered], clean_environment: pytest.MonkeyPatch
) -> None:
    env = _pod_environment(rendered["prod"], "payments")
    del env["PAYMENTS_WEBHOOK_SECRET"]
    with pytest.raises((MissingSecretsError, ValidationError)):
        _settings(clean_environment, "payments", env)


@pytest.mark.parametrize(
    ("service", "name"),
    [
        ("members", "members"),
        ("members-migrate", "members"),
        ("content", "content"),
        ("content-migrate", "content"),
        ("opportunities", "opportunities"),
        ("opportunities-migrate", "opportunities"),
        ("payments", "payments"),
        ("payments-migrate", "payments"),
        ("payments-sandbox", "payments-sandbox"),
    ],
)
def test_each_service_accepts_its_compose_environment(
    clean_environment: pytest.MonkeyPatch, service: str, name: str
) -> None:
    secrets = {"MEMBERS_SIGNING_KEY_PEM": "pem", "KOPANO_GATEWAY_TOKEN": "token"}
    result = compose_config(secrets | {"PAYMENTS_WEBHOOK_SECRET": "hmac"})
    assert result.returncode == 0, result.stderr
    env: dict[str, str] = json.loads(result.stdout)["services"][service]["environment"]
    settings: Any = _settings(clean_environment, name, env)
    assert settings.port == PORTS[name]
    assert settings.kafka_bootstrap_servers == "kafka:9092"
    assert settings.gateway_token.get_secret_value() == "token"
    if name != "payments-sandbox":
        assert settings.environment == "prod"
    if name in {"members", "opportunities", "payments"}:
        assert settings.database_url.startswith("postgresql+asyncpg://kopano:")
        assert settings.database_url.endswith(f"@postgres:5432/{name}")
    if name == "content":
        assert settings.mongodb_url == "mongodb://mongo:27017/?replicaSet=rs0"
    if name in {"payments", "payments-sandbox"}:
        assert settings.webhook_key() == b"hmac"


def test_every_secret_key_is_documented_for_operators() -> None:
    readme = (REPO / "deploy" / "README.md").read_text()
    for secret, keys in SECRET_KEYS.items():
        assert f"`{secret}`" in readme
        for key in keys:
            assert f"`{key}`" in readme, key
