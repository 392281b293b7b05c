"""`webhook argocd patches|annotate|cluster-secret`: token patches, annotations, cluster Secret."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
from ruamel.yaml import YAML

from tests.common import FIXTURES
from tests.federation.support import assert_one_line_error
from webhook.federation import argocd
from webhook.mutate import mutate_pod
from webhook.settings import CoreSettings
from webhook.vocabulary import ServiceAccountInfo

K8S_VERSION = "1.36.0"
ARGOCD_INSTALL = FIXTURES / "argocd" / "namespace-install.yaml"
KUBECTL = shutil.which("kubectl")


def argocd_workloads() -> dict[str, dict]:
    if not ARGOCD_INSTALL.is_file():
        pytest.skip(f"ArgoCD fixture {ARGOCD_INSTALL} absent")
    docs = YAML(typ="safe").load_all(ARGOCD_INSTALL.read_text())
    return {
        d["metadata"]["name"]: d
        for d in docs
        if d
        and d.get("kind") in ("StatefulSet", "Deployment")
        and d["metadata"]["name"] in ("argocd-application-controller", "argocd-server")
    }


def test_patch_mounts_one_token_volume_in_the_named_container() -> None:
    patch = argocd.token_patch("argocd-application-controller", audience="downstream-cluster")
    assert patch == {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "argocd-application-controller",
                            "volumeMounts": [
                                {
                                    "name": "federated-token",
                                    "mountPath": "/var/run/secrets/tokens",
                                    "readOnly": True,
                                }
                            ],
                        }
                    ],
                    "volumes": [
                        {
                            "name": "federated-token",
                            "projected": {
                                "sources": [
                                    {
                                        "serviceAccountToken": {
                                            "path": "federated-token",
                                            "audience": "downstream-cluster",
                                        }
                                    }
                                ]
                            },
                        }
                    ],
                }
            }
        }
    }


def test_patches_command_writes_both_files(run, tmp_path: Path) -> None:
    result = run(
        "argocd", "patches", "--audience", "aud-x", "--expiration-seconds", "7200", "--out-dir", str(tmp_path)
    )
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["argocd-application-controller-token-patch.yaml", "argocd-server-token-patch.yaml"]
    server = YAML(typ="safe").load((tmp_path / "argocd-server-token-patch.yaml").read_text())
    source = server["spec"]["template"]["spec"]["volumes"][0]["projected"]["sources"][0][
        "serviceAccountToken"
    ]
    assert source == {"path": "federated-token", "audience": "aud-x", "expirationSeconds": 7200}
    assert server["spec"]["template"]["spec"]["containers"][0]["name"] == "argocd-server"
    assert "kubectl -n argocd patch deployment argocd-server" in result.stderr


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")
@pytest.mark.parametrize("workload", ["argocd-application-controller", "argocd-server"])
def test_patches_apply_to_the_real_argocd_workloads(run, tmp_path: Path, workload: str) -> None:
    """kubectl's strategic merge (offline) keeps ArgoCD's mounts and adds ours; schema-valid result."""
    original = argocd_workloads()[workload]
    (tmp_path / "workload.json").write_text(json.dumps(original))
    assert run("argocd", "patches", "--out-dir", str(tmp_path)).exit_code == 0
    patched = json.loads(
        subprocess.run(
            [
                KUBECTL,
                "patch",
                "--local",
                "-f",
                str(tmp_path / "workload.json"),
                "-o",
                "json",
                "--type=strategic",
                "--patch-file",
                str(tmp_path / f"{workload}-token-patch.yaml"),
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    )
    kubernetes_validate.validate(patched, K8S_VERSION, strict=True)
    spec = patched["spec"]["template"]["spec"]
    before = original["spec"]["template"]["spec"]
    assert len(spec["containers"]) == len(before["containers"])  # merged by name, no stray container
    container = next(c for c in spec["containers"] if c["name"] == workload)
    old = next(c for c in before["containers"] if c["name"] == workload)
    assert {m["name"] for m in container["volumeMounts"]} == {m["name"] for m in old["volumeMounts"]} | {
        "federated-token"
    }
    assert {"name": "federated-token", "mountPath": "/var/run/secrets/tokens", "readOnly": True} in container[
        "volumeMounts"
    ]
    assert {v["name"] for v in spec["volumes"]} == {v["name"] for v in before["volumes"]} | {
        "federated-token"
    }


def test_annotations_make_the_core_mount_the_same_file() -> None:
    """The webhook's own core turns the generated annotations into /var/run/secrets/tokens/federated-token."""
    annotations = argocd.serviceaccount_annotations(audience="downstream-cluster")
    assert annotations == {
        "projected-token.io/downstream.audience": "downstream-cluster",
        "projected-token.io/downstream.path": "federated-token",
    }
    template = argocd_workloads()["argocd-application-controller"]["spec"]["template"]
    sa = ServiceAccountInfo("argocd", "argocd-application-controller", annotations)
    outcome = mutate_pod(template, sa, CoreSettings())
    assert outcome.errors == []
    assert [t.file_path for t in outcome.tokens] == ["/var/run/secrets/tokens/federated-token"]
    assert [t.audience for t in outcome.tokens] == ["downstream-cluster"]


