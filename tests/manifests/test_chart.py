"""charts/projected-token-webhook with the Go-built helm (hack/go-tools.sh): lint, template under several
value sets, the real Kubernetes schemas, and one source of truth with manifests/ (the chart renders the
kustomize base and overlays, field for field)."""

from __future__ import annotations

import base64
import copy
import json
import ssl
import subprocess
from collections.abc import Mapping
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner
from cryptography import x509

from tests.common import REPO
from tests.gotools import find_tool
from tests.manifests.support import (
    CERT_MANAGER_GROUP,
    arg_value,
    find,
    kustomize,
    one,
    pod_template,
    selects,
)
from tests.manifests.test_rules import _serve_args
from tests.manifests.test_schemas import VERSIONS
from webhook.cli import main
from webhook.drain import IDLE_LINGER_SECONDS

CHART = REPO / "charts" / "projected-token-webhook"
RELEASE = NAMESPACE = "projected-token-webhook"
# Helm's own labels on every object's metadata; the base carries only app.kubernetes.io/name.
HELM_LABELS = (
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
)
MONITORING_GROUP = "monitoring.coreos.com"
EKS_ARGS = ["--eks-region=us-west-2", "--eks-sts-regional-endpoints"]
OPT_OUT = {"key": "projected-token.io/inject", "operator": "NotIn", "values": ["false"]}

Docs = list[dict[str, Any]]

# Each value set is linted, rendered, validated and checked below.
VALUE_SETS: dict[str, dict[str, Any]] = {
    "default": {},
    "secret": {"certificates": {"mode": "secret"}},
    "cert-manager": {"certificates": {"mode": "cert-manager"}},
    # The eks overlay, as chart values.
    "dialects": {
        "certificates": {"mode": "cert-manager"},
        "dialects": ["generic", "eks"],
        "extraArgs": EKS_ARGS,
        "webhook": {
            "objectSelector": {
                "matchExpressions": [
                    OPT_OUT,
                    {"key": "eks.amazonaws.com/skip-pod-identity-webhook", "operator": "DoesNotExist"},
                ]
            }
        },
    },
    "servicemonitor": {
        "certificates": {"mode": "secret"},
        "metrics": {"enabled": True, "serviceMonitor": {"enabled": True}},
    },
    "prometheusrule": {"metrics": {"prometheusRule": {"enabled": True, "labels": {"release": "prom"}}}},
    "podmonitor": {
        "certificates": {"mode": "secret"},
        "metrics": {
            "enabled": True,
            "port": 9191,
            "podMonitor": {"enabled": True, "labels": {"release": "prom"}},
        },
        "networkPolicy": {"enabled": True, "webhookFrom": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]},
    },
    "everything": {
        "replicaCount": 3,
        "image": {
            "repository": "registry.example.com/tokens/webhook",
            "tag": "9.9.9",
            "pullPolicy": "Always",
        },
        "imagePullSecrets": [{"name": "pull"}],
        "serviceAccount": {"annotations": {"team": "platform"}},
        "podLabels": {"team": "platform"},
        "podAnnotations": {"example.com/scrape": "false"},
        "priorityClassName": "",
        "nodeSelector": {"kubernetes.io/os": "linux", "pool": "system"},
        "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["system"]}]}
                    ]
                }
            }
        },
        "topologySpreadConstraints": [],
        "podDisruptionBudget": {"minAvailable": 2},
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}},
        "securePort": 10250,
        "hostNetwork": True,
        "logLevel": "debug",
        "extraEnv": [{"name": "WEBHOOK_CERT_RELOAD_INTERVAL", "value": "5"}],
        "shutdownDelay": 10,
        "drainTimeout": 30,
        "terminationGracePeriodSeconds": 60,
        "excludedNamespaces": ["kube-system", "gatekeeper-system"],
        "webhook": {
            "failurePolicy": "Fail",
            "timeoutSeconds": 10,
            "namespaceSelector": {"matchLabels": {"tokens": "on"}},
        },
        "certificates": {"mode": "secret", "secret": {"name": "my-tls", "caBundle": "Y2E="}},
    },
}


def _helm() -> Path:
    helm, reason = find_tool("helm")
    if helm is None:
        pytest.skip(reason)
    return helm


