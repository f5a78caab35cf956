"""The monitoring component (deploy/k8s/components/monitoring) for the Prometheus Operator and
Grafana: it renders on top of every overlay without changing anything else, its custom resources
validate against the operator's CRD schemas, its PodMonitor scrapes exactly the pods that serve
/metrics, and every PromQL expression in its rules and dashboard is parsed (promql-parser) and
uses only metrics and labels that the code's Prometheus registry really exports."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import promql_parser
import pytest
import yaml
from deploy_support import K8S, OVERLAYS, REPO, Manifest, Rendered, kustomize, matches, pod_spec

COMPONENT = K8S / "components" / "monitoring"
DASHBOARD = COMPONENT / "dashboards" / "kopano-overview.json"
RULES = COMPONENT / "prometheus-rule.yaml"
CRD_SCHEMAS = REPO / "deploy" / "monitoring" / "crd-schemas"
KUBERNETES_VERSION = "1.33.0"

# The module whose import builds each scraped process's registry (the PodMonitor's job names).
METRICS_MODULES = {
    "gateway": "gateway.app",
    "members": "members.app",
    "content": "content.app",
    "opportunities": "opportunities.app",
    "payments": "payments.app",
}
# Labels Prometheus puts on every series a PodMonitor scrapes (the operator's generated relabeling:
# job from jobLabel, namespace, pod, container, endpoint = port name, instance = address).
TARGET_LABELS = frozenset({"job", "namespace", "pod", "container", "endpoint", "instance"})
# Prometheus' own series per target, not exported by any process.
SYNTHETIC = {"up"}
SEVERITIES = {"critical", "warning", "info"}

Labels = frozenset[str]


# --------------------------------------------------------------------------- rendering


@pytest.fixture(scope="session")
def monitored(
    k8s_root: tuple[Path, bool], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Rendered]:
    """Every overlay rendered with the component opted in, as deploy/README.md tells: a copy of
    the tree where each overlay lists `../../components/monitoring` under `components:`."""
    root, real = k8s_root
    tree = tmp_path_factory.mktemp("monitored")
    k8s = tree / "deploy" / "k8s"
    shutil.copytree(root, k8s)
    # The base includes ../../../../gateway for the supergraph ConfigMap.
    (tree / "gateway").mkdir()
    for name in ("kustomization.yaml", "supergraph.graphql"):
        shutil.copy(root.parents[1] / "gateway" / name, tree / "gateway" / name)
    result: dict[str, Rendered] = {}
    for overlay in OVERLAYS:
        path = k8s / "overlays" / overlay / "kustomization.yaml"
        kustomization = yaml.safe_load(path.read_text())
        kustomization["components"] = [
            *kustomization.get("components", []),
            "../../components/monitoring",
        ]
        path.write_text(yaml.safe_dump(kustomization, sort_keys=False))
        result[overlay] = Rendered(overlay, kustomize(path.parent), real)
    return result


def added(monitored: Rendered, plain: Rendered) -> list[Manifest]:
    return [d for d in monitored.documents if d not in plain.documents]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_opting_in_only_adds_the_monitoring_resources(
    rendered: dict[str, Rendered], monitored: dict[str, Rendered], overlay: str
) -> None:
    plain, with_monitoring = rendered[overlay], monitored[overlay]
    new = added(with_monitoring, plain)
    assert sorted((d["kind"], d["metadata"]["name"]) for d in new) == [
        ("ConfigMap", "kopano-grafana-dashboards"),
        ("PodMonitor", "kopano"),
        ("PrometheusRule", "kopano"),
    ]
    # Nothing of the overlay itself changed.
    assert len(with_monitoring.documents) == len(plain.documents) + len(new)
    namespace = plain.get("Deployment", "gateway")["metadata"]["namespace"]
    for doc in new:
        assert doc["metadata"]["namespace"] == namespace
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "kopano"


def _strict(schema: Any) -> Any:
    """The CRD's structural schema with unknown fields refused, as kubectl's strict field
    validation does (the API server would otherwise drop a misspelt field silently)."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    if "properties" in out:
        out["properties"] = {name: _strict(s) for name, s in out["properties"].items()}
        if "additionalProperties" not in out and not out.get(
            "x-kubernetes-preserve-unknown-fields"
        ):
            out["additionalProperties"] = False
    for key in ("items", "additionalProperties"):
        if isinstance(out.get(key), dict):
            out[key] = _strict(out[key])
    for key in ("anyOf", "allOf", "oneOf"):
        if key in out:
            out[key] = [_strict(s) for s in out[key]]
    return out


