"""`webhook credential` and `webhook kubeconfig`: the exec plugin and the kubeconfig that calls it."""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.federation.support import assert_one_line_error
from webhook.federation.credential import exec_credential

KUBECTL = shutil.which("kubectl")


def test_credential_exact_json(run, tmp_path: Path, make_token) -> None:
    token = make_token(exp=4102444800)
    path = tmp_path / "token"
    path.write_text(token)
    result = run("credential", "--token-file", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "{\n"
        '  "apiVersion": "client.authentication.k8s.io/v1",\n'
        '  "kind": "ExecCredential",\n'
        '  "status": {\n'
        f'    "token": "{token}",\n'
        '    "expirationTimestamp": "2100-01-01T00:00:00Z"\n'
        "  }\n"
        "}\n"
    )
    assert result.stderr == ""


def test_credential_without_exp_has_no_expiry(make_token) -> None:
    token = make_token(exp=None)
    assert exec_credential(token)["status"] == {"token": token}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "token file {path}: no such file"),
        ("", "token file {path}: is empty (is the projected volume mounted?)"),
        ("  \n", "token file {path}: is empty"),
        ("hello world", "token file {path}: not a JWT (expected three base64url parts separated by dots)"),
        ("aaaa.bbbb.cccc", "token file {path}: not a JWT ("),
    ],
)
def test_credential_errors(run, tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
    assert_one_line_error(run("credential", "--token-file", str(path)), message.format(path=path))


def test_credential_expired_token_names_the_time_not_the_token(run, tmp_path: Path, make_token) -> None:
    token = make_token(exp=1_000_000_000, nbf=None, iat=None)
    path = tmp_path / "token"
    path.write_text(token)
    result = run("credential", "--token-file", str(path))
    assert_one_line_error(result, f"token file {path}: token expired at 2001-09-09T01:46:40Z")
    assert token not in result.output and token.split(".")[1] not in result.output


def test_credential_directory(run, tmp_path: Path) -> None:
    assert_one_line_error(run("credential", "--token-file", str(tmp_path)), "is a directory")


def load_kubeconfig(text: str) -> dict:
    return YAML(typ="safe").load(text)


def test_kubeconfig_webhook_exec(run, ca_file: Path) -> None:
    result = run(
        "kubeconfig",
        "--server",
        "https://downstream.example:6443",
        "--ca-file",
        str(ca_file),
        "--token-file",
        "/var/run/secrets/tokens/federated-token",
        "-n",
        "demo",
    )
    assert result.exit_code == 0, result.output
    config = load_kubeconfig(result.stdout)
    assert config["apiVersion"] == "v1" and config["kind"] == "Config"
    assert config["current-context"] == "downstream"
    assert config["contexts"] == [
        {
            "name": "downstream",
            "context": {"cluster": "downstream", "user": "downstream", "namespace": "demo"},
        }
    ]
    cluster = config["clusters"][0]["cluster"]
    assert cluster["server"] == "https://downstream.example:6443"
    assert base64.b64decode(cluster["certificate-authority-data"]) == ca_file.read_bytes()
    exec_ = config["users"][0]["user"]["exec"]
    assert exec_["command"] == "webhook"
    assert exec_["args"] == ["credential", "--token-file", "/var/run/secrets/tokens/federated-token"]
    assert exec_["apiVersion"] == "client.authentication.k8s.io/v1"
    assert exec_["interactiveMode"] == "Never" and exec_["provideClusterInfo"] is False


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")
def test_kubectl_reads_the_kubeconfig(run, ca_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "kubeconfig"
    result = run("kubeconfig", "--server", "https://d.example", "--ca-file", str(ca_file), "--out", str(out))
    assert result.exit_code == 0 and result.stdout == ""
    view = subprocess.run(
        [KUBECTL, "--kubeconfig", str(out), "config", "view", "--raw", "-o", "json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    user = json.loads(view.stdout)["users"][0]["user"]["exec"]
    assert user["interactiveMode"] == "Never" and user["command"] == "webhook"


@pytest.mark.parametrize("form", ["webhook", "bash"])
def test_kubeconfig_exec_command_runs(run, ca_file: Path, tmp_path: Path, make_token, form: str) -> None:
    """Run users[0].user.exec exactly as client-go would (argv, no shell) and parse the ExecCredential."""
    token = make_token()
    token_file = tmp_path / "a dir" / "tok'en"
    token_file.parent.mkdir()
    token_file.write_text(token)
    command = str(Path(sys.executable).parent / "webhook")
    result = run(
        "kubeconfig",
        "--server",
        "https://d.example",
        "--ca-file",
        str(ca_file),
        "--token-file",
        str(token_file),
        "--exec",
        form,
        "--command",
        command,
    )
    exec_ = load_kubeconfig(result.stdout)["users"][0]["user"]["exec"]
    done = subprocess.run([exec_["command"], *exec_["args"]], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    credential = json.loads(done.stdout)
    assert credential["kind"] == "ExecCredential" and credential["status"]["token"] == token
    if form == "webhook":
        exp = dt.datetime.fromisoformat(credential["status"]["expirationTimestamp"].replace("Z", "+00:00"))
        assert 3500 < (exp - dt.datetime.now(dt.UTC)).total_seconds() <= 3600


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--server", "http://d.example"], "--server 'http://d.example' must be an https:// URL"),
        (["--server", "https://user:pw@d.example"], "must not contain user info"),
        (["--server", "https://d.example?x=1"], "must not contain a query"),
        (["--server", "https://:443"], "has no host"),
        (["--name", "Down"], "--name 'Down' must be a DNS-1123 label"),
        (["--namespace", "Demo"], "--namespace 'Demo' is not a valid namespace name"),
        (["--token-file", ""], "--token-file must not be empty"),
    ],
)
def test_kubeconfig_errors(run, ca_file: Path, args: list[str], message: str) -> None:
    base = {"--server": "https://d.example", "--ca-file": str(ca_file)}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    assert_one_line_error(run("kubeconfig", *[x for pair in base.items() for x in pair]), message)
