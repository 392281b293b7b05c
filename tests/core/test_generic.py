"""The generic dialect, rule by rule (DESIGN.md), through mutate_pod on real pods.

Every case goes through core_support.run: the patch is applied with jsonpatch, the result validated against
the Kubernetes OpenAPI schema, and a second pass must be empty.
"""

from __future__ import annotations

import pytest

from tests.common import env_of, mounts_of, pod
from tests.core.support import run, sa, volume
from webhook.settings import CoreSettings
from webhook.vocabulary import volume_name_for

P = "projected-token.io"
VAULT = {f"{P}/audience": "vault", f"{P}/expiration-seconds": "7200", f"{P}/path": "oidc-token"}
TOKENS_VOLUME = volume_name_for("/var/run/secrets/tokens")


def test_serviceaccount_default_token_reaches_every_container() -> None:
    obj = pod(
        {"name": "app", "image": "a"}, {"name": "side", "image": "b"}, init=({"name": "init", "image": "c"},)
    )
    outcome, result = run(obj, sa(VAULT))
    assert outcome.dialects == ("generic",)
    assert [(t.name, t.audience, t.expiration_seconds, t.path) for t in outcome.tokens] == [
        ("token", "vault", 7200, "oidc-token")
    ]
    assert volume(result, TOKENS_VOLUME)["projected"]["sources"] == [
        {"serviceAccountToken": {"audience": "vault", "expirationSeconds": 7200, "path": "oidc-token"}}
    ]
    for name in ("app", "side", "init"):
        assert mounts_of(result, name) == [
            {"name": TOKENS_VOLUME, "readOnly": True, "mountPath": "/var/run/secrets/tokens"}
        ]
        assert env_of(result, name) == [("TOKEN_FILE", "/var/run/secrets/tokens/oidc-token")]


def test_named_tokens_get_their_own_env_and_share_the_directory() -> None:
    annotations = {
        f"{P}/downstream.audience": "downstream-cluster",
        f"{P}/downstream.path": "federated-token",
        f"{P}/my-api.audience": "api",
    }
    _, result = run(pod(), sa(annotations))
    assert [v["name"] for v in result["spec"]["volumes"]] == [TOKENS_VOLUME]
    sources = volume(result, TOKENS_VOLUME)["projected"]["sources"]
    assert [(s["serviceAccountToken"]["audience"], s["serviceAccountToken"]["path"]) for s in sources] == [
        ("downstream-cluster", "federated-token"),
        ("api", "my-api"),
    ]
    assert env_of(result, "app") == [
        ("DOWNSTREAM_TOKEN_FILE", "/var/run/secrets/tokens/federated-token"),
        ("MY_API_TOKEN_FILE", "/var/run/secrets/tokens/my-api"),
    ]


def test_tokens_at_different_mount_paths_get_different_volumes() -> None:
    annotations = {**VAULT, f"{P}/aws.audience": "sts.amazonaws.com", f"{P}/aws.mount-path": "/var/run/aws/"}
    outcome, result = run(pod(), sa(annotations))
    names = [v["name"] for v in result["spec"]["volumes"]]
    assert names == [TOKENS_VOLUME, volume_name_for("/var/run/aws")]
    assert {m["mountPath"] for m in mounts_of(result, "app")} == {"/var/run/secrets/tokens", "/var/run/aws"}
    assert ("AWS_TOKEN_FILE", "/var/run/aws/aws") in env_of(result, "app")
    assert outcome.tokens[1].mount_path == "/var/run/aws"  # trailing slash normalised


def test_pod_value_wins_per_field() -> None:
    obj = pod(annotations={f"{P}/expiration-seconds": "900", f"{P}/env": "VAULT_JWT"})
    outcome, result = run(obj, sa(VAULT))
    (token,) = outcome.tokens
    assert (token.audience, token.expiration_seconds, token.path, token.env) == (
        "vault",
        900,
        "oidc-token",
        "VAULT_JWT",
    )
    assert env_of(result, "app") == [("VAULT_JWT", "/var/run/secrets/tokens/oidc-token")]


def test_pod_alone_can_ask_for_a_token() -> None:
    obj = pod(annotations={f"{P}/ci.audience": "ci"})
    outcome, result = run(obj, None)
    assert [t.name for t in outcome.tokens] == ["ci"]
    assert env_of(result, "app") == [("CI_TOKEN_FILE", "/var/run/secrets/tokens/ci")]


@pytest.mark.parametrize("value", ["false", "False", " FALSE "])
def test_inject_false_opts_the_pod_out(value: str) -> None:
    outcome, _ = run(pod(annotations={f"{P}/inject": value}), sa(VAULT))
    assert outcome.patch == [] and outcome.errors == []
    assert outcome.skipped and "inject" in outcome.skipped


def test_inject_must_be_a_boolean() -> None:
    outcome, _ = run(pod(annotations={f"{P}/inject": "no"}), sa(VAULT))
    assert len(outcome.errors) == 1 and f"{P}/inject" in outcome.errors[0]