def crd_validator(kind: str) -> jsonschema.protocols.Validator:
    schema = yaml.safe_load((CRD_SCHEMAS / f"{kind.lower()}-v1.yaml").read_text())
    # A CRD's schema leaves ObjectMeta to the API server.
    assert schema["properties"]["metadata"] == {"type": "object"}
    return jsonschema.Draft7Validator(_strict(schema))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_validate_against_the_operator_crds(
    rendered: dict[str, Rendered], monitored: dict[str, Rendered], overlay: str
) -> None:
    for doc in added(monitored[overlay], rendered[overlay]):
        if doc["kind"] == "ConfigMap":
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            continue
        assert doc["apiVersion"] == "monitoring.coreos.com/v1"
        errors = [
            f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message}"
            for e in crd_validator(doc["kind"]).iter_errors(doc)
        ]
        assert not errors, f"{doc['kind']}/{doc['metadata']['name']}:\n" + "\n".join(errors)


def test_crd_validation_rejects_a_misspelt_field(monitored: dict[str, Rendered]) -> None:
    # Guards the test above against validating nothing.
    pod_monitor = copy.deepcopy(monitored["prod"].get("PodMonitor", "kopano"))
    pod_monitor["spec"]["podMetricsEndpoints"][0]["intervall"] = "30s"
    assert list(crd_validator("PodMonitor").iter_errors(pod_monitor))
    rule = copy.deepcopy(monitored["prod"].get("PrometheusRule", "kopano"))
    rule["spec"]["groups"][0]["rules"][0]["expresion"] = "up"
    assert list(crd_validator("PrometheusRule").iter_errors(rule))


# --------------------------------------------------------------------------- scraping


def selects(selector: Manifest, labels: dict[str, str]) -> bool:
    """A Kubernetes LabelSelector (matchLabels and matchExpressions)."""
    if not matches(selector.get("matchLabels", {}), labels):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not ok:
            return False
    return True


