"""One decision for the server and render (issue 11): shape check, scope, namespaces, ServiceAccount view."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from webhook.admission import MESSAGE_MAX_CHARS, denial_message
from webhook.cli import main
from webhook.decision import DENIED, MUTATED, SKIPPED, decide, pod_shape_problems, subject_of
from webhook.selectors import ScopeError, parse_namespace_labels, parse_selector, scope_from_objects
from webhook.settings import CoreSettings
from webhook.vocabulary import ServiceAccountError, serviceaccount_view

SA = """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: app
  annotations:
    projected-token.io/audience: vault
"""


def render(*args: str, stdin: str | None = None):
    return CliRunner().invoke(main, ["render", *args], input=stdin, catch_exceptions=False)


def pod_yaml(spec: str = "", metadata: str = "", namespace: str | None = None, sa: str = "app") -> str:
    ns = f"  namespace: {namespace}\n" if namespace else ""
    return (
        f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n{ns}{metadata}"
        f"spec:\n  serviceAccountName: {sa}\n  containers:\n  - name: app\n    image: busybox\n{spec}"
    )


def stdin_of(*docs: str) -> str:
    return "---\n".join(docs)


# ------------------------------------------------------------------------------------------ render's scope


def test_a_pod_labelled_inject_false_is_outside_the_shipped_object_selector() -> None:
    labelled = pod_yaml(metadata="  labels:\n    projected-token.io/inject: 'false'\n")
    result = render("-o", "patch", "-", stdin=stdin_of(SA, labelled))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []
    assert "objectSelector (projected-token.io/inject NotIn [false])" in result.stderr
    assert "shipped install" in result.stderr


def test_a_pod_in_kube_system_is_outside_the_shipped_namespace_selector() -> None:
    result = render("-o", "patch", "-", stdin=stdin_of(SA, pod_yaml(namespace="kube-system")))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []
    assert "namespace kube-system is outside the namespaceSelector (kubernetes.io/metadata.name NotIn" in (
        result.stderr
    )


def test_namespace_labels_from_documents_and_the_option_reach_the_namespace_selector() -> None:
    namespace = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n  labels:\n"
    namespace += "    projected-token.io/inject: 'false'\n"
    sa = SA.replace("  name: app\n", "  name: app\n  namespace: team\n")
    result = render("-o", "patch", "-", stdin=stdin_of(namespace, sa, pod_yaml(namespace="team")))
    assert (
        json.loads(result.stdout) == [] and "namespace team is outside the namespaceSelector" in result.stderr
    )
    sa_other = SA.replace("  name: app\n", "  name: app\n  namespace: other\n")
    flagged = render(
        "-o",
        "patch",
        "--namespace-labels",
        "other=projected-token.io/inject=false",
        "-",
        stdin=stdin_of(sa_other, pod_yaml(namespace="other")),
    )
    assert json.loads(flagged.stdout) == [] and "namespace other is outside" in flagged.stderr
    without = render("-o", "patch", "-", stdin=stdin_of(sa_other, pod_yaml(namespace="other")))
    assert len(json.loads(without.stdout)) == 1


def test_webhook_config_replaces_the_shipped_selectors(tmp_path: Path) -> None:
    mwc = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "mine"},
        "webhooks": [
            {
                "name": "mine.example.com",
                "rules": [{"operations": ["CREATE"], "apiGroups": [""], "resources": ["pods"]}],
                "objectSelector": {"matchLabels": {"tokens": "yes"}},
            }
        ],
    }
    config = tmp_path / "mwc.yaml"
    config.write_text(yaml.safe_dump(mwc))
    plain = stdin_of(SA, pod_yaml(namespace="kube-system"))
    result = render("-o", "patch", "--webhook-config", str(config), "-", stdin=plain)
    assert json.loads(result.stdout) == []
    assert "objectSelector (tokens In [yes]) of webhook mine.example.com in" in result.stderr
    labelled = stdin_of(
        SA.replace("  name: app\n", "  name: app\n  namespace: kube-system\n"),
        pod_yaml(namespace="kube-system", metadata="  labels:\n    tokens: 'yes'\n"),
    )
    # kube-system is in no selector of this configuration and no --excluded-namespaces: it is mutated
    result = render("-o", "patch", "--webhook-config", str(config), "-", stdin=labelled)
    assert len(json.loads(result.stdout)) == 1, result.stderr


def test_a_built_install_gives_selectors_and_excluded_namespaces(tmp_path: Path) -> None:
    built = CliRunner().invoke(main, ["manifests", "--namespace", "tokens"], catch_exceptions=False)
    assert built.exit_code == 0, built.output
    install = tmp_path / "install.yaml"
    install.write_text(built.stdout)
    scope = scope_from_objects(yaml.safe_load_all(built.stdout), "install.yaml")
    assert scope.excluded_namespaces == {"kube-system", "tokens"}
    sa = SA.replace("  name: app\n", "  name: app\n  namespace: projected-token-webhook\n")
    result = render(
        "-o",
        "patch",
        "--webhook-config",
        str(install),
        "-",
        stdin=stdin_of(sa, pod_yaml(namespace="projected-token-webhook")),
    )
    assert len(json.loads(result.stdout)) == 1, result.stderr  # that install runs in namespace tokens


def test_excluded_namespaces_option_and_note() -> None:
    sa = SA.replace("  name: app\n", "  name: app\n  namespace: batch\n")
    result = render(
        "-o", "patch", "--excluded-namespaces", "batch", "-", stdin=stdin_of(sa, pod_yaml(namespace="batch"))
    )
    assert json.loads(result.stdout) == []
    assert "namespace batch is in --excluded-namespaces" in result.stderr


def test_selector_semantics_are_the_apiservers() -> None:
    selector = parse_selector(
        {
            "matchLabels": {"a": "1"},
            "matchExpressions": [
                {"key": "b", "operator": "In", "values": ["x", "y"]},
                {"key": "c", "operator": "NotIn", "values": ["z"]},
                {"key": "d", "operator": "Exists"},
                {"key": "e", "operator": "DoesNotExist"},
            ],
        },
        "s",
    )
    assert selector.matches({"a": "1", "b": "x", "d": ""})
    assert selector.matches({"a": "1", "b": "y", "c": "q", "d": "v"})
    assert not selector.matches({"a": "2", "b": "x", "d": ""})
    assert not selector.matches({"a": "1", "b": "x", "c": "z", "d": ""})
    assert not selector.matches({"a": "1", "b": "x"})
    assert not selector.matches({"a": "1", "b": "x", "d": "", "e": ""})
    assert parse_selector({}, "s").matches({}) and parse_selector(None, "s").matches({"k": "v"})
    for bad in (
        {"matchExpressions": [{"key": "k", "operator": "Like", "values": ["v"]}]},
        {"matchExpressions": [{"key": "k", "operator": "In"}]},
        {"matchExpressions": [{"key": "k", "operator": "Exists", "values": ["v"]}]},
        {"matchLabels": {"k": 1}},
    ):
        with pytest.raises(ScopeError):
            parse_selector(bad, "s")
    assert parse_namespace_labels("a=k=v,a=k2=,b=x=y") == {"a": {"k": "v", "k2": ""}, "b": {"x": "y"}}
    with pytest.raises(ScopeError):
        parse_namespace_labels("novalue")


def test_a_bad_webhook_config_is_exit_2_naming_the_file(tmp_path: Path) -> None:
    config = tmp_path / "mwc.yaml"
    config.write_text("kind: ConfigMap\nmetadata:\n  name: x\n")
    result = render("--webhook-config", str(config), "-", stdin=stdin_of(SA, pod_yaml()))
    assert result.exit_code == 2 and f"{config}: no MutatingWebhookConfiguration" in result.stderr


# ------------------------------------------------------------------------------ kubectl's namespace rules


ARGOCD_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: controller
spec:
  serviceAccountName: argocd-application-controller
  containers:
  - name: app
    image: busybox
"""
ARGOCD_SA = """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: argocd-application-controller
  annotations:
    projected-token.io/audience: downstream
"""