def test_no_annotations_means_no_patch() -> None:
    outcome, _ = run(pod(annotations={"other.io/x": "1"}), sa({"unrelated": "yes"}))
    assert outcome.patch == [] and outcome.errors == [] and outcome.skipped


@pytest.mark.parametrize("where", ["pod", "serviceaccount"])
def test_skip_containers_leaves_them_untouched(where: str) -> None:
    skip = {f"{P}/skip-containers": "istio-proxy, init"}
    sa_annotations = {**VAULT, **(skip if where == "serviceaccount" else {})}
    obj = pod(
        {"name": "app", "image": "a"},
        {"name": "istio-proxy", "image": "b"},
        init=({"name": "init", "image": "c"},),
        annotations=skip if where == "pod" else None,
    )
    outcome, result = run(obj, sa(sa_annotations))
    assert mounts_of(result, "istio-proxy") == [] and env_of(result, "istio-proxy") == []
    assert mounts_of(result, "init") == [] and env_of(result, "init") == []
    assert env_of(result, "app") == [("TOKEN_FILE", "/var/run/secrets/tokens/oidc-token")]
    assert outcome.warnings == []


def test_skip_containers_naming_a_missing_container_warns() -> None:
    outcome, _ = run(pod(annotations={f"{P}/skip-containers": "nope"}), sa(VAULT))
    assert outcome.patch and any("nope" in w for w in outcome.warnings)


def test_empty_env_disables_the_env_var() -> None:
    outcome, result = run(pod(annotations={f"{P}/env": ""}), sa(VAULT))
    assert env_of(result, "app") == []
    assert mounts_of(result, "app")
    assert not any("/env" in op["path"] for op in outcome.patch)


def test_every_invalid_value_is_reported_at_once() -> None:
    annotations = {
        f"{P}/audience": "vault",
        f"{P}/expiration-seconds": "60",
        f"{P}/mount-path": "relative/dir",
        f"{P}/path": "../escape",
        f"{P}/env": "1BAD",
        f"{P}/colour": "blue",
        f"{P}/x.colour": "blue",
        f"{P}/Bad_Name.audience": "a",
        f"{P}/orphan.path": "file",
    }
    outcome, _ = run(pod(), sa(annotations))
    assert outcome.patch == []
    joined = "\n".join(outcome.errors)
    for key in (
        "expiration-seconds",
        "mount-path",
        f"{P}/path",
        f"{P}/env",
        f"{P}/colour",
        f"{P}/x.colour",
        "Bad_Name",
        f"{P}/orphan.path",
    ):
        assert key in joined, key
    assert len(outcome.errors) == 8
    assert "ServiceAccount default/app" in joined  # says where the value came from


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("600", True),
        ("4294967296", True),
        ("3600", True),
        ("599", False),
        ("4294967297", False),
        ("1h", False),
    ],
)
def test_expiration_range(value: str, ok: bool) -> None:
    outcome, _ = run(pod(), sa({**VAULT, f"{P}/expiration-seconds": value}))
    assert bool(outcome.patch) is ok and bool(outcome.errors) is not ok
    if ok:
        assert outcome.tokens[0].expiration_seconds == int(value)


@pytest.mark.parametrize("path", ["/abs", "a/../b", "..", "..data", ""])
def test_bad_token_paths(path: str) -> None:
    outcome, _ = run(pod(), sa({**VAULT, f"{P}/path": path}))
    assert outcome.errors and f"{P}/path" in outcome.errors[0]


@pytest.mark.parametrize("env", ["TOKEN-FILE", "token.file", "_X", "-x"])
def test_env_names_the_apiserver_accepts(env: str) -> None:
    _, result = run(pod(), sa({**VAULT, f"{P}/env": env}))
    assert env_of(result, "app") == [(env, "/var/run/secrets/tokens/oidc-token")]


@pytest.mark.parametrize("env", ["1X", "A B", ".", "..x", "A=B"])
def test_env_names_the_apiserver_rejects(env: str) -> None:
    outcome, _ = run(pod(), sa({**VAULT, f"{P}/env": env}))
    assert outcome.errors and f"{P}/env" in outcome.errors[0]


def test_default_env_of_a_token_name_starting_with_a_digit_is_an_error() -> None:
    outcome, _ = run(pod(), sa({f"{P}/1st.audience": "a"}))
    assert outcome.errors and f"{P}/1st.env" in outcome.errors[0]


def test_two_tokens_writing_one_file_is_an_error() -> None:
    annotations = {**VAULT, f"{P}/other.audience": "b", f"{P}/other.path": "oidc-token"}
    outcome, _ = run(pod(), sa(annotations))
    assert len(outcome.errors) == 1
    assert (
        "/var/run/secrets/tokens/oidc-token" in outcome.errors[0] and f"{P}/other.path" in outcome.errors[0]
    )


