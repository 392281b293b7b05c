"""Issue 13 in the manifests: the eks overlay honours the EKS opt-out label; drift has RBAC of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.manifests.support import selects

REPO = Path(__file__).resolve().parents[2]
SKIP = "eks.amazonaws.com/skip-pod-identity-webhook"


def _selector(docs: list[dict[str, Any]]) -> dict[str, Any]:
    hook = next(d for d in docs if d["kind"] == "MutatingWebhookConfiguration")
    return hook["webhooks"][0]["objectSelector"]


def test_the_eks_overlay_never_sends_a_pod_with_the_eks_skip_label(built: dict[str, Any]) -> None:
    selector = _selector(built["eks"])
    for value in ("true", "false", ""):
        assert not selects(selector, {SKIP: value}), value
    assert selects(selector, {"app": "x"})
    assert not selects(selector, {"projected-token.io/inject": "false"})
    # The generic install does not know the label.
    assert selects(_selector(built["base"]), {SKIP: "true"})


def test_drift_rbac_is_read_only_and_not_the_webhooks_own() -> None:
    docs = list(YAML(typ="safe").load_all((REPO / "manifests/optional/drift-rbac.yaml").read_text()))
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    assert role["metadata"]["name"] != "projected-token-webhook"
    verbs = {v for rule in role["rules"] for v in rule["verbs"]}
    assert verbs <= {"get", "list"}
    binding = next(d for d in docs if d["kind"] == "ClusterRoleBinding")
    account = next(d for d in docs if d["kind"] == "ServiceAccount")
    assert binding["subjects"][0]["name"] == account["metadata"]["name"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
