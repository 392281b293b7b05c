"""`webhook downstream authn-config|rbac`: the downstream apiserver's trust, RBAC for upstream users."""

from __future__ import annotations

import base64
import shlex
from pathlib import Path

import kubernetes_validate
import pytest
from ruamel.yaml import YAML

from tests.federation.support import assert_one_line_error

K8S_VERSION = "1.36.0"
ISSUER = "https://upstream.example.com"


def authn(run, *args: str):
    return run("downstream", "authn-config", "--issuer", ISSUER, "--audience", "downstream-cluster", *args)


def test_authn_config_v1(run, ca_file: Path) -> None:
    result = authn(run, "--username-prefix", "upstream:", "--ca-file", str(ca_file))
    assert result.exit_code == 0, result.output
    assert YAML(typ="safe").load(result.stdout) == {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AuthenticationConfiguration",
        "jwt": [
            {
                "issuer": {
                    "url": ISSUER,
                    "certificateAuthority": ca_file.read_text(),
                    "audiences": ["downstream-cluster"],
                },
                "claimMappings": {"username": {"claim": "sub", "prefix": "upstream:"}},
                "userValidationRules": [
                    {
                        "expression": "!user.username.startsWith('system:')",
                        "message": "username must not use the reserved system: prefix",
                    }
                ],
            }
        ],
    }
    assert "certificateAuthority: |" in result.stdout  # PEM as a readable literal block
    assert (
        "note: the RBAC username is prefix+sub literally: User 'upstream:system:serviceaccount:NS:NAME'"
        in (result.stderr)
    )


def test_authn_config_v1beta1_discovery_and_audiences(run) -> None:
    result = authn(
        run,
        "--audience",
        "greenhouse",
        "--username-prefix",
        "greenhouse-",
        "--discovery-url",
        "https://static.example.com/c1/.well-known/openid-configuration",
        "--format",
        "v1beta1",
    )
    assert result.exit_code == 0, result.output
    doc = YAML(typ="safe").load(result.stdout)
    assert doc["apiVersion"] == "apiserver.config.k8s.io/v1beta1"
    issuer = doc["jwt"][0]["issuer"]
    assert issuer == {
        "url": ISSUER,
        "discoveryURL": "https://static.example.com/c1/.well-known/openid-configuration",
        "audiences": ["downstream-cluster", "greenhouse"],
        "audienceMatchPolicy": "MatchAny",
    }
    assert doc["jwt"][0]["claimMappings"]["username"]["prefix"] == "greenhouse-"


def test_prefix_without_separator_is_accepted_with_a_warning(run) -> None:
    result = authn(run, "--username-prefix", "upstream")
    assert result.exit_code == 0
    assert "'upstreamsystem:serviceaccount:NS:NAME'" in result.stderr
    assert "has no trailing separator" in result.stderr


def test_oidc_flags(run, ca_file: Path) -> None:
    result = authn(
        run,
        "--username-prefix",
        "upstream-cluster-oidc:",
        "--ca-file",
        str(ca_file),
        "--format",
        "oidc-flags",
    )
    assert result.exit_code == 0, result.output
    assert [shlex.split(line)[0] for line in result.stdout.splitlines()] == [
        f"--oidc-issuer-url={ISSUER}",
        "--oidc-client-id=downstream-cluster",
        "--oidc-username-claim=sub",
        "--oidc-username-prefix=upstream-cluster-oidc:",
        f"--oidc-ca-file={ca_file.resolve()}",
    ]


