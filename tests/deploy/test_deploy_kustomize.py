"""The kustomize base and every overlay render, validate against the Kubernetes schemas offline,
and keep the platform's deployment policies."""

from __future__ import annotations

import re

import kubernetes_validate
import pytest
import yaml
from deploy_support import (
    K8S,
    OVERLAYS,
    PLATFORM,
    PORTS,
    SUPERGRAPH,
    SUPERGRAPH_KUSTOMIZATION,
    Rendered,
    matches,
    pod_spec,
    workloads,
)

# The oldest Kubernetes release we support; kubernetes-validate ships its schemas (strict mode
# also rejects unknown fields, which catches misspelt keys that kubectl would silently drop).
KUBERNETES_VERSION = "1.33.0"
TARGETS = ["base", *OVERLAYS]
# Services with a `migrate` command, run as a Job before they serve.
MIGRATED = ["members", "content", "opportunities", "payments"]
SUBGRAPHS = ["members", "content", "opportunities", "payments"]
PINNED_TAG = re.compile(r"^(\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?)$")


def test_both_overlays_exist() -> None:
    assert {"dev", "prod"} <= set(OVERLAYS)


@pytest.mark.parametrize("target", TARGETS)
def test_every_document_validates_against_the_kubernetes_schemas(
    rendered: dict[str, Rendered], target: str
) -> None:
    docs = rendered[target].documents
    assert docs
    errors: list[str] = []
    for doc in docs:
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError as e:
            # An unknown kind or apiVersion is an error, not a warning.
            errors.append(f"{name}: {e.message}")
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            errors.append(f"{name} is invalid at {path}: {e.message}")
    assert not errors, f"{target}:\n" + "\n".join(errors)


def test_validation_rejects_a_broken_manifest(rendered: dict[str, Rendered]) -> None:
    # Guards the test above against validating nothing: a misspelt field must fail.
    deployment = rendered["prod"].get("Deployment", "members")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 3}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("target", TARGETS)
def test_no_secret_is_committed(rendered: dict[str, Rendered], target: str) -> None:
    assert rendered[target].of_kind("Secret") == []
    for workload in workloads(rendered[target]):
        for container in pod_spec(workload)["containers"]:
            secret_refs = [e["secretRef"]["name"] for e in container["envFrom"] if "secretRef" in e]
            # The shared gateway token, plus the component's own secrets where it has any.
            assert secret_refs[0] == "platform-secrets", workload["metadata"]["name"]
            component = workload["metadata"]["name"].removesuffix("-migrate")
            assert set(secret_refs[1:]) <= {f"{component}-secrets"}
            # Secret values never sit in the manifests themselves.
            for env in container.get("env", []):
                assert "value" not in env or not re.search("KEY|TOKEN|PASSWORD|SECRET", env["name"])


@pytest.mark.parametrize("target", TARGETS)
def test_every_container_is_hardened_and_bounded(
    rendered: dict[str, Rendered], target: str
) -> None:
    found = workloads(rendered[target])
    assert {w["metadata"]["name"] for w in found} >= {"members", "gateway", "members-migrate"}
    for workload in found:
        name = workload["metadata"]["name"]
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] != 0, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
        for container in spec.get("initContainers", []) + spec["containers"]:
            sc = container["securityContext"]
            assert sc["runAsNonRoot"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert "add" not in sc["capabilities"], name
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), (name, kind)


@pytest.mark.parametrize("target", TARGETS)
def test_every_long_running_container_has_probes(
    rendered: dict[str, Rendered], target: str
) -> None:
    deployments = rendered[target].of_kind("Deployment")
    assert deployments
    for deployment in deployments:
        for container in pod_spec(deployment)["containers"]:
            port_names = {p["name"] for p in container["ports"]}
            probes = {
                kind: container[f"{kind}Probe"]["httpGet"]
                for kind in ("startup", "readiness", "liveness")
            }
            assert probes["readiness"]["path"] == "/readyz"
            assert probes["liveness"]["path"] == "/healthz"
            assert probes["startup"]["path"] == "/healthz"
            for probe in probes.values():
                assert probe["port"] in port_names
            # Graceful rollouts: no new requests are routed to a pod by the time it stops.
            pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
            assert 0 < pre_stop < pod_spec(deployment)["terminationGracePeriodSeconds"]