def scraped(r: Rendered) -> dict[str, Manifest]:
    """Deployments whose pods the PodMonitor selects, by job name."""
    pod_monitor = r.get("PodMonitor", "kopano")
    job_label = pod_monitor["spec"]["jobLabel"]
    found: dict[str, Manifest] = {}
    for deployment in r.of_kind("Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        if selects(pod_monitor["spec"]["selector"], labels):
            found[labels[job_label]] = deployment
    return found


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pod_monitor_scrapes_exactly_the_pods_that_serve_metrics(
    monitored: dict[str, Rendered], overlay: str
) -> None:
    r = monitored[overlay]
    serving = {
        d["metadata"]["name"]
        for d in r.of_kind("Deployment")
        if d["spec"]["template"]["metadata"].get("annotations", {}).get("prometheus.io/scrape")
        == "true"
    }
    jobs = scraped(r)
    assert {d["metadata"]["name"] for d in jobs.values()} == serving
    # One job per component, named as the metrics modules below know them.
    assert set(jobs) == set(METRICS_MODULES)
    if overlay == "dev":
        # The sandbox partners run here and have no /metrics: not scraped.
        assert r.get("Deployment", "payments-sandbox")["metadata"]["name"] not in jobs


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pod_monitor_endpoints_name_the_metrics_port_and_path(
    monitored: dict[str, Rendered], overlay: str
) -> None:
    r = monitored[overlay]
    (endpoint,) = r.get("PodMonitor", "kopano")["spec"]["podMetricsEndpoints"]
    for job, deployment in scraped(r).items():
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        (container,) = pod_spec(deployment)["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert endpoint["port"] in ports, job
        # The port the pod annotates for /metrics is the one the PodMonitor scrapes.
        assert str(ports[endpoint["port"]]) == annotations["prometheus.io/port"], job
        assert endpoint["path"] == annotations["prometheus.io/path"], job


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_let_prometheus_reach_every_scraped_pod(
    monitored: dict[str, Rendered], overlay: str
) -> None:
    r = monitored[overlay]
    (endpoint,) = r.get("PodMonitor", "kopano")["spec"]["podMetricsEndpoints"]
    for job, deployment in scraped(r).items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        admitted = False
        for policy in r.of_kind("NetworkPolicy"):
            if not selects(policy["spec"]["podSelector"], labels):
                continue
            for rule in policy["spec"].get("ingress", []):
                ports = {p["port"] for p in rule.get("ports", [])}
                sources = rule.get("from")
                from_monitoring = sources is None or any(
                    s.get("namespaceSelector", {}).get("matchLabels", {})
                    == {"kubernetes.io/metadata.name": "monitoring"}
                    and "podSelector" not in s
                    for s in sources
                )
                admitted |= from_monitoring and (not ports or endpoint["port"] in ports)
        assert admitted, f"{overlay}: no ingress rule admits Prometheus to {job}"


# --------------------------------------------------------------------------- the code's metrics


_DUMP_REGISTRY = """
import importlib, json, sys
from prometheus_client import REGISTRY
importlib.import_module(sys.argv[1])
families = {}
# The registry's collectors: a labelled metric knows its label names before any child exists.
for collector in list(REGISTRY._collector_to_names):
    label_names = tuple(getattr(collector, "_labelnames", ()))
    for family in collector.collect():
        labels = set(label_names) | {k for s in family.samples for k in s.labels}
        families[family.name] = {"type": family.type, "labels": sorted(labels - {"le", "quantile"})}
json.dump(families, sys.stdout)
"""

# Series names a family exposes, by type (prometheus_client's text exposition).
_SUFFIXES: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "counter": (("_total", ()), ("_created", ())),
    "gauge": (("", ()),),
    "histogram": (("_bucket", ("le",)), ("_sum", ()), ("_count", ()), ("_created", ())),
    "summary": (("", ("quantile",)), ("_sum", ()), ("_count", ()), ("_created", ())),
    "info": (("_info", ()),),
    "unknown": (("", ()),),
}


@dataclass(frozen=True)
class Registry:
    """What each scraped process exports: job -> family name -> (type, label names)."""

    families: dict[str, dict[str, tuple[str, frozenset[str]]]]

    def series(self, job: str) -> dict[str, Labels]:
        """Series names the job's /metrics exposes, with every label they carry once scraped."""
        out: dict[str, Labels] = {}
        for name, (kind, labels) in self.families[job].items():
            for suffix, extra in _SUFFIXES[kind]:
                out[name + suffix] = labels | set(extra) | TARGET_LABELS
        return out


def _dump_registry(module: str) -> dict[str, tuple[str, frozenset[str]]]:
    result = subprocess.run(
        [sys.executable, "-c", _DUMP_REGISTRY, module],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=REPO,
    )
    assert result.returncode == 0, f"importing {module} failed:\n{result.stderr}"
    raw: dict[str, dict[str, Any]] = json.loads(result.stdout)
    return {name: (f["type"], frozenset(f["labels"])) for name, f in raw.items()}


@pytest.fixture(scope="session")
def registry() -> Registry:
    """Each component imported in its own process, as it runs: the gateway does not export the
    kit's service metrics, and a service does not export the gateway's."""
    with ThreadPoolExecutor(max_workers=len(METRICS_MODULES)) as pool:
        dumps = dict(
            zip(METRICS_MODULES, pool.map(_dump_registry, METRICS_MODULES.values()), strict=True)
        )
    return Registry({job: dumps[job] for job in METRICS_MODULES})


def test_the_registry_dump_sees_the_code_metrics(registry: Registry) -> None:
    # Guards the checks below against an empty or wrong registry.
    members = registry.series("members")
    assert members["http_requests_total"] >= {"method", "route", "status"}
    assert members["http_request_duration_seconds_bucket"] >= {"method", "route", "le"}
    assert members["outbox_backlog"] >= {"service"}
    assert members["outbox_oldest_unsent_age_seconds"] >= {"service"}
    assert "process_resident_memory_bytes" in members
    payments = registry.series("payments")
    assert payments["payments_transfers_oldest_age_seconds"] >= {"state"}
    assert payments["payments_webhook_deliveries_total"] >= {"partner", "outcome"}
    assert "payments_transfers_open" not in members
    gateway = registry.series("gateway")
    assert gateway["gateway_circuit_state"] >= {"subgraph"}
    assert gateway["gateway_operation_requests_total"] >= {"operation", "status"}
    assert gateway["gateway_http_responses_total"] >= {"route", "status"}
    assert "http_requests_total" not in gateway
    assert "gateway_requests_total" not in members


def test_no_code_label_collides_with_a_target_label(registry: Registry) -> None:
    # Prometheus would rename such a label to exported_<name>, and the queries would miss it.
    for job, families in registry.families.items():
        for name, (_, labels) in families.items():
            assert not labels & TARGET_LABELS, (job, name, labels & TARGET_LABELS)


# --------------------------------------------------------------------------- PromQL checks


@dataclass
class PromQLChecker:
    """Walks a parsed expression: every selector names a series a scraped job exports (or a
    recording rule), every matcher and grouping label exists where it is used, vector matching
    lines up, and each expression's output labels are known (for annotations and legends)."""

    registry: Registry
    jobs: frozenset[str]
    recorded: dict[str, Labels] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    used: set[str] = field(default_factory=set)

    def check(self, expr: str) -> Labels | None:
        """The labels the expression's result carries (None for a scalar); errors collected."""
        try:
            tree = promql_parser.parse(expr)
        except ValueError as e:
            self.errors.append(f"does not parse: {e}")
            return None
        return self._labels(tree)

    def _error(self, message: str) -> None:
        self.errors.append(message)

    def _union(self) -> dict[str, Labels]:
        out: dict[str, Labels] = {}
        for job in self.registry.families:
            for name, labels in self.registry.series(job).items():
                out[name] = out.get(name, frozenset()) | labels
        return out

    def _job_matcher_values(self, selector: promql_parser.VectorSelector) -> set[str] | None:
        values: set[str] | None = None
        for m in selector.matchers.matchers:
            if m.name != "job":
                continue
            if m.op == promql_parser.MatchOp.Equal:
                names = {m.value}
            elif m.op == promql_parser.MatchOp.Re and all(
                re.fullmatch(r"[\w-]+", v) for v in m.value.split("|")
            ):
                names = set(m.value.split("|"))
            else:
                self._error(f"job matcher {m.op} {m.value!r}: list the job names")
                continue
            values = names if values is None else values & names
        return values

    def _selector(self, selector: promql_parser.VectorSelector) -> Labels:
        name = selector.name
        if not name:
            self._error("a selector without a metric name")
            return frozenset()
        if selector.matchers.or_matchers:
            self._error(f"{name}: `or` inside a selector")
        self.used.add(name)
        jobs = self._job_matcher_values(selector)
        for job in sorted(jobs or ()):
            if job not in self.jobs:
                self._error(f"{name}{{job={job!r}}}: no such scraped job")
        labels: Labels
        if name in SYNTHETIC:
            labels = TARGET_LABELS
        elif name in self.recorded:
            labels = self.recorded[name]
        else:
            union = self._union()
            if name not in union:
                self._error(f"{name}: no scraped process exports it")
                return frozenset()
            labels = union[name]
            for job in sorted((jobs or set()) & self.jobs):
                if name not in self.registry.series(job):
                    self._error(f"{name}: job {job!r} does not export it")
        for m in selector.matchers.matchers:
            if m.name not in labels and m.name != "__name__":
                self._error(f"{name}: no label {m.name!r} (has {sorted(labels)})")
        return labels

    def _labels(self, e: promql_parser.Expr) -> Labels | None:
        if isinstance(e, promql_parser.NumberLiteral | promql_parser.StringLiteral):
            return None
        if isinstance(e, promql_parser.VectorSelector):
            return self._selector(e)
        if isinstance(e, promql_parser.MatrixSelector):
            return self._selector(e.vector_selector)
        if isinstance(
            e, promql_parser.ParenExpr | promql_parser.UnaryExpr | promql_parser.SubqueryExpr
        ):
            return self._labels(e.expr)
        if isinstance(e, promql_parser.Call):
            return self._call(e)
        if isinstance(e, promql_parser.AggregateExpr):
            return self._aggregate(e)
        if isinstance(e, promql_parser.BinaryExpr):
            return self._binary(e)
        self._error(f"unexpected expression {type(e).__name__}")
        return None

    _KEEP_LABELS = frozenset(
        {
            "rate",
            "irate",
            "increase",
            "delta",
            "idelta",
            "deriv",
            "changes",
            "resets",
            "min_over_time",
            "max_over_time",
            "avg_over_time",
            "sum_over_time",
            "last_over_time",
            "abs",
            "ceil",
            "floor",
            "round",
            "clamp",
            "clamp_min",
            "clamp_max",
            "sort",
            "sort_desc",
        }
    )

    def _call(self, e: promql_parser.Call) -> Labels | None:
        func = e.func.name
        args = [self._labels(a) for a in e.args]
        vectors = [a for a in args if a is not None]
        if func in self._KEEP_LABELS:
            return vectors[0]
        if func == "histogram_quantile":
            (buckets,) = vectors
            if "le" not in buckets:
                self._error(f"histogram_quantile over series without `le` ({sorted(buckets)})")
            return buckets - {"le"}
        if func in ("absent", "absent_over_time"):
            # The result carries the selector's equality matchers.
            inner = e.args[0]
            if isinstance(inner, promql_parser.MatrixSelector):
                inner = inner.vector_selector
            if not isinstance(inner, promql_parser.VectorSelector):
                return frozenset()
            return frozenset(
                m.name
                for m in inner.matchers.matchers
                if m.op == promql_parser.MatchOp.Equal and m.name != "__name__"
            )
        self._error(f"function {func}() is not known to this checker")
        return vectors[0] if vectors else None

    def _aggregate(self, e: promql_parser.AggregateExpr) -> Labels | None:
        inner = self._labels(e.expr)
        if inner is None:
            self._error(f"{e.op} over a scalar")
            return None
        modifier = e.modifier
        grouping = frozenset(modifier.labels) if modifier is not None else frozenset()
        missing = grouping - inner
        if missing:
            self._error(f"{e.op} by/without {sorted(missing)}: not on {sorted(inner)}")
        if str(e.op) in ("topk", "bottomk", "limitk"):
            return inner
        if modifier is None:
            return frozenset()
        if modifier.type == promql_parser.AggModifierType.By:
            return grouping
        return inner - grouping

    def _binary(self, e: promql_parser.BinaryExpr) -> Labels | None:
        lhs, rhs = self._labels(e.lhs), self._labels(e.rhs)
        if lhs is None or rhs is None:
            return rhs if lhs is None else lhs
        op = str(e.op)
        modifier = e.modifier
        matching = modifier.matching if modifier is not None else None
        on = matching is not None and matching.type == promql_parser.LabelModifierType.Include
        matching_labels = frozenset(matching.labels) if matching is not None else frozenset()
        if on:
            for side, labels in (("left", lhs), ("right", rhs)):
                if not matching_labels <= labels:
                    self._error(
                        f"{op} on {sorted(matching_labels)}: {side} side has {sorted(labels)}"
                    )
        elif matching_labels - (lhs | rhs):
            self._error(f"{op} ignoring {sorted(matching_labels - (lhs | rhs))}: on neither side")
        if op in ("and", "unless"):
            return lhs
        if op == "or":
            return lhs | rhs
        card = modifier.card if modifier is not None else None
        group = frozenset(modifier.group_labels or ()) if modifier is not None else frozenset()
        if card == promql_parser.VectorMatchCardinality.ManyToOne:
            if not group <= rhs:
                self._error(f"group_left {sorted(group - rhs)}: not on the right side")
            return lhs | group
        if card == promql_parser.VectorMatchCardinality.OneToMany:
            if not group <= lhs:
                self._error(f"group_right {sorted(group - lhs)}: not on the left side")
            return rhs | group
        # One-to-one: the compared label sets must be equal, or no series ever match.
        if on:
            return matching_labels
        if lhs - matching_labels != rhs - matching_labels:
            self._error(f"{op}: sides never match, {sorted(lhs)} vs {sorted(rhs)}")
        return lhs - matching_labels


@dataclass(frozen=True)
class Rule:
    group: str
    spec: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.spec.get("alert") or self.spec.get("record"))