def test_namespace_option_sets_the_namespace_of_documents_without_one(tmp_path: Path) -> None:
    sa_file = tmp_path / "sa.yaml"
    sa_file.write_text(
        ARGOCD_SA.replace(
            "  name: argocd-application-controller\n",
            "  name: argocd-application-controller\n  namespace: argocd\n",
        )
    )
    without = render("-o", "patch", "-s", str(sa_file), "-", stdin=ARGOCD_POD)
    assert json.loads(without.stdout) == []
    assert "ServiceAccount default/argocd-application-controller is not in the input" in without.stderr
    with_n = render("-o", "patch", "-n", "argocd", "-s", str(sa_file), "-", stdin=ARGOCD_POD)
    patches = json.loads(with_n.stdout)
    assert [p["namespace"] for p in patches] == ["argocd"], with_n.stderr
    # -n applies to ServiceAccounts without a namespace as well
    both = render("-o", "patch", "-n", "argocd", "-", stdin=stdin_of(ARGOCD_SA, ARGOCD_POD))
    assert len(json.loads(both.stdout)) == 1, both.stderr


def test_the_default_serviceaccount_exists_unannotated_in_every_namespace() -> None:
    annotated = pod_yaml(sa="default", metadata="  annotations:\n    projected-token.io/audience: vault\n")
    result = render("-o", "patch", "-n", "team", "-", stdin=annotated)
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.stdout)
    assert entry["namespace"] == "team"
    plain = render("-o", "patch", "-", stdin=pod_yaml(sa="default"))
    assert plain.exit_code == 0 and json.loads(plain.stdout) == [] and "not in the input" not in plain.stderr
    subject = subject_of({"spec": {"containers": []}}, "team")
    assert subject.serviceaccount == "default"
    assert decide({"spec": {"containers": []}}, subject, None, CoreSettings()).outcome == SKIPPED


