"""`downstream authn-config` with several issuers, an --issuers-file, --merge and --ca-path (issue 15)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.federation.support import assert_one_line_error

A = "https://upstream-a.example.com"
B = "https://upstream-b.example.com"
RULES = """\
    userValidationRules:
      - expression: "!user.username.startsWith('system:')"
        message: 'username must not use the reserved system: prefix'
"""
TWO_ISSUERS = f"""\
apiVersion: apiserver.config.k8s.io/v1
kind: AuthenticationConfiguration
jwt:
  - issuer:
      url: {A}
      audiences:
        - downstream
    claimMappings:
      username:
        claim: sub
        prefix: 'a:'
{RULES}  - issuer:
      url: {B}
      audiences:
        - downstream
        - other
      audienceMatchPolicy: MatchAny
    claimMappings:
      username:
        claim: sub
        prefix: 'b:'
{RULES}"""
TWO_ISSUER_ARGS = (
    *("--issuer", A, "--audience", "downstream", "--username-prefix", "a:"),
    *("--issuer", B, "--audience", "downstream", "--audience", "other", "--username-prefix", "b:"),
)


def authn(run, *args: str):
    return run("downstream", "authn-config", *args)


def test_two_issuers_each_with_its_own_options(run) -> None:
    result = authn(run, *TWO_ISSUER_ARGS)
    assert result.exit_code == 0, result.output
    assert result.stdout == TWO_ISSUERS
    assert result.stderr.count("note: the RBAC username is prefix+sub literally") == 2


def test_issuers_file_gives_the_same_configuration(run, tmp_path: Path) -> None:
    listing = tmp_path / "issuers.yaml"
    listing.write_text(
        f"- issuer: {A}\n  audience: downstream\n  username-prefix: 'a:'\n"
        f"- issuer: {B}\n  audience: [downstream, other]\n  username-prefix: 'b:'\n"
    )
    result = authn(run, "--issuers-file", str(listing))
    assert result.exit_code == 0, result.output
    assert result.stdout == TWO_ISSUERS


def test_issuers_file_ca_file_is_relative_to_the_list(run, tmp_path: Path, ca_file: Path) -> None:
    (tmp_path / "a.crt").write_bytes(ca_file.read_bytes())
    listing = tmp_path / "issuers.yaml"
    listing.write_text(f"- issuer: {A}\n  audience: d\n  username-prefix: 'a:'\n  ca-file: a.crt\n")
    result = authn(
        run, "--issuers-file", str(listing), "--issuer", B, "--audience", "d", "--username-prefix", "b:"
    )
    assert result.exit_code == 0, result.output
    doc = YAML(typ="safe").load(result.stdout)
    assert [e["issuer"]["url"] for e in doc["jwt"]] == [A, B]
    assert doc["jwt"][0]["issuer"]["certificateAuthority"] == ca_file.read_text()
    assert "certificateAuthority" not in doc["jwt"][1]["issuer"]


EXISTING = """\
apiVersion: apiserver.config.k8s.io/v1
kind: AuthenticationConfiguration
# Humans sign in through the company SSO.
jwt:
- issuer:
    url: https://sso.example.com   # the IdP
    audiences:
    - kubernetes
  claimMappings:
    username:
      claim: 'email'
      prefix: "sso:"
    groups:
      claim: groups
      prefix: ""
- issuer:
    url: https://upstream-a.example.com
    audiences:
    - old
  claimMappings:
    username:
      claim: sub
      prefix: 'old:'
anonymous:
  enabled: false
"""
OURS_IN_THEIR_LAYOUT = """\
- issuer:
    url: https://upstream-b.example.com
    audiences:
    - downstream
    - other
    audienceMatchPolicy: MatchAny
  claimMappings:
    username:
      claim: sub
      prefix: 'b:'
  userValidationRules:
  - expression: "!user.username.startsWith('system:')"
    message: 'username must not use the reserved system: prefix'