def _run_helm(
    tmp: Path, *args: str, values: Mapping[str, Any] | None = None
) -> subprocess.CompletedProcess[str]:
    """Helm with its config, cache and data folders in `tmp` (nothing read from or written to $HOME)."""
    cmd = [str(_helm()), *args]
    if values is not None:
        values_file = tmp / "values.yaml"
        values_file.write_text(yaml.safe_dump(dict(values)))
        cmd += ["-f", str(values_file)]
    env = {f"HELM_{kind}_HOME": str(tmp / kind.lower()) for kind in ("CACHE", "CONFIG", "DATA")}
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin", **env}
    )


def _template(
    tmp: Path, values: Mapping[str, Any], *, release: str = RELEASE, namespace: str = NAMESPACE
) -> Docs:
    proc = _run_helm(tmp, "template", release, str(CHART), "--namespace", namespace, values=values)
    assert proc.returncode == 0, f"helm template failed: {proc.stderr.strip()}"
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Docs]:
    _helm()
    return {name: _template(tmp_path_factory.mktemp(name), values) for name, values in VALUE_SETS.items()}


def _keyed(docs: Docs) -> dict[tuple[str, str], dict[str, Any]]:
    keyed = {(d["kind"], d["metadata"]["name"]): json.loads(json.dumps(d)) for d in docs}
    assert len(keyed) == len(docs), "duplicate objects"
    return keyed


def _without_helm_labels(docs: Docs) -> dict[tuple[str, str], dict[str, Any]]:
    """The chart's objects less Helm's own labels, which every one of them must carry."""
    keyed = _keyed(docs)
    for key, doc in keyed.items():
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "Helm", key
        assert labels["app.kubernetes.io/instance"] == RELEASE, key
        for label in HELM_LABELS:
            assert labels.pop(label), f"{key} lacks {label}"
    return keyed


def _kustomize_without_namespace(docs: Docs) -> dict[tuple[str, str], dict[str, Any]]:
    """The chart leaves the Namespace to `helm install --create-namespace`; everything else must match."""
    keyed = _keyed(docs)
    assert keyed.pop(("Namespace", NAMESPACE))
    return keyed


def _assert_same(chart: dict[tuple[str, str], Any], kustomize: dict[tuple[str, str], Any]) -> None:
    assert sorted(chart) == sorted(kustomize)
    for key in kustomize:
        assert chart[key] == kustomize[key], f"{key} differs"


# --- one source of truth with manifests/ ---------------------------------------------------------------


def test_secret_mode_renders_the_kustomize_base(rendered: dict[str, Docs], built: dict[str, Docs]) -> None:
    _assert_same(_without_helm_labels(rendered["secret"]), _kustomize_without_namespace(built["base"]))


def test_cert_manager_mode_renders_the_cert_manager_overlay(
    rendered: dict[str, Docs], built: dict[str, Docs]
) -> None:
    _assert_same(
        _without_helm_labels(rendered["cert-manager"]), _kustomize_without_namespace(built["cert-manager"])
    )


def test_dialect_values_render_the_eks_overlay(rendered: dict[str, Docs], built: dict[str, Docs]) -> None:
    _assert_same(_without_helm_labels(rendered["dialects"]), _kustomize_without_namespace(built["eks"]))


def test_default_self_signed_mode_renders_the_static_overlay_with_its_own_certificates(
    rendered: dict[str, Docs], built: dict[str, Docs]
) -> None:
    """The static overlay's Secret name carries a content hash and its certificates are other ones: those are
    the only differences."""
    chart = _without_helm_labels(rendered["default"])
    static = _kustomize_without_namespace(built["static"])
    (hashed,) = [name for kind, name in static if kind == "Secret"]
    secret_name = "projected-token-webhook-tls"
    static[("Secret", secret_name)] = static.pop(("Secret", hashed))
    static[("Secret", secret_name)]["metadata"]["name"] = secret_name
    pod_template(list(static.values()))["spec"]["volumes"][0]["secret"]["secretName"] = secret_name
    for keyed in (chart, static):
        secret = keyed[("Secret", secret_name)]
        assert set(secret["data"]) == {"ca.crt", "tls.crt", "tls.key"}
        hook = keyed[("MutatingWebhookConfiguration", RELEASE)]["webhooks"][0]["clientConfig"]
        assert hook.pop("caBundle") == secret["data"]["ca.crt"], "caBundle is the Secret's CA"
        secret["data"] = {}
    _assert_same(chart, static)