def test_pod_annotations_count_in_key_order_as_the_apiserver_sends_them() -> None:
    # The apiserver stores annotations as a map: its reviews list them sorted, whatever the manifest's order.
    keys = [
        "projected-token.io/vault.audience: vault\n",
        "projected-token.io/audience: sts\n",
        "projected-token.io/Bad_Name.audience: x\n",
        "projected-token.io/token.audience: y\n",
    ]

    def patch_or_errors(order: list[str]) -> tuple[int, str]:
        metadata = "  annotations:\n" + "".join(f"    {k}" for k in order)
        result = render("-o", "patch", "-", stdin=pod_yaml(sa="default", metadata=metadata))
        return result.exit_code, result.stdout + result.stderr

    denied = patch_or_errors(keys)
    assert denied[0] == 1 and denied == patch_or_errors(sorted(keys))
    assert denied[1].index("Bad_Name") < denied[1].index("'token' is the default token")
    valid = keys[:2]
    mutated = patch_or_errors(valid)
    assert mutated[0] == 0 and mutated == patch_or_errors(valid[::-1])
    assert mutated[1].index('"sts"') < mutated[1].index('"vault"')


# ------------------------------------------------------------------------------- the shape check in render


SHAPES = {
    "metadata must be an object, got array": (
        "apiVersion: v1\nkind: Pod\nmetadata: [1, 2]\nspec:\n  containers:\n  - name: a\n    image: b\n"
    ),
    "spec.nodeSelector must be an object, got array": pod_yaml("  nodeSelector: [a]\n"),
    "spec.serviceAccountName must be a string, got number": pod_yaml(sa="5"),
    "spec.serviceAccountName must be a string, got array": pod_yaml(sa="[a, b]"),
    "metadata.name must be a string, got array": pod_yaml().replace("  name: p\n", "  name: [p]\n"),
    "spec.containers[0].name must be a string, got array": pod_yaml().replace(
        "  - name: app\n", "  - name: [app]\n"
    ),
    "spec.volumes['t'].projected.sources[0] must be an object, got null": pod_yaml(
        "  volumes:\n  - name: t\n    projected:\n      sources: [null]\n"
    ),
    "spec.volumes['t'].projected.sources[0].serviceAccountToken must be an object, got null": pod_yaml(
        "  volumes:\n  - name: t\n    projected:\n      sources:\n      - serviceAccountToken: null\n"
    ),
    "spec.volumes['t'].projected.sources[0].serviceAccountToken.path must be a string, got array": pod_yaml(
        "  volumes:\n  - name: t\n    projected:\n      sources:\n      - serviceAccountToken: {path: [a]}\n"
    ),
}


@pytest.mark.parametrize("needle", sorted(SHAPES))
def test_malformed_templates_are_denied_with_the_servers_text(needle: str) -> None:
    result = render("-", stdin=stdin_of(SA, SHAPES[needle]))
    assert result.exit_code == 1, result.output
    assert f"malformed pod: {needle}" in result.stderr, result.stderr
    assert "Traceback" not in result.output


def test_env_as_a_mapping_is_denied_not_replaced() -> None:
    env = pod_yaml().replace("    image: busybox\n", "    image: busybox\n    env: {A: b}\n")
    result = render("-", stdin=stdin_of(SA, env))
    assert result.exit_code == 1, result.output
    assert "malformed pod: spec.containers['app'].env must be an array, got object" in result.stderr