def test_gardener_openidconnect(run, ca_file: Path) -> None:
    result = authn(
        run, "--username-prefix", "upstream-cluster-oidc:", "--ca-file", str(ca_file), "--format", "gardener"
    )
    assert result.exit_code == 0, result.output
    doc = YAML(typ="safe").load(result.stdout)
    assert doc == {
        "apiVersion": "authentication.gardener.cloud/v1alpha1",
        "kind": "OpenIDConnect",
        "metadata": {"name": "upstream-cluster-oidc"},
        "spec": {
            "issuerURL": ISSUER,
            "clientID": "downstream-cluster",
            "usernameClaim": "sub",
            "usernamePrefix": "upstream-cluster-oidc:",
            "caBundle": base64.b64encode(ca_file.read_bytes()).decode(),
        },
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--username-prefix", ""], "--username-prefix must not be empty"),
        (
            ["--username-prefix", "system:"],
            "--username-prefix 'system:' makes usernames start with 'system:'",
        ),
        (["--username-prefix", "system:up:"], "makes usernames start with 'system:'"),
        (["--username-prefix", "up stream:"], "must not contain whitespace"),
        (
            ["--username-prefix", "u:", "--issuer", "http://up.example"],
            "--issuer 'http://up.example' must be an",
        ),
        (["--username-prefix", "u:", "--issuer", "https://up.example?a=b"], "must not contain a query"),
        (["--username-prefix", "u:", "--issuer", "https://up.example#frag"], "must not contain a fragment"),
        (["--username-prefix", "u:", "--issuer", "https://me@up.example"], "must not contain user info"),
        (["--username-prefix", "u:", "--audience", ""], "--audience must be given and not be empty"),
        (
            ["--username-prefix", "u:", "--audience", "downstream-cluster"],
            "--audience values must be distinct",
        ),
        (
            ["--username-prefix", "u:", "--discovery-url", "http://x/"],
            "--discovery-url 'http://x/' must be an",
        ),
        (
            ["--username-prefix", "u:", "--discovery-url", ISSUER + "/"],
            "--discovery-url must differ from --issuer",
        ),
        (["--username-prefix", "u:", "--ca-file", "/nonexistent"], "CA file /nonexistent: no such file"),
        (["--username-prefix", "u:", "--format", "oidc-flags", "--audience", "b"], "exactly one --audience"),
        (
            ["--username-prefix", "u:", "--format", "oidc-flags", "--discovery-url", "https://d/x"],
            "no --oidc-*",
        ),
        (
            ["--username-prefix", "u:", "--format", "gardener", "--discovery-url", "https://d/x"],
            "not supported by",
        ),
        (["--username-prefix", "-", "--format", "gardener"], "'-' disables prefixing in Gardener"),
        (["--username-prefix", "u:", "--format", "gardener", "--name", "Bad"], "--name 'Bad' is not a valid"),
    ],
)
def test_authn_config_errors(run, args: list[str], message: str) -> None:
    result = run(
        "downstream",
        "authn-config",
        *(["--issuer", ISSUER] if "--issuer" not in args else []),
        "--audience",
        "downstream-cluster",
        *args,
    )
    assert_one_line_error(result, message)


def test_rbac_default_role_lists_pods_and_manages_deployments(run) -> None:
    result = run(
        "downstream",
        "rbac",
        "--username-prefix",
        "argocd-cluster-oidc:",
        "-n",
        "demo",
        "--serviceaccount",
        "argocd/argocd-application-controller",
        "--serviceaccount",
        "argocd/argocd-server",
    )
    assert result.exit_code == 0, result.output
    role, binding = YAML(typ="safe").load_all(result.stdout)
    for doc in (role, binding):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert role["metadata"] == {"name": "kubernetes-oidc-role", "namespace": "demo"}
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "watch", "list"]},
        {
            "apiGroups": ["apps"],
            "resources": ["deployments"],
            "verbs": ["get", "watch", "list", "create", "update", "delete"],
        },
    ]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "kubernetes-oidc-role",
    }
    assert [s["name"] for s in binding["subjects"]] == [
        "argocd-cluster-oidc:system:serviceaccount:argocd:argocd-application-controller",
        "argocd-cluster-oidc:system:serviceaccount:argocd:argocd-server",
    ]
    assert all(
        s["kind"] == "User" and s["apiGroup"] == "rbac.authorization.k8s.io" for s in binding["subjects"]
    )


