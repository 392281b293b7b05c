"""Issue 13 in the core: hand-written tokens adopted, per-token containers, audience lists, opt-outs,
readability warnings. Issue 12 item 5: paths compared cleaned, settings checked like annotations."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from tests.common import env_of, mounts_of, pod
from tests.core.support import run, sa, volume
from webhook.cli import main
from webhook.mutate import mutate_pod
from webhook.settings import CoreSettings
from webhook.vocabulary import volume_name_for

P = "projected-token.io"
TOKENS = "/var/run/secrets/tokens"
VOL = volume_name_for(TOKENS)
FIXTURE = Path(__file__).parent / "fixtures" / "adoption.yaml"
DOWNSTREAM = {f"{P}/downstream.audience": "downstream-cluster", f"{P}/downstream.path": "federated-token"}
ROLE = {"eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/r"}


def hand_written(
    audience: str = "downstream-cluster", path: str = "federated-token", **token: object
) -> dict:
    return {
        "name": "federated-token",
        "projected": {"sources": [{"serviceAccountToken": {"path": path, "audience": audience, **token}}]},
    }


def k8s(mount_path: str = TOKENS, **extra: object) -> dict:
    return {
        "name": "k8s",
        "image": "a",
        "volumeMounts": [{"name": "federated-token", "mountPath": mount_path}],
        **extra,
    }


# ------------------------------------------------------------------------------------------------ adoption


def test_the_same_token_by_hand_is_adopted_no_volume_no_mount_and_a_warning() -> None:
    outcome, result = run(pod(k8s(), volumes=[hand_written()]), sa(DOWNSTREAM))
    assert outcome.errors == [] and outcome.adopted == ("downstream",)
    assert [v["name"] for v in result["spec"]["volumes"]] == ["federated-token"]
    assert mounts_of(result, "k8s") == [{"name": "federated-token", "mountPath": TOKENS}]
    assert env_of(result, "k8s") == [("DOWNSTREAM_TOKEN_FILE", f"{TOKENS}/federated-token")]
    assert any("adopted" in w and "federated-token" in w for w in outcome.warnings)


def test_an_env_var_already_naming_the_file_counts_as_present() -> None:
    container = k8s(env=[{"name": "KUBE_TOKEN", "value": f"{TOKENS}/federated-token"}])
    outcome, _ = run(pod(container, volumes=[hand_written()]), sa(DOWNSTREAM))
    assert outcome.patch == [] and outcome.errors == [] and outcome.adopted == ("downstream",)


def test_a_second_container_gets_the_hand_written_volume_mounted_not_a_duplicate() -> None:
    obj = pod(k8s(), {"name": "server", "image": "b"}, volumes=[hand_written()])
    outcome, result = run(obj, sa(DOWNSTREAM))
    assert outcome.errors == []
    assert [v["name"] for v in result["spec"]["volumes"]] == ["federated-token"]
    assert mounts_of(result, "server") == [{"name": "federated-token", "readOnly": True, "mountPath": TOKENS}]


@pytest.mark.parametrize(
    ("token", "annotations", "says", "fix"),
    [
        (
            {"expirationSeconds": 7200},
            {},
            "expiration 7200 (wanted 3600)",
            f"{P}/downstream.expiration-seconds='7200'",
        ),
        (
            {},
            {f"{P}/downstream.audience": "other"},
            "audience 'downstream-cluster' (wanted 'other')",
            "audience=",
        ),
    ],
)
def test_a_differing_hand_written_token_is_denied_saying_what_differs_and_both_ways_out(
    token: dict, annotations: dict, says: str, fix: str
) -> None:
    outcome, _ = run(pod(k8s(), volumes=[hand_written(**token)]), sa({**DOWNSTREAM, **annotations}))
    assert len(outcome.errors) == 1, outcome.errors
    error = outcome.errors[0]
    assert says in error and fix in error
    assert "remove that volume" in error and "change the annotations" in error


def test_the_same_audience_at_another_file_is_a_path_difference() -> None:
    outcome, _ = run(pod(k8s("/etc/downstream"), volumes=[hand_written()]), sa(DOWNSTREAM))
    assert len(outcome.errors) == 1
    error = outcome.errors[0]
    assert "file /etc/downstream/federated-token (wanted /var/run/secrets/tokens/federated-token)" in error
    assert f"{P}/downstream.mount-path='/etc/downstream'" in error


def test_a_hand_written_volume_without_our_file_at_our_path_is_denied_with_the_ways_out() -> None:
    outcome, _ = run(pod(k8s(), volumes=[hand_written("vault", "vault")]), sa(DOWNSTREAM))
    assert len(outcome.errors) == 1 and "without token 'downstream'" in outcome.errors[0]


def test_hand_written_token_manifests_render_without_denial_and_without_a_second_volume() -> None:
    result = CliRunner().invoke(main, ["render", str(FIXTURE), "-o", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "adopted" in result.stderr
    assert result.stdout.count('"projected"') == 2  # still one token volume per workload


# ------------------------------------------------------------------------------------------------ scoping


def test_a_token_scoped_to_the_sidecar_reaches_only_the_sidecar() -> None:
    annotations = {
        f"{P}/audience": "vault",
        f"{P}/proxy.audience": "oauth2-proxy",
        f"{P}/proxy.containers": "oauth2-proxy",
    }
    obj = pod({"name": "app", "image": "a"}, {"name": "oauth2-proxy", "image": "b"})
    outcome, result = run(obj, sa(annotations))
    assert outcome.errors == []
    app, proxy = mounts_of(result, "app")[0]["name"], mounts_of(result, "oauth2-proxy")[0]["name"]
    assert app != proxy
    assert [s["serviceAccountToken"]["audience"] for s in volume(result, app)["projected"]["sources"]] == [
        "vault"
    ]
    assert [s["serviceAccountToken"]["audience"] for s in volume(result, proxy)["projected"]["sources"]] == [
        "vault",
        "oauth2-proxy",
    ]
    assert [n for n, _ in env_of(result, "app")] == ["TOKEN_FILE"]
    assert [n for n, _ in env_of(result, "oauth2-proxy")] == ["TOKEN_FILE", "PROXY_TOKEN_FILE"]


def test_per_token_skip_containers_names_init_containers_and_native_sidecars_alike() -> None:
    annotations = {f"{P}/vault.audience": "vault", f"{P}/vault.skip-containers": "setup, mesh"}
    obj = pod(
        {"name": "app", "image": "a"},
        init=({"name": "setup", "image": "s"}, {"name": "mesh", "image": "m", "restartPolicy": "Always"}),
    )
    outcome, result = run(obj, sa(annotations))
    assert outcome.errors == []
    assert mounts_of(result, "setup") == [] and mounts_of(result, "mesh") == []
    assert mounts_of(result, "app")[0]["name"] == VOL


@pytest.mark.parametrize("key", ["vault.containers", "vault.skip-containers"])
def test_an_unknown_container_name_is_a_denial_naming_it(key: str) -> None:
    annotations = {f"{P}/vault.audience": "vault", f"{P}/{key}": "app,sidecr"}
    outcome, _ = run(pod({"name": "app", "image": "a"}, {"name": "sidecar", "image": "b"}), sa(annotations))
    assert len(outcome.errors) == 1
    assert "'sidecr'" in outcome.errors[0] and f"{P}/{key}" in outcome.errors[0]


def test_an_empty_container_list_is_a_denial() -> None:
    outcome, _ = run(pod(), sa({f"{P}/audience": "vault", f"{P}/containers": " , "}))
    assert len(outcome.errors) == 1 and "lists no container" in outcome.errors[0]


def test_scoping_on_the_serviceaccount_is_checked_against_each_pod() -> None:
    account = sa({f"{P}/audience": "vault", f"{P}/containers": "app"})
    assert run(pod({"name": "app", "image": "a"}), account)[0].errors == []
    assert run(pod({"name": "web", "image": "a"}), account)[0].errors  # no cached reading reused


@pytest.mark.parametrize("audience", ["vault,oauth2-proxy", "vault oauth2-proxy"])
def test_an_audience_with_a_comma_or_whitespace_warns(audience: str) -> None:
    outcome, _ = run(pod(), sa({f"{P}/audience": audience}))
    assert outcome.patch and any("two named tokens" in w for w in outcome.warnings)


# ------------------------------------------------------------------------------------------------ opt-outs


@pytest.mark.parametrize("value", ["true", "false", ""])
def test_the_eks_skip_label_leaves_the_pod_alone_whatever_its_value(value: str) -> None:
    obj = pod()
    obj["metadata"]["labels"] = {"eks.amazonaws.com/skip-pod-identity-webhook": value}
    settings = CoreSettings(dialects="generic,eks")
    outcome = mutate_pod(obj, sa({**ROLE, f"{P}/audience": "vault"}), settings)
    assert (
        outcome.patch == []
        and outcome.errors == []
        and "skip-pod-identity-webhook" in (outcome.skipped or "")
    )
    # Without the eks dialect the label is just a label.
    assert mutate_pod(obj, sa({f"{P}/audience": "vault"}), CoreSettings()).patch


@pytest.mark.parametrize("where", ["annotation", "label"])
def test_inject_false_stops_every_dialect(where: str) -> None:
    obj = pod()
    meta = obj["metadata"]
    meta["annotations" if where == "annotation" else "labels"] = {f"{P}/inject": "false"}
    outcome = mutate_pod(obj, sa(ROLE), CoreSettings(dialects="generic,eks"))
    assert outcome.patch == [] and outcome.skipped and "opted out" in outcome.skipped


# ------------------------------------------------------------------------------------------------ readability


def _adopted_pod(default_mode: int | None, pod_sc: dict, *users: int | None) -> dict:
    vol = hand_written()
    if default_mode is not None:
        vol["projected"]["defaultMode"] = default_mode
    containers = [
        k8s(name=f"c{i}", **({"securityContext": {"runAsUser": u}} if u is not None else {}))
        for i, u in enumerate(users)
    ]
    return pod(*containers, volumes=[vol], securityContext=pod_sc)


def _unreadable(obj: dict) -> list[str]:
    outcome, _ = run(obj, sa(DOWNSTREAM))
    assert outcome.errors == []
    return [w for w in outcome.warnings if "cannot read" in w]


def test_a_restrictive_default_mode_with_differing_users_cannot_be_read() -> None:
    warnings = _unreadable(_adopted_pod(0o400, {}, 1000, 2000))
    assert len(warnings) == 2 and "'c0'" in warnings[0] and "fsGroup" in warnings[0]


def test_one_run_as_user_for_all_containers_owns_the_token() -> None:
    assert _unreadable(_adopted_pod(0o400, {"runAsUser": 1000}, None, None)) == []


def test_fs_group_makes_the_token_group_readable() -> None:
    assert _unreadable(_adopted_pod(0o400, {"fsGroup": 3000}, 1000, 2000)) == []


def test_our_own_volumes_are_readable_by_any_user() -> None:
    obj = pod(
        {"name": "a", "image": "a", "securityContext": {"runAsUser": 1000}}, {"name": "b", "image": "b"}
    )
    outcome, _ = run(obj, sa({f"{P}/audience": "vault"}))
    assert not any("cannot read" in w for w in outcome.warnings)


# -------------------------------------------------------------------------------------------- issue 12 item 5


@pytest.mark.parametrize(
    "spelling", ["/var/run//secrets/tokens", "/var/run/./secrets/tokens/", "/var//run/secrets/tokens//"]
)
def test_other_spellings_of_our_mount_path_are_conflicts(spelling: str) -> None:
    obj = pod(
        {"name": "app", "image": "a", "volumeMounts": [{"name": "old", "mountPath": spelling}]},
        volumes=[{"name": "old", "emptyDir": {}}],
    )
    outcome, _ = run(obj, sa({f"{P}/audience": "vault"}))
    assert len(outcome.errors) == 1 and "'old'" in outcome.errors[0]


def test_a_token_mounted_on_another_tokens_file_is_an_error() -> None:
    annotations = {
        f"{P}/audience": "vault",
        f"{P}/path": "vault",
        f"{P}/ci.audience": "ci",
        f"{P}/ci.mount-path": f"{TOKENS}/vault",
    }
    outcome, _ = run(pod(), sa(annotations))
    assert len(outcome.errors) == 1 and f"over token 'token''s file {TOKENS}/vault" in outcome.errors[0]


def test_a_container_mount_on_the_token_file_is_an_error() -> None:
    obj = pod(
        {"name": "app", "image": "a", "volumeMounts": [{"name": "old", "mountPath": f"{TOKENS}//token"}]},
        volumes=[{"name": "old", "emptyDir": {}}],
    )
    outcome, _ = run(obj, sa({f"{P}/audience": "vault"}))
    assert len(outcome.errors) == 1 and "on token 'token''s file" in outcome.errors[0]


@pytest.mark.parametrize("path", [".", "a/", "a//b", "./a"])
def test_token_paths_that_name_no_plain_file_are_refused(path: str) -> None:
    outcome, _ = run(pod(), sa({f"{P}/audience": "vault", f"{P}/path": path}))
    assert len(outcome.errors) == 1 and f"{P}/path" in outcome.errors[0]


@pytest.mark.parametrize(
    "value", ["/", "/../x", "/var/run/secrets/kubernetes.io/serviceaccount", "/var/run/secrets", "relative"]
)
def test_the_default_mount_path_setting_follows_the_annotation_rules(value: str) -> None:
    with pytest.raises(ValidationError, match="mount path"):
        CoreSettings(default_mount_path=value)
    with pytest.raises(ValidationError, match="mount path"):
        CoreSettings(eks_token_mount_path=value)
    outcome, _ = run(pod(), sa({f"{P}/audience": "vault", f"{P}/mount-path": value}))
    assert outcome.errors


def test_a_default_mount_path_with_extra_slashes_is_used_cleaned() -> None:
    _, result = run(pod(), sa({f"{P}/audience": "vault"}), CoreSettings(default_mount_path="/x//y/"))
    assert mounts_of(result, "app")[0]["mountPath"] == "/x/y"


def test_a_token_every_container_is_scoped_out_of_warns_and_is_not_added() -> None:
    annotations = {f"{P}/audience": "vault", f"{P}/ci.audience": "ci", f"{P}/ci.skip-containers": "app"}
    outcome, result = run(pod(), sa(annotations))
    assert any("'ci' goes to no container" in w for w in outcome.warnings)
    audiences = [s["serviceAccountToken"]["audience"] for s in volume(result, VOL)["projected"]["sources"]]
    assert audiences == ["vault"]
