"""`webhook drift`'s comparison: a pod's mounted tokens against what the core gives it today."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonpatch
import pytest
from click.testing import CliRunner

from tests.common import pod
from tests.core.support import sa
from webhook.cli import main
from webhook.drift import differences, drift_report, fix_for, owner_of
from webhook.mutate import mutate_pod
from webhook.settings import CoreSettings

P = "projected-token.io"
VAULT = {f"{P}/audience": "vault", f"{P}/path": "oidc-token"}


def admitted(annotations: dict[str, str], name: str = "web-abc") -> dict:
    """A pod as the webhook admitted it under these ServiceAccount annotations."""
    obj = pod({"name": "app", "image": "a"}, {"name": "side", "image": "b"})
    obj["metadata"]["name"] = name
    outcome = mutate_pod(obj, sa(annotations), CoreSettings())
    return jsonpatch.apply_patch(copy.deepcopy(obj), outcome.patch)


def kinds(found: list) -> list[tuple[str, str]]:
    return [(d.kind, d.token) for d in found]


def test_no_change_no_drift() -> None:
    assert differences(admitted(VAULT), sa(VAULT), CoreSettings()) == []


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ({**VAULT, f"{P}/expiration-seconds": "7200"}, [("expiration", "token")]),
        ({**VAULT, f"{P}/audience": "vault-2"}, [("audience", "token")]),
        ({**VAULT, f"{P}/path": "vault"}, [("path", "token")]),
        ({**VAULT, f"{P}/ci.audience": "ci"}, [("missing", "ci")]),
        ({}, [("extra", "/var/run/secrets/tokens/oidc-token")]),
    ],
)
def test_each_kind_of_difference(now: dict[str, str], expected: list[tuple[str, str]]) -> None:
    assert kinds(differences(admitted(VAULT), sa(now), CoreSettings())) == expected


def test_hand_written_tokens_the_webhook_does_not_manage_are_not_extra() -> None:
    obj = pod(
        {"name": "app", "image": "a", "volumeMounts": [{"name": "own", "mountPath": "/etc/own"}]},
        volumes=[
            {
                "name": "own",
                "projected": {"sources": [{"serviceAccountToken": {"path": "t", "audience": "x"}}]},
            }
        ],
    )
    assert differences(obj, sa({}), CoreSettings()) == []


def test_report_groups_by_top_owner_with_the_restart_line() -> None:
    stale = [admitted(VAULT, "web-1"), admitted(VAULT, "web-2"), admitted(VAULT, "solo")]
    for obj in stale[:2]:
        obj["metadata"]["ownerReferences"] = [{"kind": "ReplicaSet", "name": "web-5d8", "controller": True}]
    finished = admitted(VAULT, "done")
    finished["status"] = {"phase": "Succeeded"}
    now = {("default", "app"): sa({**VAULT, f"{P}/expiration-seconds": "7200"})}

    def lookup(kind: str, namespace: str, name: str):
        return ("Deployment", "web") if (kind, name) == ("ReplicaSet", "web-5d8") else None

    report = drift_report([*stale, finished], now, CoreSettings(), lookup)
    assert [(o.kind, o.name, sorted(o.pods)) for o in report] == [
        ("Deployment", "web", ["web-1", "web-2"]),
        ("Pod", "solo", ["solo"]),
    ]
    assert report[0].fix == "kubectl rollout restart deployment/web -n default"


def test_owner_resolution_and_fix_lines() -> None:
    obj = {
        "metadata": {
            "name": "j-1",
            "namespace": "ns",
            "ownerReferences": [{"kind": "Job", "name": "j", "controller": True}],
        }
    }
    assert owner_of(obj, lambda *_: ("CronJob", "nightly")) == ("CronJob", "nightly")
    assert owner_of(obj, lambda *_: None) == ("Job", "j")
    assert fix_for("ns", "StatefulSet", "db") == "kubectl rollout restart statefulset/db -n ns"
    assert "delete pod" in fix_for("ns", "Pod", "p")


def test_drift_without_a_reachable_cluster_is_one_error_line(tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text("not: [a kubeconfig")
    result = CliRunner().invoke(main, ["drift", "--kubeconfig", str(config)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ") and len(result.output.strip().splitlines()) == 1