def load_rules() -> list[Rule]:
    doc = yaml.safe_load(RULES.read_text())
    return [Rule(g["name"], r) for g in doc["spec"]["groups"] for r in g["rules"]]


def scraped_jobs() -> frozenset[str]:
    return frozenset(METRICS_MODULES)


@pytest.fixture(scope="session")
def checked_rules(
    registry: Registry,
) -> tuple[PromQLChecker, dict[str, tuple[Labels | None, list[str]]]]:
    """Every rule checked in order (a recording rule defines a series the later ones may use):
    rule name -> (output labels, errors)."""
    checker = PromQLChecker(registry, scraped_jobs())
    results: dict[str, tuple[Labels | None, list[str]]] = {}
    for rule in load_rules():
        checker.errors = []
        labels = checker.check(rule.spec["expr"])
        results[rule.name] = (labels, checker.errors)
        if "record" in rule.spec and labels is not None:
            checker.recorded[rule.spec["record"]] = labels
    return checker, results


RULE_NAMES = [r.name for r in load_rules()]


@pytest.mark.parametrize("name", RULE_NAMES)
def test_rule_uses_only_exported_metrics_and_labels(
    checked_rules: tuple[PromQLChecker, dict[str, tuple[Labels | None, list[str]]]], name: str
) -> None:
    labels, errors = checked_rules[1][name]
    assert not errors, f"{name}:\n" + "\n".join(errors)
    assert labels is not None, f"{name} is a scalar"