def test_release_namespace_renders_what_webhook_manifests_does_for_it(tmp_path: Path) -> None:
    """`helm install -n tokens` moves every namespaced name, selector and flag as `webhook manifests
    --namespace tokens` does."""
    chart = _without_helm_labels(_template(tmp_path, VALUE_SETS["secret"], namespace="tokens"))
    result = CliRunner().invoke(main, ["manifests", "--namespace", "tokens"])
    assert result.exit_code == 0, result.output
    expected = _keyed([d for d in yaml.safe_load_all(result.output) if d])
    assert expected.pop(("Namespace", "tokens"))
    _assert_same(chart, expected)


def test_chart_version_is_the_package_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["version"] == chart["appVersion"] == package_version("projected-token-webhook")


# --- helm lint, the values schema, the Kubernetes schemas ----------------------------------------------


@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_helm_lint_is_clean(tmp_path: Path, name: str) -> None:
    proc = _run_helm(
        tmp_path, "lint", "--strict", str(CHART), "--namespace", NAMESPACE, values=VALUE_SETS[name]
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout


@pytest.mark.parametrize("version", VERSIONS)
def test_rendered_objects_validate_on_every_kubernetes_version(
    rendered: dict[str, Docs], version: str
) -> None:
    """Every object of every value set, each distinct one once (most are the same in several sets)."""
    unique: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, docs in rendered.items():
        for doc in docs:
            if doc["apiVersion"].split("/")[0] not in {CERT_MANAGER_GROUP, MONITORING_GROUP}:
                unique.setdefault(json.dumps(doc, sort_keys=True), (name, doc))
    assert len(unique) > len(rendered["default"])
    failures = []
    for name, doc in unique.values():
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            failures.append(f"{name}: {doc['kind']}/{doc['metadata']['name']}: {exc.message}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_container_args_are_webhook_serve_flags(rendered: dict[str, Docs], name: str) -> None:
    docs = rendered[name]
    container = pod_template(docs)["spec"]["containers"][0]
    values = _serve_args(container["args"])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert int(values["port"]) == ports["https"] == VALUE_SETS[name].get("securePort", 8443)
    spec = pod_template(docs)["spec"]
    drain = float(values["shutdown_delay"]) + IDLE_LINGER_SECONDS + float(values["drain_timeout"])
    assert spec["terminationGracePeriodSeconds"] > drain


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["certificates.mode=bogus"], "/certificates/mode"),
        (["logLevel=loud"], "/logLevel"),
        (["replicaCnt=3"], "replicaCnt"),
        (["webhook.failurePolicy=Deny"], "/webhook/failurePolicy"),
        (["extraArgs[0]=eks-region=x"], "/extraArgs/0"),
        (["securePort=70000"], "/securePort"),
        (["terminationGracePeriodSeconds=20"], "terminationGracePeriodSeconds (20) must exceed"),
        (["metrics.serviceMonitor.enabled=true"], "need metrics.enabled"),
        (
            [
                "metrics.enabled=true",
                "metrics.serviceMonitor.enabled=true",
                "metrics.podMonitor.enabled=true",
            ],
            "twice",
        ),
    ],
)
def test_bad_values_are_refused_naming_the_value(tmp_path: Path, sets: list[str], message: str) -> None:
    args = [a for s in sets for a in ("--set", s)]
    proc = _run_helm(tmp_path, "template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


def test_the_schema_is_in_force_for_the_defaults_too(tmp_path: Path) -> None:
    """Guards the guard: every key of values.yaml is declared (additionalProperties is false everywhere)."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())

    def check(values: Mapping[str, Any], node: Mapping[str, Any], path: str) -> None:
        assert node.get("additionalProperties") is False, f"{path or 'top level'} admits unknown keys"
        for key, value in values.items():
            assert key in node["properties"], f"{path}{key} is not in values.schema.json"
            sub = node["properties"][key]
            if isinstance(value, dict) and "properties" in sub:
                check(value, sub, f"{path}{key}.")

    check(defaults, schema, "")


# --- what the values do --------------------------------------------------------------------------------


def test_every_value_lands_where_it_should(rendered: dict[str, Docs]) -> None:
    docs = rendered["everything"]
    deployment = one(docs, "Deployment")
    pod = pod_template(docs)
    spec, container = pod["spec"], pod["spec"]["containers"][0]
    assert deployment["spec"]["replicas"] == 3
    assert container["image"] == "registry.example.com/tokens/webhook:9.9.9"
    assert container["imagePullPolicy"] == "Always"
    assert spec["imagePullSecrets"] == [{"name": "pull"}]
    assert one(docs, "ServiceAccount")["metadata"]["annotations"] == {"team": "platform"}
    assert pod["metadata"]["labels"]["team"] == "platform"
    assert selects(deployment["spec"]["selector"], pod["metadata"]["labels"])
    assert pod["metadata"]["annotations"] == {"example.com/scrape": "false"}
    assert "priorityClassName" not in spec and not find(docs, "ResourceQuota")
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux", "pool": "system"}
    assert spec["tolerations"] == [{"key": "CriticalAddonsOnly", "operator": "Exists"}]
    assert spec["affinity"] == VALUE_SETS["everything"]["affinity"], "affinity replaces the preset"
    assert "topologySpreadConstraints" not in spec
    assert one(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == 2
    assert container["resources"] == VALUE_SETS["everything"]["resources"]
    assert spec["hostNetwork"] is True and spec["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert spec["terminationGracePeriodSeconds"] == 60
    assert container["env"] == [{"name": "WEBHOOK_CERT_RELOAD_INTERVAL", "value": "5"}]
    values = _serve_args(container["args"])
    assert values["log_level"] == "debug"
    assert (values["shutdown_delay"], values["drain_timeout"]) == ("10", "30")
    assert (
        arg_value(container["args"], "--excluded-namespaces") == "kube-system,gatekeeper-system," + NAMESPACE
    )
    hook = one(docs, "MutatingWebhookConfiguration")["webhooks"][0]
    assert (hook["failurePolicy"], hook["timeoutSeconds"]) == ("Fail", 10)
    assert hook["namespaceSelector"] == {"matchLabels": {"tokens": "on"}}
    assert hook["objectSelector"] == {"matchExpressions": [OPT_OUT]}
    assert hook["clientConfig"]["caBundle"] == "Y2E="
    assert spec["volumes"][0]["secret"]["secretName"] == "my-tls"
    assert not find(docs, "Secret"), "secret mode uses the Secret that exists"


def test_hard_anti_affinity_and_default_spread_select_the_webhook_pods(tmp_path: Path) -> None:
    docs = _template(tmp_path, {"podAntiAffinityPreset": "hard"})
    spec, labels = pod_template(docs)["spec"], pod_template(docs)["metadata"]["labels"]
    (term,) = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname" and selects(term["labelSelector"], labels)
    assert all(selects(c["labelSelector"], labels) for c in spec["topologySpreadConstraints"])
    assert "affinity" not in pod_template(_template(tmp_path, {"podAntiAffinityPreset": "none"}))["spec"]


def test_self_signed_certificate_serves_the_service_names(rendered: dict[str, Docs], tmp_path: Path) -> None:
    secret = one(rendered["default"], "Secret")
    assert secret["type"] == "kubernetes.io/tls"
    data = {k: base64.b64decode(v) for k, v in secret["data"].items()}
    ca, cert = x509.load_pem_x509_certificate(data["ca.crt"]), x509.load_pem_x509_certificate(data["tls.crt"])
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    )
    svc = f"{RELEASE}.{NAMESPACE}.svc"
    assert {svc, f"{svc}.cluster.local", RELEASE, f"{RELEASE}.{NAMESPACE}"} == set(names)
    (tmp_path / "tls.crt").write_bytes(data["tls.crt"])
    (tmp_path / "tls.key").write_bytes(data["tls.key"])
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
        tmp_path / "tls.crt", tmp_path / "tls.key"
    )
    hook = one(rendered["default"], "MutatingWebhookConfiguration")["webhooks"][0]
    assert base64.b64decode(hook["clientConfig"]["caBundle"]) == data["ca.crt"]


def test_cert_manager_with_an_issuer_of_yours_makes_only_the_serving_certificate(tmp_path: Path) -> None:
    issuer = {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "corp-ca"}
    docs = _template(
        tmp_path, {"certificates": {"mode": "cert-manager", "certManager": {"issuerRef": issuer}}}
    )
    crs = [d for d in docs if d["apiVersion"].startswith(CERT_MANAGER_GROUP + "/")]
    assert [(d["kind"], d["metadata"]["name"]) for d in crs] == [("Certificate", f"{RELEASE}-serving")]
    assert crs[0]["spec"]["issuerRef"] == issuer
    annotations = one(docs, "MutatingWebhookConfiguration")["metadata"]["annotations"]
    assert annotations == {"cert-manager.io/inject-ca-from": f"{NAMESPACE}/{RELEASE}-serving"}


@pytest.mark.parametrize(
    ("component", "metrics"),
    [
        ("servicemonitor", {"enabled": True, "serviceMonitor": {"enabled": True}}),
        ("podmonitor", {"enabled": True, "podMonitor": {"enabled": True}}),
        ("prometheus-rules", {"prometheusRule": {"enabled": True}}),
    ],
)
def test_monitoring_values_render_the_kustomize_monitoring_components(
    manifests_copy: Path, component: str, metrics: dict[str, Any]
) -> None:
    """metrics.serviceMonitor, metrics.podMonitor and metrics.prometheusRule render
    manifests/components/<component> over the base: the same objects, the same alerts."""
    overlay = manifests_copy / f"chart-{component}"
    overlay.mkdir(exist_ok=True)
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": ["../base"],
                "components": [f"../components/{component}"],
            }
        )
    )
    expected = _kustomize_without_namespace(kustomize(overlay))
    values = {"certificates": {"mode": "secret"}, "metrics": metrics}
    chart = _without_helm_labels(_template(overlay, values))
    _assert_same(chart, expected)


def test_monitors_and_network_policy_reach_the_metrics_port(rendered: dict[str, Docs]) -> None:
    docs = rendered["servicemonitor"]
    pod = pod_template(docs)
    container = pod["spec"]["containers"][0]
    assert arg_value(container["args"], "--metrics-port") == "9090"
    assert {"name": "metrics", "containerPort": 9090, "protocol": "TCP"} in container["ports"]
    assert (
        one(docs, "Service", RELEASE)["spec"]["ports"] == one(rendered["secret"], "Service")["spec"]["ports"]
    )
    service = one(docs, "Service", f"{RELEASE}-metrics")
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}
    ]
    assert selects({"matchLabels": service["spec"]["selector"]}, pod["metadata"]["labels"])
    monitor = one(docs, "ServiceMonitor")
    assert monitor["apiVersion"] == f"{MONITORING_GROUP}/v1"
    assert selects(monitor["spec"]["selector"], service["metadata"]["labels"])
    assert not selects(monitor["spec"]["selector"], one(docs, "Service", RELEASE)["metadata"]["labels"])
    assert monitor["spec"]["endpoints"] == [
        {"port": "metrics", "path": "/metrics", "scheme": "http", "interval": "30s"}
    ]

    docs = rendered["podmonitor"]
    pod = pod_template(docs)
    container = pod["spec"]["containers"][0]
    assert arg_value(container["args"], "--metrics-port") == "9191"
    assert {"name": "metrics", "containerPort": 9191, "protocol": "TCP"} in container["ports"]
    pod_monitor = one(docs, "PodMonitor")
    assert pod_monitor["metadata"]["labels"]["release"] == "prom"
    assert selects(pod_monitor["spec"]["selector"], pod["metadata"]["labels"])
    assert pod_monitor["spec"]["podMetricsEndpoints"] == [
        {"port": "metrics", "path": "/metrics", "scheme": "http", "interval": "30s"}
    ]
    assert not find(docs, "Service", f"{RELEASE}-metrics"), "a PodMonitor needs no Service"

    policy = one(docs, "NetworkPolicy")["spec"]
    assert selects(policy["podSelector"], pod["metadata"]["labels"])
    https, metrics = policy["ingress"]
    assert https == {
        "ports": [{"port": "https", "protocol": "TCP"}],
        "from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}],
    }
    assert metrics == {"ports": [{"port": "metrics", "protocol": "TCP"}]}
    assert policy["egress"] == [
        {"ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}]}
    ]
    for doc in rendered["default"]:
        assert doc["kind"] not in {"ServiceMonitor", "PodMonitor", "NetworkPolicy"}, "off by default"
    assert "--metrics-port" not in str(pod_template(rendered["default"]))


def test_monitoring_objects_have_no_schema_here_so_their_shape_is_asserted(rendered: dict[str, Docs]) -> None:
    crs = [
        d
        for name in ("servicemonitor", "podmonitor")
        for d in rendered[name]
        if d["apiVersion"].startswith(MONITORING_GROUP + "/")
    ]
    assert sorted(d["kind"] for d in crs) == ["PodMonitor", "ServiceMonitor"]
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(copy.deepcopy(crs[0]), VERSIONS[-1], strict=True)
    allowed = {
        "ServiceMonitor": {"jobLabel", "selector", "endpoints"},
        "PodMonitor": {"jobLabel", "selector", "podMetricsEndpoints"},
    }
    for doc in crs:
        assert set(doc["spec"]) == allowed[doc["kind"]] and doc["metadata"]["namespace"] == NAMESPACE
        assert doc["spec"]["jobLabel"] == "app.kubernetes.io/name", "the alerts select job=<name>"