@pytest.mark.parametrize("target", TARGETS)
def test_deployments_listen_on_the_platform_ports_and_are_scraped(
    rendered: dict[str, Rendered], target: str
) -> None:
    for deployment in rendered[target].of_kind("Deployment"):
        name = deployment["metadata"]["name"]
        (container,) = pod_spec(deployment)["containers"]
        (port,) = container["ports"]
        assert port["containerPort"] == PORTS[name]
        if name in PLATFORM:
            # Test doubles (the sandbox partners) have no /metrics.
            annotations = deployment["spec"]["template"]["metadata"]["annotations"]
            assert annotations["prometheus.io/scrape"] == "true"
            assert annotations["prometheus.io/port"] == str(PORTS[name])
            assert annotations["prometheus.io/path"] == "/metrics"
        service = rendered[target].get("Service", name)
        assert matches(
            service["spec"]["selector"], deployment["spec"]["template"]["metadata"]["labels"]
        )
        assert service["spec"]["ports"][0]["port"] == PORTS[name]
        assert service["spec"]["ports"][0]["targetPort"] == port["name"]


@pytest.mark.parametrize("service", MIGRATED)
@pytest.mark.parametrize("target", TARGETS)
def test_migration_job_runs_the_service_image(
    rendered: dict[str, Rendered], target: str, service: str
) -> None:
    r = rendered[target]
    job = r.get("Job", f"{service}-migrate")
    (migrate,) = pod_spec(job)["containers"]
    (serve,) = pod_spec(r.get("Deployment", service))["containers"]
    assert migrate["args"] == ["migrate"]
    assert serve["args"] == ["serve"]
    assert migrate["image"] == serve["image"]
    # Same settings and secrets as the service, so it migrates the database the service uses.
    assert migrate["envFrom"] == serve["envFrom"]
    assert pod_spec(job)["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] >= 1


@pytest.mark.parametrize("target", TARGETS)
def test_gateway_scales_on_cpu(rendered: dict[str, Rendered], target: str) -> None:
    r = rendered[target]
    hpa = r.get("HorizontalPodAutoscaler", "gateway")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "gateway",
    }
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    # The HPA owns the replica count; a fixed one would fight it on every apply.
    assert "replicas" not in r.get("Deployment", "gateway")["spec"]