def test_annotations_default_token_custom_prefix_and_mount_path() -> None:
    annotations = argocd.serviceaccount_annotations(
        audience="a",
        mount_path="/tokens/",
        path="sub/t",
        token_name=None,
        prefix="example.org",
        expiration_seconds=7200,
        env="",
    )
    assert annotations == {
        "example.org/audience": "a",
        "example.org/path": "t",
        "example.org/mount-path": "/tokens/sub",
        "example.org/expiration-seconds": "7200",
        "example.org/env": "",
    }
    settings = CoreSettings(annotation_prefix="example.org")
    template = {"metadata": {}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    outcome = mutate_pod(template, ServiceAccountInfo("ns", "sa", annotations), settings)
    assert outcome.errors == [] and [t.file_path for t in outcome.tokens] == ["/tokens/sub/t"]


def test_annotate_command_prints_serviceaccounts(run) -> None:
    result = run("argocd", "annotate", "-n", "ops")
    assert result.exit_code == 0, result.output
    docs = list(YAML(typ="safe").load_all(result.stdout))
    assert [(d["kind"], d["metadata"]["namespace"], d["metadata"]["name"]) for d in docs] == [
        ("ServiceAccount", "ops", "argocd-application-controller"),
        ("ServiceAccount", "ops", "argocd-server"),
    ]
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert "/var/run/secrets/tokens/federated-token" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--audience", ""], "--audience must not be empty"),
        (["--mount-path", "tokens"], "--mount-path 'tokens' must be absolute"),
        (["--path", "../x"], "--path '../x' must be a relative file name"),
        (["--token-name", "Bad_Name"], "--token-name 'Bad_Name' must be a DNS-1123 label"),
        (["--prefix", "a/b"], "--prefix 'a/b' must be a non-empty DNS prefix"),
        (["--expiration-seconds", "60"], "--expiration-seconds 60 out of range"),
    ],
)
def test_annotate_errors(run, args: list[str], message: str) -> None:
    assert_one_line_error(run("argocd", "annotate", *args), message)


def test_patches_errors(run) -> None:
    assert_one_line_error(run("argocd", "patches", "--volume-name", "Fed"), "--volume-name 'Fed'")
    assert_one_line_error(run("argocd", "patches", "--path", "/abs"), "--path '/abs'")


def secret_config(secret: dict) -> dict:
    return json.loads(secret["stringData"]["config"])


def test_cluster_secret_shape(run, ca_file: Path) -> None:
    result = run(
        "argocd",
        "cluster-secret",
        "--name",
        "downstream-cluster",
        "--server",
        "https://downstream-cluster.example.com",
        "--ca-file",
        str(ca_file),
    )
    assert result.exit_code == 0, result.output
    secret = YAML(typ="safe").load(result.stdout)
    kubernetes_validate.validate(secret, K8S_VERSION, strict=True)
    assert secret["metadata"] == {
        "name": "downstream-cluster-secret",
        "namespace": "argocd",
        "labels": {"argocd.argoproj.io/secret-type": "cluster"},
    }
    assert secret["stringData"]["name"] == "downstream-cluster"
    assert secret["stringData"]["server"] == "https://downstream-cluster.example.com"
    config = secret_config(secret)
    assert base64.b64decode(config["tlsClientConfig"]["caData"]) == ca_file.read_bytes()
    assert config["tlsClientConfig"]["insecure"] is False
    provider = config["execProviderConfig"]
    assert provider["command"] == "bash" and provider["args"][0] == "-c"
    assert provider["apiVersion"] == "client.authentication.k8s.io/v1"
    assert result.stderr == ""


