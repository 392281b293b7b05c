"""The CLI's convention across the generators: `-o/--output` is the output format, `--out FILE` the file.

Before, `-o` was short for `--out` in eight generators: `webhook kubeconfig ... -o json` wrote a file named
`json`. Each command here either formats its output as `-o` asks or refuses `-o` saying what it writes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec

from tests.federation.support import write_public_pem

ISSUER = "https://oidc.example.com"


def _generators(ca: str) -> dict[str, list[str]]:
    """Each generator that writes Kubernetes objects, with arguments enough to run."""
    return {
        "kubeconfig": ["kubeconfig", "--server", "https://d.example", "--ca-file", ca],
        "greenhouse": [
            *("greenhouse", "onboarding-secret", "--cluster", "c", "-n", "org"),
            *("--api-server-url", "https://r", "--ca-file", ca),
        ],
        "argocd annotate": ["argocd", "annotate", "-n", "argocd"],
        "argocd cluster-secret": [
            *("argocd", "cluster-secret", "--name", "d", "--server", "https://d", "--ca-file", ca),
        ],
        "downstream rbac": [
            *("downstream", "rbac", "--username-prefix", "up:", "-n", "demo"),
            *("--serviceaccount", "argocd/argocd-server"),
        ],
        "oidc discovery-rbac": ["oidc", "discovery-rbac"],
    }


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working directory, where a mistaken `--out json` would land."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def public_key(tmp_path: Path) -> str:
    return str(write_public_pem(tmp_path / "sa.pub", ec.generate_private_key(ec.SECP256R1())))


@pytest.mark.parametrize(
    "name",
    [
        "kubeconfig",
        "greenhouse",
        "argocd annotate",
        "argocd cluster-secret",
        "downstream rbac",
        "oidc discovery-rbac",
    ],
)
def test_dash_o_selects_yaml_or_json(run, in_tmp: Path, ca_file: Path, name: str) -> None:
    args = _generators(str(ca_file))[name]
    as_yaml = run(*args, "-o", "yaml")
    as_json = run(*args, "--output", "json")
    default = run(*args)
    assert as_yaml.exit_code == as_json.exit_code == default.exit_code == 0, as_json.output
    assert list(in_tmp.iterdir()) == [], "-o names a format, never a file"
    assert as_yaml.stdout == default.stdout
    docs = [d for d in yaml.safe_load_all(as_yaml.stdout) if d is not None]
    parsed = json.loads(as_json.stdout)
    # One object as itself, several as a v1 List (as kubectl prints them).
    expected = docs[0] if len(docs) == 1 else {"apiVersion": "v1", "kind": "List", "items": docs}
    assert parsed == expected
    # --out still writes the file, in the format asked for.
    assert run(*args, "-o", "json", "--out", "objects.json").exit_code == 0
    assert json.loads((in_tmp / "objects.json").read_text()) == expected


@pytest.mark.parametrize(
    ("args", "written"),
    [
        (["oidc", "discovery", "--issuer", ISSUER], "JSON only"),
        (["oidc", "jwks", "--public-key", "{key}"], "JSON only"),
        (["argocd", "patches"], "YAML patches only"),
    ],
)
def test_dash_o_refused_where_there_is_one_format(
    run, in_tmp: Path, public_key: str, args: list[str], written: str
) -> None:
    argv = [a.format(key=public_key) for a in args]
    assert run(*argv).exit_code == 0
    for value in ("json", "yaml"):
        result = run(*argv, "-o", value)
        assert result.exit_code == 2
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and written in errors[0] and "--out FILE" in errors[0], result.stderr
        assert list(in_tmp.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "choices"),
    [
        (["vault", "config", "--issuer", ISSUER, "--public-key", "{key}"], ("json", "cli")),
        (["vault", "role", "demo", "--audience", "vault", "--serviceaccount", "default/default"], ("json",)),
        (["oauth2-proxy", "--issuer", ISSUER, "--audience", "sample"], ("config", "flags")),
        (
            ["downstream", "authn-config", "--issuer", ISSUER, "--audience", "d", "--username-prefix", "u:"],
            ("v1beta1", "oidc-flags"),
        ),
    ],
)
def test_dash_o_is_the_format_of_commands_that_had_format(
    run, in_tmp: Path, public_key: str, args: list[str], choices: tuple[str, ...]
) -> None:
    argv = [a.format(key=public_key) for a in args]
    for choice in choices:
        short, old = run(*argv, "-o", choice), run(*argv, "--format", choice)
        assert short.exit_code == old.exit_code == 0, short.output
        assert short.stdout == old.stdout != ""
    if "json" in choices:
        json.loads(run(*argv, "-o", "json").stdout)
    refused = run(*argv, "-o", "yaml")
    assert refused.exit_code == 2 and "Invalid value for '-o'" in refused.stderr
    assert list(in_tmp.iterdir()) == []


def test_token_inspect_takes_dash_o_json_and_the_old_json_flag(run, make_token) -> None:
    token = make_token()
    as_json = run("token", "inspect", "-o", "json", token)
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)["verified"] is False
    assert run("token", "inspect", "--json", token).stdout == as_json.stdout  # hidden, kept
    assert run("token", "inspect", "-o", "text", token).stdout == run("token", "inspect", token).stdout
    assert "--json" not in run("token", "inspect", "--help").stdout
    refused = run("token", "inspect", "-o", "yaml", token)
    assert refused.exit_code == 2 and "Invalid value for '-o'" in refused.stderr


def test_token_request_and_review_take_dash_o(run, tmp_path: Path, make_token) -> None:
    missing = str(tmp_path / "missing")
    # Both parse -o before they reach the (missing) cluster.
    request = run(
        "token",
        "request",
        "--serviceaccount",
        "a/b",
        "--audience",
        "x",
        "-o",
        "json",
        "--kubeconfig",
        missing,
    )
    review = run("token", "review", make_token(), "-o", "json", "--kubeconfig", missing)
    for result in (request, review):
        assert result.stderr == f"Error: --kubeconfig {missing}: no such file\n"
    bad = run("token", "request", "--serviceaccount", "a/b", "--audience", "x", "-o", "yaml")
    assert bad.exit_code == 2 and "Invalid value for '-o'" in bad.stderr