@pytest.mark.parametrize("target", TARGETS)
def test_every_deployment_has_a_disruption_budget(
    rendered: dict[str, Rendered], target: str
) -> None:
    r = rendered[target]
    budgets = r.of_kind("PodDisruptionBudget")
    for deployment in r.of_kind("Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [b for b in budgets if matches(b["spec"]["selector"]["matchLabels"], labels)]
        assert len(covering) == 1, deployment["metadata"]["name"]


@pytest.mark.parametrize("target", TARGETS)
def test_only_the_gateway_reaches_subgraphs(rendered: dict[str, Rendered], target: str) -> None:
    r = rendered[target]
    policies = r.of_kind("NetworkPolicy")
    deny = [p for p in policies if p["spec"]["podSelector"] == {} and "ingress" not in p["spec"]]
    assert deny, "ingress is denied by default"
    gateway_labels = r.get("Deployment", "gateway")["spec"]["template"]["metadata"]["labels"]
    subgraphs = [
        d
        for d in r.of_kind("Deployment")
        if d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component")
        == "subgraph"
    ]
    assert {d["metadata"]["name"] for d in subgraphs} >= set(SUBGRAPHS)
    for deployment in subgraphs:
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        selecting = [
            p for p in policies if matches(p["spec"]["podSelector"].get("matchLabels", {}), labels)
        ]
        allowing = [p for p in selecting if p["spec"].get("ingress")]
        assert allowing, deployment["metadata"]["name"]
        for policy in allowing:
            for rule in policy["spec"]["ingress"]:
                assert rule.get("from"), "a subgraph never accepts traffic from anywhere"
                for peer in rule["from"]:
                    if "podSelector" in peer:
                        # Pods in this namespace: only the gateway's, except that every
                        # subgraph fetches the members service's JWKS to verify tokens.
                        assert "namespaceSelector" not in peer
                        peer_labels = peer["podSelector"]["matchLabels"]
                        jwks = deployment["metadata"]["name"] == "members" and peer_labels == {
                            "app.kubernetes.io/component": "subgraph"
                        }
                        # The sandbox partners deliver webhooks to payments (dev only).
                        webhooks = deployment["metadata"]["name"] == "payments" and (
                            peer_labels == {"app.kubernetes.io/name": "payments-sandbox"}
                        )
                        assert jwks or webhooks or matches(peer_labels, gateway_labels), policy[
                            "metadata"
                        ]
                    else:
                        # Other namespaces: only the monitoring one, for /metrics.
                        assert peer["namespaceSelector"]["matchLabels"] == {
                            "kubernetes.io/metadata.name": "monitoring"
                        }


@pytest.mark.parametrize("target", TARGETS)
def test_gateway_loads_the_supergraph_from_its_configmap(
    rendered: dict[str, Rendered], target: str
) -> None:
    r = rendered[target]
    deployment = r.get("Deployment", "gateway")
    (container,) = pod_spec(deployment)["containers"]
    args = container["args"]
    supergraph_path = args[args.index("--supergraph") + 1]
    configmap = r.configmap("gateway-supergraph")
    volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
    mounted = [
        m
        for m in container["volumeMounts"]
        if volumes[m["name"]].get("configMap", {}).get("name") == configmap["metadata"]["name"]
    ]
    assert len(mounted) == 1
    assert supergraph_path == f"{mounted[0]['mountPath']}/supergraph.graphql"
    assert list(configmap["data"]) == ["supergraph.graphql"]


def test_supergraph_configmap_holds_the_committed_supergraph(rendered: dict[str, Rendered]) -> None:
    if not SUPERGRAPH.is_file():
        pytest.skip(
            "gateway/supergraph.graphql is not committed yet; the manifests were rendered with a "
            "stand-in schema, so the ConfigMap's content cannot be compared"
        )
    for target, r in rendered.items():
        assert r.real_supergraph
        content = r.configmap("gateway-supergraph")["data"]["supergraph.graphql"]
        assert content == SUPERGRAPH.read_text(), target


def test_supergraph_configmap_is_generated_beside_the_supergraph() -> None:
    # kustomize's default load restrictor: the generator must sit in the file's own folder.
    kustomization = yaml.safe_load(SUPERGRAPH_KUSTOMIZATION.read_text())
    (generator,) = kustomization["configMapGenerator"]
    assert generator == {"name": "gateway-supergraph", "files": [SUPERGRAPH.name]}
    base = yaml.safe_load((K8S / "base/gateway/kustomization.yaml").read_text())
    included = [(K8S / "base/gateway" / r).resolve() for r in base["resources"]]
    assert SUPERGRAPH_KUSTOMIZATION.parent in included


def _config(r: Rendered, prefix: str) -> dict[str, str]:
    data: dict[str, str] = r.configmap(prefix)["data"]
    return data


def test_environments_get_their_settings(rendered: dict[str, Rendered]) -> None:
    dev, prod = rendered["dev"], rendered["prod"]
    assert _config(dev, "members-config")["MEMBERS_ENVIRONMENT"] == "dev"
    assert _config(prod, "members-config")["MEMBERS_ENVIRONMENT"] == "prod"
    assert _config(dev, "gateway-config")["GATEWAY_ENVIRONMENT"] == "dev"
    assert _config(prod, "gateway-config")["GATEWAY_ENVIRONMENT"] == "prod"
    # Real Kafka everywhere in a cluster: idempotent producers on.
    for r in (dev, prod):
        platform = _config(r, "platform-config")
        assert platform["KAFKA_ENABLE_IDEMPOTENCE"] == "true"
        assert platform["KOPANO_JWKS_URL"] == (
            f"http://members:{PORTS['members']}/.well-known/jwks.json"
        )
        members = _config(r, "members-config")
        assert members["MEMBERS_PORT"] == str(PORTS["members"])
        assert members["MEMBERS_HOST"] == "0.0.0.0"
        gateway = _config(r, "gateway-config")
        for name in SUBGRAPHS:
            service = _config(r, f"{name}-config")
            assert service[f"{name.upper()}_PORT"] == str(PORTS[name])
            assert service[f"{name.upper()}_HOST"] == "0.0.0.0"
            assert service[f"{name.upper()}_ENVIRONMENT"] == ("dev" if r is dev else "prod")
            assert gateway[f"GATEWAY_SUBGRAPH_URL_{name.upper()}"] == (
                f"http://{name}:{PORTS[name]}/graphql"
            )
    assert {d["metadata"]["namespace"] for d in dev.documents if d["kind"] != "Namespace"} == {
        "kopano-dev"
    }
    assert {d["metadata"]["namespace"] for d in prod.documents if d["kind"] != "Namespace"} == {
        "kopano"
    }
    for r in (dev, prod):
        (namespace,) = r.of_kind("Namespace")
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


_UNITS = {"m": 0.001, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def _quantity(value: str | int) -> float:
    text = str(value)
    for suffix, factor in _UNITS.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def test_prod_runs_more_and_larger_replicas_than_dev(rendered: dict[str, Rendered]) -> None:
    dev, prod = rendered["dev"], rendered["prod"]
    for name in SUBGRAPHS:
        assert dev.get("Deployment", name)["spec"]["replicas"] == 1
        assert prod.get("Deployment", name)["spec"]["replicas"] >= 3
    dev_hpa = dev.get("HorizontalPodAutoscaler", "gateway")["spec"]
    prod_hpa = prod.get("HorizontalPodAutoscaler", "gateway")["spec"]
    assert dev_hpa["minReplicas"] == 1
    assert prod_hpa["minReplicas"] > dev_hpa["minReplicas"]
    assert prod_hpa["maxReplicas"] > dev_hpa["maxReplicas"]
    for name in (*SUBGRAPHS, "gateway"):
        (small,) = pod_spec(dev.get("Deployment", name))["containers"]
        (large,) = pod_spec(prod.get("Deployment", name))["containers"]
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                assert _quantity(large["resources"][kind][resource]) > _quantity(
                    small["resources"][kind][resource]
                ), (name, kind, resource)


def _images(r: Rendered) -> list[str]:
    return [
        c["image"]
        for w in workloads(r)
        for c in pod_spec(w).get("initContainers", []) + pod_spec(w)["containers"]
    ]


@pytest.mark.parametrize("target", OVERLAYS)
def test_overlays_never_use_latest(rendered: dict[str, Rendered], target: str) -> None:
    for image in _images(rendered[target]):
        name, _, tag = image.rpartition(":")
        assert name, f"{image} has no explicit tag"
        assert "/" not in tag, f"{image} has no explicit tag"
        assert tag != "latest", image


def test_prod_images_are_pinned_release_versions(rendered: dict[str, Rendered]) -> None:
    images = _images(rendered["prod"])
    assert images
    for image in images:
        if "@sha256:" in image:
            assert re.fullmatch(r".+@sha256:[0-9a-f]{64}", image), image
            continue
        tag = image.rpartition(":")[2]
        assert PINNED_TAG.match(tag), f"{image}: prod images carry a release version or digest"
    # One release: every component of the platform ships at the same version.
    assert len({image.rpartition(":")[2] for image in images}) == 1


def test_the_sandbox_partners_run_in_dev_only(rendered: dict[str, Rendered]) -> None:
    dev = rendered["dev"]
    sandbox = dev.get("Deployment", "payments-sandbox")
    (container,) = pod_spec(sandbox)["containers"]
    (payments,) = pod_spec(dev.get("Deployment", "payments"))["containers"]
    # The payments image with the sandbox's entry point.
    assert container["image"] == payments["image"]
    assert container["command"] == ["python", "-m", "payments.sandbox"]
    sandbox_port = PORTS["payments-sandbox"]
    assert _config(dev, "payments-config")["PAYMENTS_PARTNER_BASE_URL"] == (
        f"http://payments-sandbox:{sandbox_port}"
    )
    assert _config(dev, "payments-sandbox-config")["PAYMENTS_SANDBOX_WEBHOOK_URL"] == (
        f"http://payments:{PORTS['payments']}/webhooks"
    )
    # It signs with the key payments verifies with, from the payments Secret.
    (webhook_secret,) = container["env"]
    assert webhook_secret["name"] == "PAYMENTS_SANDBOX_WEBHOOK_SECRET"
    assert webhook_secret["valueFrom"]["secretKeyRef"] == {
        "name": "payments-secrets",
        "key": "PAYMENTS_WEBHOOK_SECRET",
    }
    # Only payments may call it.
    sandbox_labels = sandbox["spec"]["template"]["metadata"]["labels"]
    (policy,) = [
        p
        for p in dev.of_kind("NetworkPolicy")
        if p["spec"]["podSelector"].get("matchLabels")
        and matches(p["spec"]["podSelector"]["matchLabels"], sandbox_labels)
    ]
    assert policy["spec"]["ingress"][0]["from"] == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "payments"}}}
    ]
    for target in ("base", "prod"):
        names = {d["metadata"]["name"] for d in rendered[target].documents}
        assert not any("sandbox" in name for name in names), target
    assert _config(rendered["prod"], "payments-config")["PAYMENTS_PARTNER_BASE_URL"].startswith(
        "https://"
    )