def run_exec_provider(provider: dict) -> subprocess.CompletedProcess[str]:
    """Run the exec provider as ArgoCD (client-go) does: argv = command + args, no shell around it."""
    return subprocess.run(
        [provider["command"], *provider["args"]], capture_output=True, text=True, timeout=30, check=False
    )


@pytest.mark.parametrize("dirname", ["tokens", "dir with spaces", 'it\'s "quoted" $HOME `x`'])
def test_cluster_secret_bash_command_emits_an_exec_credential(
    tmp_path: Path, make_token, ca_file, dirname
) -> None:
    token = make_token()
    token_file = tmp_path / dirname / "federated-token"
    token_file.parent.mkdir()
    token_file.write_text(token + "\n")  # kubelet writes no newline; a hand-made file may have one
    secret = argocd.cluster_secret(
        name="d", server="https://d.example", ca_pem=ca_file.read_text(), token_file=str(token_file)
    )
    done = run_exec_provider(secret_config(secret)["execProviderConfig"])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {"token": token},
    }


@pytest.mark.parametrize("content", [None, "", "not a jwt with spaces", 'a"b.c.d'])
def test_cluster_secret_bash_command_fails_cleanly(tmp_path: Path, ca_file, content: str | None) -> None:
    token_file = tmp_path / "federated-token"
    if content is not None:
        token_file.write_text(content)
    provider = argocd.exec_provider(str(token_file))
    done = run_exec_provider(provider)
    assert done.returncode != 0
    assert done.stdout == ""  # never half a credential
    if content is not None:
        assert done.stderr.strip() == f"token file {token_file} is missing, empty or not a JWT"


def test_cluster_secret_argocd_k8s_auth_form_warns(run, ca_file: Path) -> None:
    result = run(
        "argocd",
        "cluster-secret",
        "--name",
        "d",
        "--server",
        "https://d.example",
        "--ca-file",
        str(ca_file),
        "--exec",
        "argocd-k8s-auth",
        "--token-file",
        "/t/tok",
    )
    assert result.exit_code == 0
    assert "PR #13476" in result.stderr and result.stderr.startswith("warning: ")
    provider = secret_config(YAML(typ="safe").load(result.stdout))["execProviderConfig"]
    assert provider == {
        "command": "argocd-k8s-auth",
        "args": ["token-file", "--file", "/t/tok"],
        "apiVersion": "client.authentication.k8s.io/v1",
    }


def test_cluster_secret_name_is_sanitised_or_given(ca_file: Path) -> None:
    pem = ca_file.read_text()
    secret = argocd.cluster_secret(name="Prod EU/1", server="https://x", ca_pem=pem, token_file="/t")
    assert secret["metadata"]["name"] == "prod-eu-1-secret"
    secret = argocd.cluster_secret(name="x", server="https://x", ca_pem=pem, token_file="/t", secret_name="s")
    assert secret["metadata"]["name"] == "s"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--server", "http://d.example"], "--server 'http://d.example' must be an https:// URL"),
        (["--ca-file", "/nonexistent/ca.crt"], "CA file /nonexistent/ca.crt: no such file"),
        (["--token-file", "relative/token"], "--token-file 'relative/token' must be the absolute path"),
        (["--secret-name", "Not_Valid"], "Secret name 'Not_Valid' is not a valid object name"),
    ],
)
def test_cluster_secret_errors(run, ca_file: Path, args: list[str], message: str) -> None:
    base = {"--name": "d", "--server": "https://d.example", "--ca-file": str(ca_file)}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = [item for pair in base.items() for item in pair]
    assert_one_line_error(run("argocd", "cluster-secret", *argv), message)


def test_cluster_secret_rejects_a_file_without_certificates(run, tmp_path: Path) -> None:
    bogus = tmp_path / "ca.crt"
    bogus.write_text("hello\n")
    result = run("argocd", "cluster-secret", "--name", "d", "--server", "https://d", "--ca-file", str(bogus))
    assert_one_line_error(result, f"CA file {bogus}: no PEM certificate found")