def test_two_tokens_setting_one_env_var_is_an_error() -> None:
    annotations = {**VAULT, f"{P}/other.audience": "b", f"{P}/other.env": "TOKEN_FILE"}
    outcome, _ = run(pod(), sa(annotations))
    assert len(outcome.errors) == 1 and "TOKEN_FILE" in outcome.errors[0]


def test_the_default_token_name_is_reserved() -> None:
    outcome, _ = run(pod(), sa({f"{P}/token.audience": "a"}))
    assert outcome.errors and f"{P}/audience" in outcome.errors[0]


def test_the_serviceaccount_directory_is_refused() -> None:
    outcome, _ = run(
        pod(), sa({**VAULT, f"{P}/mount-path": "/var/run/secrets/kubernetes.io/serviceaccount/"})
    )
    assert outcome.errors and "kube-api-access" in outcome.errors[0]


@pytest.mark.parametrize(
    "spec",
    [
        {"nodeSelector": {"kubernetes.io/os": "windows"}},
        {"os": {"name": "windows"}},
    ],
)
def test_windows_pods_get_windows_paths(spec: dict) -> None:
    _, result = run(pod(**spec), sa(VAULT))
    assert env_of(result, "app") == [("TOKEN_FILE", "C:\\var\\run\\secrets\\tokens\\oidc-token")]
    assert mounts_of(result, "app")[0]["mountPath"] == "/var/run/secrets/tokens"


def test_one_serviceaccount_read_for_many_pods_gives_each_pod_its_own_answer() -> None:
    """The reading of a ServiceAccount is memoised: pods that differ where it matters must not share it."""
    settings, account = CoreSettings(), sa(VAULT)
    _, linux = run(pod(), account, settings)
    _, windows = run(pod(nodeSelector={"kubernetes.io/os": "windows"}), account, settings)
    _, again = run(pod(), account, settings)
    assert env_of(linux, "app") == env_of(again, "app")
    assert env_of(linux, "app") == [("TOKEN_FILE", "/var/run/secrets/tokens/oidc-token")]
    assert env_of(windows, "app") == [("TOKEN_FILE", "C:\\var\\run\\secrets\\tokens\\oidc-token")]
    # A pod's own annotation overrides the memoised reading.
    outcome, _ = run(pod(annotations={f"{P}/audience": "other"}), account, settings)
    assert [t.audience for t in outcome.tokens] == ["other"]
    # A changed ServiceAccount is a new object: its new values apply at once.
    outcome, _ = run(pod(), sa({**VAULT, f"{P}/audience": "vault-2"}), settings)
    assert [t.audience for t in outcome.tokens] == ["vault-2"]
    # Other settings, other reading.
    outcome, _ = run(pod(), account, CoreSettings(default_mount_path="/run/tok"))
    assert [t.file_path for t in outcome.tokens] == ["/run/tok/oidc-token"]
    # skip-containers on the ServiceAccount: the warning depends on each pod's containers.
    skipping = sa({**VAULT, f"{P}/skip-containers": "side"})
    with_side, _ = run(pod({"name": "app", "image": "a"}, {"name": "side", "image": "b"}), skipping, settings)
    without_side, _ = run(pod(), skipping, settings)
    assert with_side.warnings == [] and any("'side'" in w for w in without_side.warnings)


def test_prefix_and_defaults_come_from_settings() -> None:
    settings = CoreSettings(
        annotation_prefix="tokens.example.com", default_mount_path="/run/tok", default_expiration_seconds=1800
    )
    annotations = {"tokens.example.com/audience": "a", **VAULT}  # the default prefix is ignored now
    outcome, result = run(pod(), sa(annotations), settings)
    (token,) = outcome.tokens
    assert (token.audience, token.expiration_seconds, token.file_path) == ("a", 1800, "/run/tok/token")
    assert env_of(result, "app") == [("TOKEN_FILE", "/run/tok/token")]


def test_volume_names_are_deterministic_dns_labels_from_the_mount_path() -> None:
    first, _ = run(pod(), sa(VAULT))
    other_pod = pod()
    other_pod["metadata"] = {"generateName": "web-7d9f-", "namespace": "x"}
    second, _ = run(other_pod, sa(VAULT))
    assert first.patch == second.patch  # nothing depends on the pod's name
    long_path = "/" + "/".join(["Very_Long.Directory"] * 10)
    name = volume_name_for(long_path)
    assert len(name) <= 63 and name.startswith("ptw-") and name[-1] != "-"
    assert name != volume_name_for(long_path + "2")
    _, result = run(pod(), sa({**VAULT, f"{P}/mount-path": long_path}))
    assert result["spec"]["volumes"][0]["name"] == name


def test_unquoted_annotation_values_in_a_manifest_are_refused() -> None:
    outcome, _ = run(pod(annotations={f"{P}/expiration-seconds": 7200}), sa(VAULT))  # type: ignore[dict-item]
    assert outcome.errors and "quote 7200" in outcome.errors[0]
