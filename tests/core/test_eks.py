"""The EKS dialect: the pods in fixtures/eks_cases.yaml are the ones the EKS Pod Identity Webhook produces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.common import env_of, mounts_of, pod
from tests.core.support import run, sa
from webhook.settings import CoreSettings

CASES = list(yaml.safe_load_all((Path(__file__).parent / "fixtures" / "eks_cases.yaml").read_text()))
ROLE = {"eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/r"}


def _pod(case: dict[str, Any]) -> dict[str, Any]:
    spec = {k: v for k, v in case["pod"].items() if k != "metadata"}
    meta = {"name": "balajilovesoreos", "namespace": "default", **case["pod"].get("metadata", {})}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"serviceAccountName": "app", **spec},
    }


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_same_pod_as_the_eks_webhook(case: dict[str, Any]) -> None:
    settings = CoreSettings(dialects="eks", **case["settings"])
    outcome, result = run(_pod(case), sa(case["serviceAccount"]), settings)
    assert outcome.errors == []
    expected = case["expected"]
    for key in ("initContainers", "containers"):
        assert result["spec"].get(key) == expected.get(key), key
    by_name = sorted(result["spec"]["volumes"], key=lambda v: v["name"])
    assert by_name == sorted(expected["volumes"], key=lambda v: v["name"])
    assert outcome.dialects == ("eks",)


def test_no_role_arn_no_mutation() -> None:
    outcome, _ = run(pod(), sa({"eks.amazonaws.com/audience": "x"}), CoreSettings(dialects="eks"))
    assert outcome.patch == [] and outcome.skipped and "role-arn" in outcome.skipped


def test_unknown_serviceaccount_no_mutation() -> None:
    outcome, _ = run(pod(), None, CoreSettings(dialects="eks"))
    assert outcome.patch == [] and outcome.skipped


def test_eks_annotations_are_ignored_unless_the_dialect_is_enabled() -> None:
    outcome, _ = run(pod(), sa(ROLE), CoreSettings())
    assert outcome.patch == []


def test_unparsable_values_are_ignored_with_short_warnings() -> None:
    annotations = {**ROLE, "eks.amazonaws.com/sts-regional-endpoints": "maybe"}
    obj = pod(annotations={"eks.amazonaws.com/token-expiration": "tomorrow"})
    outcome, result = run(obj, sa(annotations), CoreSettings(dialects="eks", eks_sts_regional_endpoints=True))
    assert len(outcome.warnings) == 2 and all(len(w) < 120 for w in outcome.warnings)
    assert env_of(result, "app")[0] == ("AWS_STS_REGIONAL_ENDPOINTS", "regional")  # flag value kept
    assert outcome.tokens[0].expiration_seconds == 86400


def test_an_expiration_the_apiserver_rejects_is_an_error() -> None:
    obj = pod(annotations={"eks.amazonaws.com/token-expiration": "99999999999"})
    outcome, _ = run(obj, sa(ROLE), CoreSettings(dialects="eks"))
    assert outcome.errors and "token-expiration" in outcome.errors[0]


def test_spec_os_alone_does_not_switch_eks_paths() -> None:
    # The EKS webhook reads the node selectors only; keep its output identical.
    _, result = run(pod(os={"name": "windows"}), sa(ROLE), CoreSettings(dialects="eks"))
    assert env_of(result, "app")[-1] == (
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
    )


def test_skip_containers_is_read_as_csv() -> None:
    obj = pod(
        {"name": "a", "image": "i"},
        {"name": "b", "image": "i"},
        {"name": "d", "image": "i"},
        annotations={"eks.amazonaws.com/skip-containers": 'a,"d"'},
    )
    _, result = run(obj, sa(ROLE), CoreSettings(dialects="eks"))
    assert mounts_of(result, "a") == [] and mounts_of(result, "d") == []
    assert mounts_of(result, "b")


def test_generic_and_eks_together() -> None:
    annotations = {**ROLE, "projected-token.io/audience": "vault"}
    outcome, result = run(
        pod(), sa(annotations), CoreSettings(dialects="generic,eks", eks_region="eu-west-1")
    )
    assert outcome.dialects == ("generic", "eks")
    assert {v["name"] for v in result["spec"]["volumes"]} >= {"aws-iam-token"}
    assert len(result["spec"]["volumes"]) == 2
    names = [name for name, _ in env_of(result, "app")]
    assert names == [
        "TOKEN_FILE",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ]


def test_generic_token_at_the_eks_path_is_a_conflict() -> None:
    annotations = {
        **ROLE,
        "projected-token.io/audience": "vault",
        "projected-token.io/mount-path": "/var/run/secrets/eks.amazonaws.com/serviceaccount",
    }
    outcome, _ = run(pod(), sa(annotations), CoreSettings(dialects="generic,eks"))
    assert outcome.errors and "--eks-token-mount-path" in outcome.errors[0]