def test_rbac_custom_rules(run) -> None:
    result = run(
        "downstream",
        "rbac",
        "--username-prefix",
        "up-",
        "-n",
        "demo",
        "--serviceaccount",
        "a/b",
        "--resource",
        "pods",
        "--resource",
        "apps/deployments",
        "--resource",
        "apps/statefulsets",
        "--verbs",
        "get,list",
        "--name",
        "reader",
    )
    assert result.exit_code == 0, result.output
    role, binding = YAML(typ="safe").load_all(result.stdout)
    kubernetes_validate.validate(role, K8S_VERSION, strict=True)
    assert role["metadata"]["name"] == "reader-role" and binding["metadata"]["name"] == "reader-binding"
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
        {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets"], "verbs": ["get", "list"]},
    ]
    assert binding["subjects"][0]["name"] == "up-system:serviceaccount:a:b"


def test_rbac_existing_role_and_cluster_roles(run) -> None:
    sa = ["--username-prefix", "greenhouse:", "--serviceaccount", "org/cluster-1"]
    (only,) = YAML(typ="safe").load_all(
        run("downstream", "rbac", *sa, "-n", "demo", "--role", "edit-apps").stdout
    )
    assert (
        only["kind"] == "RoleBinding"
        and only["roleRef"]["kind"] == "Role"
        and only["roleRef"]["name"] == "edit-apps"
    )
    (only,) = YAML(typ="safe").load_all(
        run("downstream", "rbac", *sa, "-n", "demo", "--cluster-role", "view").stdout
    )
    assert only["kind"] == "RoleBinding" and only["roleRef"]["kind"] == "ClusterRole"
    result = run(
        "downstream", "rbac", *sa, "--cluster-role", "cluster-admin", "--name", "greenhouse-cluster-1"
    )
    (crb,) = YAML(typ="safe").load_all(result.stdout)
    kubernetes_validate.validate(crb, K8S_VERSION, strict=True)
    assert crb["kind"] == "ClusterRoleBinding" and "namespace" not in crb["metadata"]
    assert crb["subjects"] == [
        {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "User",
            "name": "greenhouse:system:serviceaccount:org:cluster-1",
        }
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--username-prefix", "", "-n", "d", "--serviceaccount", "a/b"],
            "--username-prefix must not be empty",
        ),
        (
            ["--username-prefix", "system:", "-n", "d", "--serviceaccount", "a/b"],
            "makes usernames start with",
        ),
        (
            ["--username-prefix", "u:", "-n", "d", "--serviceaccount", "ab"],
            "--serviceaccount 'ab' must be NAMESPACE/NAME",
        ),
        (
            ["--username-prefix", "u:", "-n", "d", "--serviceaccount", "a/B"],
            "'B' is not a valid ServiceAccount name",
        ),
        (["--username-prefix", "u:", "--serviceaccount", "a/b"], "--namespace is required"),
        (["--username-prefix", "u:", "-n", "D", "--serviceaccount", "a/b"], "--namespace 'D' is not a valid"),
        (
            [
                "--username-prefix",
                "u:",
                "-n",
                "d",
                "--serviceaccount",
                "a/b",
                "--role",
                "r",
                "--cluster-role",
                "c",
            ],
            "mutually exclusive",
        ),
        (
            [
                "--username-prefix",
                "u:",
                "-n",
                "d",
                "--serviceaccount",
                "a/b",
                "--role",
                "r",
                "--verbs",
                "get",
            ],
            "mutually exclusive",
        ),
        (
            ["--username-prefix", "u:", "-n", "d", "--serviceaccount", "a/b", "--verbs", "get,,list"],
            "--verbs",
        ),
        (
            ["--username-prefix", "u:", "-n", "d", "--serviceaccount", "a/b", "--resource", "a/b/c"],
            "--resource 'a/b/c'",
        ),
    ],
)
def test_rbac_errors(run, args: list[str], message: str) -> None:
    assert_one_line_error(run("downstream", "rbac", *args), message)