"""


def test_merge_replaces_our_issuer_adds_the_other_and_keeps_the_rest(run, tmp_path: Path) -> None:
    existing = tmp_path / "authn.yaml"
    existing.write_text(EXISTING)
    result = authn(run, "--merge", str(existing), *TWO_ISSUER_ARGS)
    assert result.exit_code == 0, result.output
    sso = EXISTING.partition("- issuer:\n    url: https://upstream-a.example.com")[0]
    replaced_a = (
        "- issuer:\n    url: https://upstream-a.example.com\n    audiences:\n    - downstream\n"
        "  claimMappings:\n    username:\n      claim: sub\n      prefix: 'a:'\n"
        "  userValidationRules:\n  - expression: \"!user.username.startsWith('system:')\"\n"
        "    message: 'username must not use the reserved system: prefix'\n"
    )
    assert result.stdout == sso + replaced_a + OURS_IN_THEIR_LAYOUT + "anonymous:\n  enabled: false\n"
    assert existing.read_text() == EXISTING  # read, never written unless it is --out


def test_merge_into_a_configuration_without_jwt(run, tmp_path: Path) -> None:
    existing = tmp_path / "authn.yaml"
    existing.write_text("apiVersion: apiserver.config.k8s.io/v1beta1\nkind: AuthenticationConfiguration\n")
    result = authn(run, "--merge", str(existing), "--issuer", A, "--audience", "d", "--username-prefix", "a:")
    assert result.exit_code == 0, result.output
    doc = YAML(typ="safe").load(result.stdout)
    assert doc["apiVersion"] == "apiserver.config.k8s.io/v1beta1"
    assert [e["issuer"]["url"] for e in doc["jwt"]] == [A]


def test_oidc_flags_ca_path_is_the_control_plane_path(run, ca_file: Path) -> None:
    base = ("--issuer", A, "--audience", "d", "--username-prefix", "a:", "--format", "oidc-flags")
    result = authn(run, *base, "--ca-file", str(ca_file), "--ca-path", "/etc/kubernetes/pki/upstream-ca.crt")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "--oidc-ca-file=/etc/kubernetes/pki/upstream-ca.crt"
    assert "warning" not in result.stderr
    # --ca-path alone: nothing to read here, the CA only lives on the control plane.
    alone = authn(run, *base, "--ca-path", "/etc/kubernetes/pki/upstream-ca.crt")
    assert alone.stdout.splitlines()[-1] == "--oidc-ca-file=/etc/kubernetes/pki/upstream-ca.crt"
    local = authn(run, *base, "--ca-file", str(ca_file))
    assert (
        f"warning: --oidc-ca-file is {ca_file.resolve()}, this machine's path; give --ca-path for the CA's "
        "path on the control plane" in local.stderr
    )


def test_gardener_with_two_issuers(run) -> None:
    result = authn(
        run,
        *TWO_ISSUER_ARGS[:6],
        *TWO_ISSUER_ARGS[6:8],
        "--audience",
        "d",
        "--username-prefix",
        "b:",
        "--format",
        "gardener",
    )
    assert result.exit_code == 0, result.output
    docs = list(YAML(typ="safe").load_all(result.stdout))
    assert [(d["metadata"]["name"], d["spec"]["issuerURL"]) for d in docs] == [("a", A), ("b", B)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--issuer", A, "--issuer", A, "--audience", "d", "--username-prefix", "a:"],
            f"Error: --issuer '{A}' is given twice (issuer URLs must be distinct)",
        ),
        (
            ["--audience", "d", "--issuer", A, "--issuer", B],
            "Error: --audience 'd' comes before the first --issuer: with several --issuer, each --audience, "
            "--username-prefix, --ca-file, --ca-path and --discovery-url belongs to the --issuer before it",
        ),
        (
            [
                "--issuer",
                A,
                "--audience",
                "d",
                "--username-prefix",
                "a:",
                "--username-prefix",
                "x:",
                "--issuer",
                B,
            ],
            f"Error: --username-prefix is given 2 times for --issuer '{A}'; give it once",
        ),
        (
            [*TWO_ISSUER_ARGS, "--format", "oidc-flags"],
            "Error: --format oidc-flags takes one --issuer (the legacy flags trust one); use --format v1",
        ),
        (
            ["--issuer", A, "--audience", "d", "--username-prefix", "a:", "--ca-path", "/x"],
            "Error: --ca-path is for --format oidc-flags (the other formats embed the CA itself)",
        ),
        (
            [*TWO_ISSUER_ARGS, "--format", "gardener", "--name", "x"],
            "Error: --name names one OpenIDConnect; leave it out with several --issuer",
        ),
        (
            [
                "--issuer",
                A,
                "--audience",
                "d",
                "--username-prefix",
                "a:",
                "--issuer",
                B,
                "--audience",
                "d",
                "--username-prefix",
                "a:",
                "--format",
                "gardener",
            ],
            "Error: two issuers give the same OpenIDConnect name; use distinct --username-prefix",
        ),
        (
            [
                "--issuer",
                A,
                "--audience",
                "d",
                "--username-prefix",
                "a:",
                "--merge",
                "/x",
                "--format",
                "gardener",
            ],
            "Error: --merge works on an AuthenticationConfiguration, not --format gardener",
        ),
        (
            ["--issuer", A, "--audience", "d", "--username-prefix", "a:", "--merge", "/nonexistent"],
            "Error: --merge file /nonexistent: no such file",
        ),
    ],
)
def test_several_issuer_errors(run, args: list[str], message: str) -> None:
    assert_one_line_error(authn(run, *args), message)


def test_missing_options_name_the_issuer(run) -> None:
    result = authn(
        run, "--issuer", A, "--audience", "d", "--username-prefix", "a:", "--issuer", B, "--audience", "d"
    )
    assert result.exit_code == 2
    assert f"Error: Missing option '--username-prefix' for --issuer '{B}'." in result.stderr
    result = authn(run, "--audience", "d", "--username-prefix", "a:")
    assert result.exit_code == 2 and "Error: Missing option '--issuer' (or --issuers-file)." in result.stderr


def test_options_without_issuer_beside_an_issuers_file(run, tmp_path: Path) -> None:
    listing = tmp_path / "issuers.yaml"
    listing.write_text(f"- issuer: {A}\n  audience: d\n  username-prefix: 'a:'\n")
    assert_one_line_error(
        authn(run, "--issuers-file", str(listing), "--audience", "x"),
        "Error: --audience 'x' needs an --issuer (--issuers-file entries carry their own)",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "apiVersion: v1\nkind: ConfigMap\n",
            "not an AuthenticationConfiguration (kind: AuthenticationConfiguration)",
        ),
        (
            "kind: AuthenticationConfiguration\napiVersion: apiserver.config.k8s.io/v2\n",
            "apiVersion 'apiserver.config.k8s.io/v2' unknown; expected one of apiserver.config.k8s.io/v1, "
            "apiserver.config.k8s.io/v1beta1, apiserver.config.k8s.io/v1alpha1",
        ),
        (
            "kind: AuthenticationConfiguration\napiVersion: apiserver.config.k8s.io/v1\njwt: {}\n",
            "jwt must be a list",
        ),
        (
            "kind: AuthenticationConfiguration\napiVersion: apiserver.config.k8s.io/v1\n"
            "jwt:\n- claimMappings: {}\n",
            "jwt[0] has no issuer.url",
        ),
        (
            f"kind: AuthenticationConfiguration\napiVersion: apiserver.config.k8s.io/v1\njwt:\n"
            f"- issuer: {{url: '{B}'}}\n- issuer: {{url: '{B}'}}\n",
            f"issuer '{B}' appears twice already (issuer URLs must be distinct)",
        ),
        ("a: [", "not YAML (while parsing a flow node)"),
        ("---\na: 1\n---\nb: 2\n", "expected one AuthenticationConfiguration document, found 2"),
    ],
)
def test_merge_errors(run, tmp_path: Path, text: str, message: str) -> None:
    existing = tmp_path / "authn.yaml"
    existing.write_text(text)
    result = authn(run, "--merge", str(existing), "--issuer", A, "--audience", "d", "--username-prefix", "a:")
    assert_one_line_error(result, f"Error: --merge {existing}: {message}")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{}", "expected a non-empty YAML list of issuers"),
        ("- x\n", "entry 1: expected a mapping with issuer, audience, username-prefix"),
        (
            "- issuer: https://a\n  prefix: x\n",
            "entry 1: unknown key 'prefix' (known: issuer, audience, username-prefix, discovery-url, "
            "ca-file, ca-path)",
        ),
        ("- audience: a\n", "entry 1: issuer is required"),
        ("- issuer: https://a\n  audience: 3\n", "entry 1: audience must be a string or a list of strings"),
        (
            "- issuer: https://a\n  audience: a\n  username-prefix: 3\n",
            "entry 1: username-prefix must be a string",
        ),
    ],
)
def test_issuers_file_errors(run, tmp_path: Path, text: str, message: str) -> None:
    listing = tmp_path / "issuers.yaml"
    listing.write_text(text)
    assert_one_line_error(
        authn(run, "--issuers-file", str(listing)), f"Error: --issuers-file {listing}: {message}"
    )


def test_merge_into_our_own_output_equals_generating_both(run, tmp_path: Path) -> None:
    existing = tmp_path / "authn.yaml"
    first = authn(run, *TWO_ISSUER_ARGS[:6])
    existing.write_text(first.stdout)
    merged = authn(run, "--merge", str(existing), *TWO_ISSUER_ARGS[6:])
    assert merged.exit_code == 0, merged.output
    assert merged.stdout == TWO_ISSUERS
