"""The install's rules, asserted on what kustomize builds for the base and every overlay."""

from __future__ import annotations

from typing import Any

import click
import pytest

from tests.manifests.support import OVERLAYS, arg_value, find, one, pod_template, selects, webhook_container
from webhook.drain import IDLE_LINGER_SECONDS
from webhook.serve import serve_command
from webhook.serve_settings import ServeSettings
from webhook.settings import CoreSettings

ALL = ["base", *OVERLAYS]
Docs = dict[str, list[dict[str, Any]]]


def _namespace(docs: list[dict[str, Any]]) -> str:
    return one(docs, "Namespace")["metadata"]["name"]


def _hook(docs: list[dict[str, Any]]) -> dict[str, Any]:
    hooks = one(docs, "MutatingWebhookConfiguration")["webhooks"]
    assert len(hooks) == 1
    return hooks[0]


@pytest.mark.parametrize("overlay", ALL)
def test_webhook_configuration(built: Docs, overlay: str) -> None:
    docs = built[overlay]
    hook = _hook(docs)
    assert hook["name"].count(".") >= 2, "webhook names must be fully qualified"
    assert hook["admissionReviewVersions"] == ["v1"]
    assert hook["sideEffects"] == "None"
    assert hook["reinvocationPolicy"] == "IfNeeded"
    assert 1 <= hook["timeoutSeconds"] <= 10, "explicit, and well under the apiserver's 30 s ceiling"
    assert hook["failurePolicy"] == "Ignore", "the documented default"
    assert hook["rules"] == [
        {
            "operations": ["CREATE"],
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "resources": ["pods"],
            "scope": "Namespaced",
        }
    ]
    # clientConfig reaches the Service, whose port leads to the container's HTTPS port.
    service_ref = hook["clientConfig"]["service"]
    assert service_ref["path"] == "/mutate"
    service = one(docs, "Service", service_ref["name"])
    assert service["metadata"]["namespace"] == service_ref["namespace"] == _namespace(docs)
    port = next(p for p in service["spec"]["ports"] if p["port"] == service_ref["port"])
    container_ports = {p["name"]: p["containerPort"] for p in webhook_container(docs)["ports"]}
    assert container_ports[port["targetPort"]] == 8443
    assert selects({"matchLabels": service["spec"]["selector"]}, pod_template(docs)["metadata"]["labels"])


@pytest.mark.parametrize("overlay", ALL)
def test_selectors_exclude_the_control_plane_itself_and_opted_out_objects(built: Docs, overlay: str) -> None:
    docs = built[overlay]
    hook = _hook(docs)
    own = _namespace(docs)
    ns_selector, obj_selector = hook["namespaceSelector"], hook["objectSelector"]

    def ns(name: str, **labels: str) -> dict[str, str]:
        return {"kubernetes.io/metadata.name": name, **labels}

    assert not selects(ns_selector, ns("kube-system"))
    assert not selects(ns_selector, ns(own)), "the webhook must never be needed to start itself"
    assert not selects(ns_selector, ns("team-a", **{"projected-token.io/inject": "false"}))
    assert selects(ns_selector, ns("default"))
    assert selects(ns_selector, ns("team-a", **{"projected-token.io/inject": "true"}))
    # Pods: opted out by label, selected without it (the webhook's own pods are excluded twice).
    # (An overlay for one dialect may send only the pods carrying its opt-in label: the azure one.)
    opt_in = {e["key"]: e["values"][0] for e in obj_selector["matchExpressions"] if e["operator"] == "In"}
    assert not selects(obj_selector, {"projected-token.io/inject": "false", **opt_in})
    assert selects(obj_selector, opt_in)
    assert selects(obj_selector, {"app": "x", "projected-token.io/inject": "true", **opt_in})
    # The server skips the same namespaces on its own (defence in depth, e.g. with a url clientConfig).
    args = webhook_container(docs)["args"]
    assert {"kube-system", own} <= set((arg_value(args, "--excluded-namespaces") or "").split(","))


def _serve_args(args: list[str]) -> dict[str, Any]:
    """Parse the container args with the real `webhook serve` option parser (no I/O, no file checks)."""
    ctx = serve_command.make_context("serve", [])
    values, leftover, _ = serve_command.make_parser(ctx).parse_args(list(args))
    assert not leftover, f"positional arguments {leftover}"
    return values