def test_our_volume_with_a_null_or_non_string_token_is_denied_in_the_core() -> None:
    from webhook.vocabulary import volume_name_for

    name = volume_name_for("/var/run/secrets/tokens")
    for token, needle in (
        ("null", "must be an object, got null"),
        ("{path: 5}", "path must be a string, got number"),
    ):
        volume = f"  volumes:\n  - name: {name}\n    projected:\n      sources:\n"
        text = pod_yaml(volume + f"      - serviceAccountToken: {token}\n")
        result = render("-", stdin=stdin_of(SA, text))
        assert result.exit_code == 1 and needle in result.stderr, result.output


def test_huge_expirations_are_a_denial_naming_the_annotation() -> None:
    digits = "9" * 5000
    annotated = pod_yaml(metadata=f"  annotations:\n    projected-token.io/expiration-seconds: '{digits}'\n")
    result = render("-", stdin=stdin_of(SA, annotated))
    assert result.exit_code == 1, result.output
    assert "projected-token.io/expiration-seconds" in result.stderr and "out of range" in result.stderr
    padded = pod_yaml(
        metadata=f"  annotations:\n    projected-token.io/expiration-seconds: '{'0' * 5000}7200'\n"
    )
    assert render("-o", "patch", "-", stdin=stdin_of(SA, padded)).exit_code == 0


def test_huge_eks_expirations_are_ignored_with_a_warning_as_the_eks_webhook_does() -> None:
    eks_sa = SA.replace(
        "    projected-token.io/audience: vault\n",
        "    eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/app\n"
        f"    eks.amazonaws.com/token-expiration: '{'9' * 5000}'\n",
    )
    result = render("--dialects", "eks", "-o", "patch", "-", stdin=stdin_of(eks_sa, pod_yaml()))
    assert result.exit_code == 0, result.output
    assert (
        "token-expiration on the ServiceAccount" in result.stderr
        and "is no integer; using 86400" in result.stderr
    )
    (entry,) = json.loads(result.stdout)
    assert '"expirationSeconds": 86400' in json.dumps(entry["patch"]).replace('":', '": ').replace(
        ":  ", ": "
    )
    int64 = eks_sa.replace("9" * 5000, str(2**63))
    assert "is no integer" in render("--dialects", "eks", "-", stdin=stdin_of(int64, pod_yaml())).stderr


def test_shape_check_is_one_function_for_both_shells() -> None:
    from webhook import admission, server

    assert not hasattr(admission, "pod_shape_problems")
    assert (
        "decision" in server.Webhook.__init__.__code__.co_names
        or "decision" in server.Webhook.__init__.__code__.co_varnames
    )
    assert pod_shape_problems({"spec": {"containers": []}}) == []
    assert (
        decide(
            {"spec": {"containers": [], "nodeSelector": ["a"]}},
            subject_of({"spec": {"containers": [], "nodeSelector": ["a"]}}),
            None,
            CoreSettings(),
        ).outcome
        == DENIED
    )


# ----------------------------------------------------------------------------- one ServiceAccount view


def test_a_non_string_serviceaccount_annotation_is_an_error_naming_it(tmp_path: Path) -> None:
    unquoted = SA + "    projected-token.io/expiration-seconds: 7200\n"
    result = render("-", stdin=stdin_of(unquoted, pod_yaml()))
    assert result.exit_code == 2, result.output
    assert (
        "ServiceAccount default/app: annotation 'projected-token.io/expiration-seconds' must be a string"
        in (result.stderr)
    )
    sa_file = tmp_path / "sa.yaml"
    sa_file.write_text(unquoted)
    flagged = render("-s", str(sa_file), "-", stdin=pod_yaml())
    assert flagged.exit_code == 2 and f"{sa_file}:1: ServiceAccount default/app" in flagged.stderr

    from webhook.serviceaccounts import StaticFileSource

    with pytest.raises(
        Exception, match=r"annotation 'projected-token\.io/expiration-seconds' must be a string"
    ):
        StaticFileSource(sa_file)


def test_the_serviceaccount_view_is_one_constructor() -> None:
    obj = {"metadata": {"name": "a", "annotations": {"projected-token.io/audience": "x", "other/k": "v"}}}
    full = serviceaccount_view(obj)
    assert (
        full is not None
        and full.namespace == "default"
        and dict(full.annotations) == obj["metadata"]["annotations"]
    )
    slim = serviceaccount_view(obj, ("projected-token.io/",), default_namespace="ns")
    assert (
        slim is not None
        and slim.namespace == "ns"
        and dict(slim.annotations) == {"projected-token.io/audience": "x"}
    )
    assert serviceaccount_view({"metadata": {}}) is None
    with pytest.raises(ServiceAccountError, match="'other/k'"):
        serviceaccount_view({"metadata": {"name": "a", "annotations": {"other/k": True}}})


