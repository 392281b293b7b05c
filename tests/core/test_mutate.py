"""The patch engine: op shapes, what survives, what the user already set, conflicts, idempotency."""

from __future__ import annotations

import copy
import json

import jsonpatch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.common import env_of, mounts_of, pod
from tests.core.support import run, sa, validate, volume
from webhook.mutate import mutate_pod, serviceaccount_name
from webhook.settings import CoreSettings
from webhook.vocabulary import volume_name_for

P = "projected-token.io"
VAULT = {f"{P}/audience": "vault", f"{P}/path": "oidc-token"}
VOL = volume_name_for("/var/run/secrets/tokens")
MOUNT = {"name": VOL, "readOnly": True, "mountPath": "/var/run/secrets/tokens"}
KUBE_API_ACCESS = {
    "name": "kube-api-access-x7k2q",
    "projected": {
        "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        ]
    },
}


def test_absent_arrays_are_created_present_ones_appended_to() -> None:
    fresh = pod({"name": "app", "image": "a"})
    outcome, _ = run(fresh, sa(VAULT))
    assert [(op["op"], op["path"]) for op in outcome.patch] == [
        ("add", "/spec/volumes"),
        ("add", "/spec/containers/0/env"),
        ("add", "/spec/containers/0/volumeMounts"),
    ]
    existing = pod(
        {
            "name": "app",
            "image": "a",
            "env": [{"name": "A", "value": "1"}],
            "volumeMounts": [
                {
                    "name": "kube-api-access-x7k2q",
                    "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                }
            ],
        },
        volumes=[KUBE_API_ACCESS],
    )
    outcome, result = run(existing, sa(VAULT))
    assert [(op["op"], op["path"]) for op in outcome.patch] == [
        ("add", "/spec/volumes/-"),
        ("add", "/spec/containers/0/env/-"),
        ("add", "/spec/containers/0/volumeMounts/-"),
    ]
    assert result["spec"]["volumes"][0] == KUBE_API_ACCESS  # the ServiceAccount plugin's volume is untouched
    assert [v["name"] for v in result["spec"]["volumes"]] == ["kube-api-access-x7k2q", VOL]


def test_fields_the_engine_does_not_know_survive() -> None:
    sidecar = {
        "name": "proxy",
        "image": "envoy",
        "restartPolicy": "Always",
        "startupProbe": {"grpc": {"port": 9000, "service": "health"}, "failureThreshold": 30},
        "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "NotRequired"}],
    }
    app = {
        "name": "app",
        "image": "a",
        "livenessProbe": {"grpc": {"port": 8080}},
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
    }
    obj = pod(app, init=(sidecar,), hostUsers=False, schedulingGates=[{"name": "wait"}])
    original = copy.deepcopy(obj)
    outcome, result = run(obj, sa(VAULT))
    assert all(op["op"] == "add" for op in outcome.patch)
    assert all(op["path"].count("/") >= 4 or op["path"] == "/spec/volumes" for op in outcome.patch)
    for before, after in zip(
        [*original["spec"]["initContainers"], *original["spec"]["containers"]],
        [*result["spec"]["initContainers"], *result["spec"]["containers"]],
        strict=True,
    ):
        assert {k: v for k, v in after.items() if k not in ("env", "volumeMounts")} == before
    assert result["spec"]["hostUsers"] is False and result["spec"]["schedulingGates"] == [{"name": "wait"}]


def test_ephemeral_containers_are_left_alone() -> None:
    obj = pod(ephemeralContainers=[{"name": "debug", "image": "busybox", "targetContainerName": "app"}])
    outcome, result = run(obj, sa(VAULT))
    assert not any("ephemeral" in op["path"] for op in outcome.patch)
    assert result["spec"]["ephemeralContainers"] == obj["spec"]["ephemeralContainers"]


def test_an_env_var_the_user_set_wins() -> None:
    obj = pod({"name": "app", "image": "a", "env": [{"name": "TOKEN_FILE", "value": "/mine"}]})
    outcome, result = run(obj, sa(VAULT))
    assert env_of(result, "app") == [("TOKEN_FILE", "/mine")]
    assert mounts_of(result, "app") == [MOUNT]
    assert not any("/env" in op["path"] for op in outcome.patch)


def test_an_env_var_from_valuefrom_counts_as_set() -> None:
    env = [{"name": "TOKEN_FILE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    _, result = run(pod({"name": "app", "image": "a", "env": env}), sa(VAULT))
    assert result["spec"]["containers"][0]["env"] == env


def test_our_mount_already_present_is_kept() -> None:
    obj = pod(
        {"name": "app", "image": "a", "volumeMounts": [dict(MOUNT, mountPath="/var/run/secrets/tokens/")]}
    )
    obj["spec"]["volumes"] = [
        {
            "name": VOL,
            "projected": {
                "sources": [
                    {
                        "serviceAccountToken": {
                            "audience": "vault",
                            "expirationSeconds": 3600,
                            "path": "oidc-token",
                        }
                    }
                ]
            },
        }
    ]
    outcome, result = run(obj, sa(VAULT))
    assert [op["path"] for op in outcome.patch] == ["/spec/containers/0/env"]
    assert len(mounts_of(result, "app")) == 1


def test_an_existing_token_volume_gets_the_missing_token_only() -> None:
    obj = pod()
    obj["spec"]["volumes"] = [
        {
            "name": VOL,
            "projected": {
                "sources": [
                    {
                        "serviceAccountToken": {
                            "audience": "vault",
                            "expirationSeconds": 3600,
                            "path": "oidc-token",
                        }
                    }
                ]
            },
        }
    ]
    outcome, result = run(obj, sa({**VAULT, f"{P}/ci.audience": "ci"}))
    assert outcome.patch[0] == {
        "op": "add",
        "path": "/spec/volumes/0/projected/sources/-",
        "value": {"serviceAccountToken": {"audience": "ci", "expirationSeconds": 3600, "path": "ci"}},
    }
    assert len(volume(result, VOL)["projected"]["sources"]) == 2


def test_a_stale_token_in_our_volume_is_an_error() -> None:
    obj = pod()
    obj["spec"]["volumes"] = [
        {
            "name": VOL,
            "projected": {"sources": [{"serviceAccountToken": {"audience": "old", "path": "oidc-token"}}]},
        }
    ]
    outcome, _ = run(obj, sa(VAULT))
    assert outcome.patch == [] and "remove the stale volume" in outcome.errors[0]


def test_a_volume_of_our_name_that_is_not_ours_is_an_error() -> None:
    outcome, _ = run(pod(volumes=[{"name": VOL, "emptyDir": {}}]), sa(VAULT))
    assert outcome.patch == [] and len(outcome.errors) == 1
    assert VOL in outcome.errors[0] and "rename" in outcome.errors[0]


def test_another_volume_at_our_mount_path_is_an_error_naming_container_and_annotation() -> None:
    obj = pod(
        {"name": "app", "image": "a"},
        {
            "name": "legacy",
            "image": "b",
            "volumeMounts": [{"name": "old", "mountPath": "/var/run/secrets/tokens"}],
        },
        volumes=[{"name": "old", "emptyDir": {}}],
    )
    outcome, _ = run(obj, sa(VAULT))
    assert outcome.patch == [] and len(outcome.errors) == 1
    error = outcome.errors[0]
    assert (
        "'legacy'" in error and "'old'" in error and f"{P}/mount-path" in error and "skip-containers" in error
    )


def test_conflicts_are_all_reported_together_with_annotation_errors() -> None:
    obj = pod(
        {
            "name": "a",
            "image": "a",
            "volumeMounts": [{"name": "old", "mountPath": "/var/run/secrets/tokens"}],
        },
        {
            "name": "b",
            "image": "b",
            "volumeMounts": [{"name": "old", "mountPath": "/var/run/secrets/tokens"}],
        },
        volumes=[{"name": "old", "emptyDir": {}}],
    )
    outcome, _ = run(obj, sa(VAULT))
    assert len(outcome.errors) == 2


def test_every_container_skipped_warns_but_stays_idempotent() -> None:
    outcome, _ = run(pod(annotations={f"{P}/skip-containers": "app"}), sa(VAULT))
    assert [op["path"] for op in outcome.patch] == ["/spec/volumes"]
    assert any("mounted nowhere" in w for w in outcome.warnings)


def test_a_pod_without_spec_is_an_error() -> None:
    outcome = mutate_pod({"metadata": {}}, sa(VAULT), CoreSettings())
    assert outcome.errors and outcome.patch == []


def test_serviceaccount_name_defaults() -> None:
    assert serviceaccount_name({"spec": {}}) == "default"
    assert serviceaccount_name({"spec": {"serviceAccount": "legacy"}}) == "legacy"
    assert serviceaccount_name({"spec": {"serviceAccountName": "x", "serviceAccount": "y"}}) == "x"


def test_pod_template_without_apiversion_is_patched_in_place() -> None:
    template = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    outcome = mutate_pod(template, sa(VAULT), CoreSettings())
    result = jsonpatch.apply_patch(template, outcome.patch)
    validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, **{"spec": result["spec"]}})


# Random pods: whatever env/mount/volume arrays exist (absent, null, empty, filled), the patch applies,
# the result validates, and the second pass is empty.
_names = st.sampled_from(["app", "side", "init-a", "db"])
_env = st.one_of(
    st.none(),
    st.just([]),
    st.lists(st.sampled_from(["A", "TOKEN_FILE", "CI_TOKEN_FILE", "B"]), unique=True, max_size=3).map(
        lambda names: [{"name": n, "value": "v"} for n in names]
    ),
)
_mounts = st.one_of(st.none(), st.just([]), st.just([{"name": "data", "mountPath": "/data"}]))


@st.composite
def _pods(draw: st.DrawFn) -> dict:
    names = draw(st.lists(_names, min_size=1, max_size=4, unique=True))
    containers = []
    for name in names:
        c: dict = {"name": name, "image": "i"}
        for key, strategy in (("env", _env), ("volumeMounts", _mounts)):
            value = draw(strategy)
            if value is not None or draw(st.booleans()):
                c[key] = value
        containers.append(c)
    split = draw(st.integers(0, len(containers) - 1))
    spec: dict = {"serviceAccountName": "app", "containers": containers[split:] or containers[:1]}
    if containers[:split]:
        spec["initContainers"] = containers[:split]
    volumes = draw(st.sampled_from(["absent", "null", "empty", "data"]))
    if volumes != "absent":
        spec["volumes"] = {"null": None, "empty": [], "data": [{"name": "data", "emptyDir": {}}]}[volumes]
    if any(m for c in containers for m in c.get("volumeMounts") or []):
        spec["volumes"] = [{"name": "data", "emptyDir": {}}]
    if draw(st.booleans()):
        spec["nodeSelector"] = {"kubernetes.io/os": "windows"}
    annotations = draw(st.sampled_from([{}, {f"{P}/skip-containers": "side"}, {f"{P}/ci.audience": "ci"}]))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "annotations": annotations},
        "spec": spec,
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(obj=_pods(), dialects=st.sampled_from(["generic", "generic,eks"]))
def test_any_pod_patch_applies_validates_and_is_idempotent(obj: dict, dialects: str) -> None:
    obj = json.loads(json.dumps(obj))  # hypothesis shares list objects between containers; JSON never does
    annotations = {**VAULT, "eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/r"}
    outcome, result = run(obj, sa(annotations), CoreSettings(dialects=dialects, eks_region="eu-west-1"))
    assert outcome.errors == []
    for c in result["spec"]["containers"]:
        if c["name"] != "side" or f"{P}/skip-containers" not in obj["metadata"]["annotations"]:
            assert any(m["name"] == VOL for m in c["volumeMounts"])