def test_rules_are_named_uniquely_and_recorded_series_follow_the_convention() -> None:
    rules = load_rules()
    names = [r.name for r in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        if "record" in rule.spec:
            # level:metric:operations
            assert re.fullmatch(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", rule.spec["record"]), rule.name
            assert "alert" not in rule.spec
            assert "for" not in rule.spec


@pytest.mark.parametrize("name", [r.name for r in load_rules() if "alert" in r.spec])
def test_every_alert_has_a_severity_a_summary_a_description_and_a_runbook(name: str) -> None:
    (rule,) = [r for r in load_rules() if r.name == name]
    assert name.startswith("Kopano")
    assert rule.spec["labels"]["severity"] in SEVERITIES
    for key in ("summary", "description", "runbook"):
        assert len(rule.spec["annotations"].get(key, "").strip()) > 10, (name, key)
    if "for" in rule.spec:
        assert promql_parser.parse_duration(rule.spec["for"]).total_seconds() > 0


@pytest.mark.parametrize("name", [r.name for r in load_rules() if "alert" in r.spec])
def test_alert_annotations_use_only_labels_the_expression_keeps(
    checked_rules: tuple[PromQLChecker, dict[str, tuple[Labels | None, list[str]]]], name: str
) -> None:
    (rule,) = [r for r in load_rules() if r.name == name]
    labels = checked_rules[1][name][0] or frozenset()
    text = " ".join(rule.spec["annotations"].values())
    used = set(re.findall(r"\$labels\.(\w+)", text))
    assert used <= labels, f"{name}: {sorted(used - labels)} are not on the alert"


def test_the_rules_cover_the_platform_failures() -> None:
    alerts = {r.name for r in load_rules() if "alert" in r.spec}
    assert {
        "KopanoComponentDown",
        "KopanoTargetDown",
        "KopanoServiceNotReady",
        "KopanoServiceErrorRateHigh",
        "KopanoGatewayErrorRateHigh",
        "KopanoGatewayLatencyHigh",
        "KopanoSubgraphCircuitOpen",
        "KopanoLimitRejectionsSurging",
        "KopanoOutboxStalled",
        "KopanoOutboxEventsLate",
        "KopanoOutboxBacklogGrowing",
        "KopanoConsumerDeadLetters",
        "KopanoGatewayNotReady",
        "KopanoGatewayServerErrors",
        "KopanoPayoutsPendingTooLong",
        "KopanoFundsAwaitedTooLong",
        "KopanoWebhooksUnauthenticSurging",
    } <= alerts


# The checker must be able to fail: each of these is a mistake it has to catch.
BROKEN_EXPRESSIONS = {
    "unknown metric": "rate(http_request_total[5m])",
    "unknown matcher label": 'rate(http_requests_total{path="/graphql"}[5m])',
    "unknown grouping label": "sum by (rout) (rate(http_requests_total[5m]))",
    "label dropped by an inner aggregation": (
        "sum by (route) (sum by (job) (rate(http_requests_total[5m])))"
    ),
    "metric of another component": 'rate(http_requests_total{job="gateway"}[5m])',
    "job that is not scraped": 'up{job="payments-sandbox"}',
    "quantile without le": (
        "histogram_quantile(0.99, sum by (job) (rate(http_request_duration_seconds_bucket[5m])))"
    ),
    "sides that never match": (
        "sum by (namespace, job) (rate(http_requests_total[5m]))"
        " / sum by (namespace) (rate(http_requests_total[5m]))"
    ),
    "on() label missing on one side": (
        "sum by (job) (rate(http_requests_total[5m])) / on (route) sum by (job)"
        " (rate(http_requests_total[5m]))"
    ),
    "ignoring a label no side has": (
        "sum by (job) (rate(http_requests_total[5m])) / ignoring (status) sum by (job)"
        " (rate(http_requests_total[5m]))"
    ),
    "group_left of a label the right side lacks": (
        "sum by (job, route) (rate(http_requests_total[5m])) / on (job) group_left (pod)"
        " sum by (job) (rate(http_requests_total[5m]))"
    ),
    "unparsable": "sum by (job) (rate(http_requests_total[5m])",
    "gateway label on a service metric": "sum by (subgraph) (rate(http_requests_total[5m]))",
}


@pytest.mark.parametrize("case", list(BROKEN_EXPRESSIONS))
def test_the_checker_rejects_broken_expressions(registry: Registry, case: str) -> None:
    checker = PromQLChecker(registry, scraped_jobs())
    checker.check(BROKEN_EXPRESSIONS[case])
    assert checker.errors, case


def test_the_checker_accepts_label_algebra_it_should(registry: Registry) -> None:
    checker = PromQLChecker(registry, scraped_jobs())
    labels = checker.check(
        "sum by (namespace, job, status) (rate(http_requests_total{status=~'5..'}[5m]))"
        " / ignoring (status) group_left sum by (namespace, job) (rate(http_requests_total[5m]))"
    )
    assert not checker.errors
    assert labels == frozenset({"namespace", "job", "status"})
    assert checker.check(
        "sum by (namespace, job) (rate(http_requests_total[5m])) > on (job) group_left (pod)"
        " max by (job, pod) (process_open_fds)"
    ) == frozenset({"namespace", "job", "pod"})
    assert checker.check('absent(up{job="gateway"})') == frozenset({"job"})
    kept = checker.check("topk(3, gateway_circuit_state)")
    assert kept is not None
    assert kept >= {"subgraph", "pod"}
    assert not checker.errors


# --------------------------------------------------------------------------- the dashboard


def load_dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def grafana_substitute(expr: str, dashboard: dict[str, Any]) -> str:
    """Grafana's variables replaced by values Prometheus would see: interval macros by a
    duration, a variable by its "All" value if it has one, else by a label value."""
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name in ("__rate_interval", "__interval", "__range"):
            return "5m"
        assert name in variables, f"unknown variable ${name}"
        return str(variables[name].get("allValue") or "kopano")

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


@pytest.fixture(scope="session")
def dashboard_checker(
    checked_rules: tuple[PromQLChecker, dict[str, tuple[Labels | None, list[str]]]],
) -> PromQLChecker:
    # The dashboard may use the recorded series.
    checker, _ = checked_rules
    return PromQLChecker(checker.registry, checker.jobs, dict(checker.recorded))


TARGETS = [
    (panel["title"], target["refId"])
    for panel in panels(load_dashboard())
    for target in panel.get("targets", [])
]


@pytest.mark.parametrize(("title", "ref_id"), TARGETS)
def test_dashboard_target_uses_only_exported_metrics_and_labels(
    dashboard_checker: PromQLChecker, title: str, ref_id: str
) -> None:
    dashboard = load_dashboard()
    (target,) = [
        t
        for p in panels(dashboard)
        if p["title"] == title
        for t in p.get("targets", [])
        if t["refId"] == ref_id
    ]
    dashboard_checker.errors = []
    labels = dashboard_checker.check(grafana_substitute(target["expr"], dashboard))
    assert not dashboard_checker.errors, f"{title}/{ref_id}:\n" + "\n".join(
        dashboard_checker.errors
    )
    assert labels is not None
    legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
    assert legend <= labels, f"{title}: legend uses {sorted(legend - labels)}"


def test_dashboard_variables_query_exported_metrics_and_labels(
    dashboard_checker: PromQLChecker,
) -> None:
    dashboard = load_dashboard()
    queried = [v for v in dashboard["templating"]["list"] if v["type"] == "query"]
    assert queried
    for variable in queried:
        query = variable["query"]["query"]
        match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
        assert match, query
        dashboard_checker.errors = []
        labels = dashboard_checker.check(grafana_substitute(match.group(1), dashboard))
        assert not dashboard_checker.errors, dashboard_checker.errors
        assert labels is not None
        assert match.group(2) in labels, query


def test_every_platform_metric_is_on_the_dashboard_or_in_a_rule(
    registry: Registry,
    checked_rules: tuple[PromQLChecker, dict[str, tuple[Labels | None, list[str]]]],
) -> None:
    # A metric added to the code shows up here until someone puts it on the dashboard.
    checker = PromQLChecker(registry, scraped_jobs(), dict(checked_rules[0].recorded))
    dashboard = load_dashboard()
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            checker.check(grafana_substitute(target["expr"], dashboard))
    for rule in load_rules():
        checker.check(rule.spec["expr"])
    for job, families in registry.families.items():
        for name, (kind, _) in families.items():
            if name.startswith(("python_", "process_virtual", "process_max_fds")):
                continue  # interpreter details, not operations
            series = {name + suffix for suffix, _ in _SUFFIXES[kind]}
            assert series & checker.used, f"{job}: {name} is neither charted nor alerted on"


def test_dashboard_is_grafana_10_json_with_a_templated_datasource() -> None:
    dashboard = load_dashboard()
    assert dashboard["uid"] == "kopano-overview"
    # 38 is Grafana 10.0's schema; the sidecar provisions the file as it is.
    assert dashboard["schemaVersion"] >= 38
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    templated = {"type": "prometheus", "uid": "${datasource}"}

    def datasources(node: Any) -> Iterator[Any]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "datasource":
                    yield value
                else:
                    yield from datasources(value)
        elif isinstance(node, list):
            for item in node:
                yield from datasources(item)

    # No data source uid of one Grafana baked in: every query goes through the variable.
    found = list(datasources({k: v for k, v in dashboard.items() if k != "annotations"}))
    assert found
    assert all(d == templated for d in found), [d for d in found if d != templated]
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids))


def test_dashboard_panels_fit_the_grid_without_overlapping() -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in panels(load_dashboard()):
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
            ref_ids = [t["refId"] for t in panel["targets"]]
            assert len(ref_ids) == len(set(ref_ids))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_dashboard_configmap_carries_the_committed_json_for_the_sidecar(
    monitored: dict[str, Rendered], overlay: str
) -> None:
    configmap = monitored[overlay].get("ConfigMap", "kopano-grafana-dashboards")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["data"] == {DASHBOARD.name: DASHBOARD.read_text()}