# ------------------------------------------------------------------------------------- the denial's bound


def test_a_denial_message_is_bounded() -> None:
    problems = [f"{'x' * 40} problem {i}" for i in range(20_000)]
    message = denial_message(problems)
    assert len(message) <= MESSAGE_MAX_CHARS
    assert message.startswith(problems[0]) and message.endswith("more problem(s)")
    kept = message.count(" problem ")  # "more problem(s)" is not counted
    assert f"... and {20_000 - kept} more problem(s)" in message
    assert len(denial_message(["y" * 100_000])) <= MESSAGE_MAX_CHARS
    assert denial_message(["a", "b"]) == "a; b"


def test_mutation_still_happens_through_decide() -> None:
    pod = {
        "metadata": {"annotations": {"projected-token.io/audience": "x"}},
        "spec": {"containers": [{"name": "a"}]},
    }
    decided = decide(pod, subject_of(pod), None, CoreSettings())
    assert decided.outcome == MUTATED and decided.ops


def test_a_workload_with_a_non_string_namespace_is_denied() -> None:
    workload = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n  namespace: [a]\nspec:\n  template:\n"
        "    spec:\n      serviceAccountName: app\n      containers:\n      - name: a\n"
    )
    result = render("-", stdin=stdin_of(SA, workload))
    assert result.exit_code == 1, result.output
    assert "malformed object: metadata.namespace must be a string" in result.stderr


def test_argocd_annotate_output_renders_the_argocd_install_with_its_namespace(tmp_path: Path) -> None:
    install = (
        Path(__file__).resolve().parents[2]
        / ".."
        / "shared"
        / "fixtures"
        / "argocd"
        / "namespace-install.yaml"
    )
    if not install.exists():
        pytest.skip("../shared/fixtures/argocd/namespace-install.yaml is absent")
    annotations = CliRunner().invoke(main, ["argocd", "annotate"], catch_exceptions=False)
    assert annotations.exit_code == 0, annotations.output
    sas = tmp_path / "annotations.yaml"
    sas.write_text(annotations.stdout)
    without = render("-o", "patch", str(install), "-s", str(sas))
    assert json.loads(without.stdout) == []  # the install's documents have no namespace: default
    result = render("-o", "patch", "-n", "argocd", str(install), "-s", str(sas))
    assert result.exit_code == 0, result.output
    changed = {(entry["kind"], entry["name"], entry["namespace"]) for entry in json.loads(result.stdout)}
    assert changed == {
        ("StatefulSet", "argocd-application-controller", "argocd"),
        ("Deployment", "argocd-server", "argocd"),
    }


def test_the_fast_shape_check_never_passes_what_the_careful_one_refuses() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from webhook.decision import _plain_shape_ok, _shape_problems

    leaves = st.none() | st.booleans() | st.integers() | st.text(max_size=3) | st.just("app")
    values = st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(
                st.sampled_from(["name", "value", "mountPath", "subPath", "a"]), children, max_size=3
            )
        ),
        max_leaves=8,
    )
    container = st.fixed_dictionaries(
        {"name": st.sampled_from(["app", 1])},
        optional={
            "env": st.lists(
                st.fixed_dictionaries({"name": st.just("A")}, optional={"value": values}), max_size=2
            )
            | values,
            "volumeMounts": st.lists(
                st.fixed_dictionaries({"name": st.just("m"), "mountPath": st.just("/x") | values}), max_size=2
            )
            | values,
            "restartPolicy": values,
        },
    )
    spec = st.fixed_dictionaries(
        {},
        optional={
            "containers": st.lists(container, max_size=2) | values,
            "initContainers": st.lists(container, max_size=1) | values,
            "serviceAccountName": values,
            "nodeSelector": values,
            "os": values,
            "volumes": st.lists(st.fixed_dictionaries({"name": st.just("v") | values}), max_size=2) | values,
        },
    )
    pods = st.fixed_dictionaries(
        {},
        optional={
            "metadata": st.fixed_dictionaries({}, optional={"labels": values, "name": values}) | values,
            "spec": spec | values,
        },
    )

    @settings(max_examples=500, deadline=None, database=None, derandomize=True)
    @given(pods)
    def agree(pod: dict) -> None:
        if _plain_shape_ok(pod):
            assert _shape_problems(pod) == [], pod

    agree()