@pytest.mark.parametrize("overlay", ALL)
def test_container_args_are_webhook_serve_flags(built: Docs, overlay: str) -> None:
    docs = built[overlay]
    container = webhook_container(docs)
    assert container.get("command") is None, "the image's ENTRYPOINT is `webhook serve`"
    values = _serve_args(container["args"])  # unknown flags raise click's NoSuchOption
    mount = next(m for m in container["volumeMounts"] if m["name"] == "certs")
    assert mount["readOnly"] is True and "subPath" not in mount, "subPath mounts never see renewals"
    assert values["tls_cert"] == f"{mount['mountPath']}/tls.crt"
    assert values["tls_key"] == f"{mount['mountPath']}/tls.key"
    assert int(values["port"]) == 8443
    if "dialects" in values:  # raises on an unknown dialect or a setting it refuses
        CoreSettings(**{k: v for k, v in values.items() if k in CoreSettings.model_fields})
    settings = ServeSettings(
        **{k: v for k, v in values.items() if k in {"shutdown_delay", "drain_timeout", "excluded_namespaces"}}
    )
    grace = pod_template(docs)["spec"]["terminationGracePeriodSeconds"]
    assert grace > settings.shutdown_delay + IDLE_LINGER_SECONDS + settings.drain_timeout


@pytest.mark.parametrize("overlay", ALL)
def test_deployment_hardening_and_availability(built: Docs, overlay: str) -> None:
    docs = built[overlay]
    deployment = one(docs, "Deployment")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert selects(spec["selector"], labels)
    assert spec["replicas"] >= 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert pod["serviceAccountName"] == one(docs, "ServiceAccount")["metadata"]["name"]

    # Spread over nodes: a hostname topology constraint and anti-affinity, both selecting these pods.
    spreads = [c for c in pod["topologySpreadConstraints"] if c["topologyKey"] == "kubernetes.io/hostname"]
    assert spreads and all(selects(c["labelSelector"], labels) and c["maxSkew"] == 1 for c in spreads)
    anti = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert any(
        t["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
        and selects(t["podAffinityTerm"]["labelSelector"], labels)
        for t in anti
    )

    container = webhook_container(docs)
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = container[probe]["httpGet"]
        assert (get["path"], get["scheme"], get["port"]) == (path, "HTTPS", "https")
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert "memory" in container["resources"]["limits"]

    pod_sc, sc = pod["securityContext"], container["securityContext"]
    assert pod_sc["runAsNonRoot"] is True and pod_sc["runAsUser"] == 65532
    assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault"
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add")
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == pod_sc["runAsUser"]
    assert not pod.get("hostNetwork") and not sc.get("privileged")

    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "secret" in volumes["certs"], "the certificate comes from a Secret"


@pytest.mark.parametrize("overlay", ALL)
def test_rbac_reads_serviceaccounts_only(built: Docs, overlay: str) -> None:
    docs = built[overlay]
    role = one(docs, "ClusterRole")
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get", "list", "watch"]}
    ]
    assert not find(docs, "Role") and not find(docs, "RoleBinding")
    binding = one(docs, "ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    sa = one(docs, "ServiceAccount")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": sa["metadata"]["namespace"]}
    ]


@pytest.mark.parametrize("overlay", ALL)
def test_namespace_budget_and_quota(built: Docs, overlay: str) -> None:
    docs = built[overlay]
    own = _namespace(docs)
    for doc in docs:
        if doc["kind"] not in {
            "Namespace",
            "ClusterRole",
            "ClusterRoleBinding",
            "MutatingWebhookConfiguration",
        }:
            assert doc["metadata"]["namespace"] == own, f"{doc['kind']} outside {own}"
    labels = one(docs, "Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    deployment = one(docs, "Deployment")
    pdb = one(docs, "PodDisruptionBudget")
    assert selects(pdb["spec"]["selector"], deployment["spec"]["template"]["metadata"]["labels"])
    assert 1 <= pdb["spec"]["minAvailable"] < deployment["spec"]["replicas"], "drains must not block"
    quota = one(docs, "ResourceQuota")["spec"]
    expr = quota["scopeSelector"]["matchExpressions"][0]
    assert expr["scopeName"] == "PriorityClass"
    assert deployment["spec"]["template"]["spec"]["priorityClassName"] in expr["values"]
    assert int(quota["hard"]["pods"]) >= deployment["spec"]["replicas"] + 1, "room for a surge pod"


def test_eks_overlay_enables_the_eks_dialect(built: Docs) -> None:
    values = _serve_args(webhook_container(built["eks"])["args"])
    assert CoreSettings(dialects=values["dialects"]).dialects == ["generic", "eks"]
    assert values["eks_region"] and values["eks_sts_regional_endpoints"] is True
    assert "dialects" not in _serve_args(webhook_container(built["base"])["args"]), "generic by default"


def test_the_arg_parser_used_above_rejects_unknown_flags() -> None:
    with pytest.raises(click.NoSuchOption):
        _serve_args(["--tls-certificate=/etc/webhook/certs/tls.crt"])


@pytest.mark.parametrize("overlay", ALL)
def test_pods_run_on_linux_nodes_only(built: Docs, overlay: str) -> None:
    """The image is Linux-only: on a cluster with Windows nodes a replica must never land there."""
    assert pod_template(built[overlay])["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux"}
