"""`webhook vault config|role`, `token verify --subject/--claim`: Vault's JWT auth, exactly as generated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.federation.support import AUDIENCE, ISSUER, SUBJECT, assert_one_line_error, write_public_pem
from webhook.federation import oidc, vault


def test_config_discovery_with_ca(run, ca_file: Path) -> None:
    result = run("vault", "config", "--issuer", ISSUER, "--ca-file", str(ca_file), "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "oidc_discovery_url": ISSUER,
        "oidc_discovery_ca_pem": ca_file.read_text(),
        "bound_issuer": ISSUER,
    }


def test_config_cli_lines(run) -> None:
    result = run("vault", "config", "--issuer", ISSUER, "--path", "k8s/upstream", "--default-role", "demo")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "# once per Vault: enable the JWT auth method (a second run says the path is already in use)\n"
        "vault auth enable -path=k8s/upstream jwt\n"
        "vault write auth/k8s/upstream/config - <<'EOF'\n"
        "{\n"
        f'  "oidc_discovery_url": "{ISSUER}",\n'
        f'  "bound_issuer": "{ISSUER}",\n'
        '  "default_role": "demo"\n'
        "}\n"
        "EOF\n"
    )


def test_config_jwks_url(run, ca_file: Path) -> None:
    jwks_url = "https://bucket.example.com/openid/v1/jwks"
    result = run(
        "vault",
        "config",
        "--issuer",
        ISSUER,
        "--jwks-url",
        jwks_url,
        "--ca-file",
        str(ca_file),
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "jwks_url": jwks_url,
        "jwks_ca_pem": ca_file.read_text(),
        "bound_issuer": ISSUER,
    }


def test_config_public_keys(run, tmp_path: Path, rsa_key, ec_keys) -> None:
    rsa_pem = write_public_pem(tmp_path / "sa.pub", rsa_key)
    ec_pem = write_public_pem(tmp_path / "ec.pub", ec_keys["ES256"])
    result = run(
        "vault", "config", "--issuer", ISSUER, "--public-key", str(rsa_pem), "--public-key", str(ec_pem),
        "--public-key", str(rsa_pem), "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "jwt_validation_pubkeys": [rsa_pem.read_text(), ec_pem.read_text()],
        "jwt_supported_algs": ["ES256", "RS256"],
        "bound_issuer": ISSUER,
    }


def test_role_one_serviceaccount_is_bound_subject(run) -> None:
    result = run("vault", "role", "demo", "--audience", "vault", "--serviceaccount", "default/default")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "vault write auth/jwt/role/demo - <<'EOF'\n"
        "{\n"
        '  "role_type": "jwt",\n'
        '  "bound_audiences": [\n'
        '    "vault"\n'
        "  ],\n"
        '  "user_claim": "sub",\n'
        '  "bound_subject": "system:serviceaccount:default:default",\n'
        '  "token_policies": [\n'
        '    "default"\n'
        "  ],\n"
        '  "token_ttl": "1h"\n'
        "}\n"
        "EOF\n"
        "# a pod logs in with its projected token:\n"
        "#   vault write auth/jwt/login role=demo jwt=@/var/run/secrets/tokens/TOKEN_FILE\n"
    )


def test_role_several_serviceaccounts_and_claims(run) -> None:
    result = run(
        "vault", "role", "ci", "--audience", "vault", "--audience", "vault2", "--serviceaccount", "prod/api",
        "--serviceaccount", "prod/worker", "--serviceaccount", "prod/api",
        "--claim", "/kubernetes.io/namespace=prod",
        "--policy", "read", "--policy", "write", "--ttl", "10m", "--max-ttl", "1h", "--leeway", "30",
        "--user-claim", "/kubernetes.io/pod/name", "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "role_type": "jwt",
        "bound_audiences": ["vault", "vault2"],
        "user_claim": "/kubernetes.io/pod/name",
        "user_claim_json_pointer": True,
        "bound_claims_type": "string",
        "bound_claims": {
            "sub": ["system:serviceaccount:prod:api", "system:serviceaccount:prod:worker"],
            "/kubernetes.io/namespace": "prod",
        },
        "token_policies": ["read", "write"],
        "token_ttl": "10m",
        "token_max_ttl": "1h",
        "clock_skew_leeway": 30,
    }


def test_role_namespace_wildcard_is_a_glob(run) -> None:
    result = run("vault", "role", "ci", "--audience", "vault", "--serviceaccount", "ci/*", "--format", "json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["bound_claims_type"] == "glob"
    assert payload["bound_claims"] == {"sub": "system:serviceaccount:ci:*"}
    assert "bound_subject" not in payload


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["config", "--issuer", "http://plain.example"],
            "--issuer 'http://plain.example' must be an https:// URL",
        ),
        (["config", "--issuer", "https://a.example?x=1"], "must not contain a query"),
        (
            ["config", "--issuer", ISSUER, "--ca-file", "/nonexistent.crt"],
            "CA file /nonexistent.crt: no such file",
        ),
        (
            ["config", "--issuer", ISSUER, "--jwks-url", "https://a.example/jwks", "--public-key", "x.pub"],
            "give --jwks-url or --public-key, not both",
        ),
        (
            ["config", "--issuer", ISSUER, "--jwks-url", "http://a.example/jwks"],
            "--jwks-url 'http://a.example/jwks'",
        ),
        (["config", "--issuer", ISSUER, "--path", "/jwt/"], "--path '/jwt/': an auth mount path like jwt"),
        (["config", "--issuer", ISSUER, "--default-role", "-x"], "role name '-x': letters, digits"),
        (
            ["role", "demo", "--audience", " ", "--serviceaccount", "a/b"],
            "--audience is required and must not be",
        ),
        (
            ["role", "demo", "--audience", "vault"],
            "a role bound by audience alone admits every ServiceAccount",
        ),
        (
            ["role", "demo", "--audience", "v", "--serviceaccount", "default"],
            "'default' must be NAMESPACE/NAME",
        ),
        (
            ["role", "demo", "--audience", "v", "--serviceaccount", "Bad_NS/*"],
            "'Bad_NS' is not a valid namespace",
        ),
        (["role", "demo", "--audience", "v", "--serviceaccount", "ns/Bad_Name"], "'Bad_Name' is not a valid"),
        (["role", "demo", "--audience", "v", "--claim", "novalue"], "--claim 'novalue' must be KEY=VALUE"),
        (["role", "demo", "--audience", "v", "--claim", "k="], "--claim 'k=' must be KEY=VALUE"),
        (
            ["role", "demo", "--audience", "v", "--serviceaccount", "a/b", "--claim", "sub=x"],
            "--claim sub=... and --serviceaccount both bind the subject",
        ),
        (
            ["role", "demo", "--audience", "v", "--serviceaccount", "a/b", "--ttl", "soon"],
            "--ttl 'soon': a duration",
        ),
        (
            ["role", "demo", "--audience", "v", "--serviceaccount", "a/b", "--ttl", "1h", "--max-ttl", "30m"],
            "--max-ttl 30m is shorter than --ttl 1h",
        ),
        (
            ["role", "demo", "--audience", "v", "--serviceaccount", "a/b", "--policy", "a,b"],
            "--policy must be",
        ),
        (
            ["role", "demo", "--audience", "v", "--serviceaccount", "a/b", "--user-claim", ""],
            "--user-claim ''",
        ),
        (
            ["role", "demo", "--audience", "v", "--serviceaccount", "a/b", "--leeway", "-1"],
            "--leeway must be 0",
        ),
        (["role", "bad/name", "--audience", "v", "--serviceaccount", "a/b"], "role name 'bad/name'"),
    ],
)
def test_errors(run, args: list[str], message: str) -> None:
    assert_one_line_error(run("vault", *args), message)


def test_config_rejects_a_non_key_file(run, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pub"
    junk.write_text("not a key\n")
    assert_one_line_error(run("vault", "config", "--issuer", ISSUER, "--public-key", str(junk)), str(junk))


def test_config_rejects_ca_with_static_keys(run, tmp_path: Path, rsa_key, ca_file: Path) -> None:
    pem = write_public_pem(tmp_path / "sa.pub", rsa_key)
    result = run("vault", "config", "--issuer", ISSUER, "--public-key", str(pem), "--ca-file", str(ca_file))
    assert_one_line_error(result, "--ca-file is for fetching discovery or the JWKS")


# --- the plugin's matching rules, as `token verify --subject/--claim` applies them ------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("a*", "abc", True),
        ("*c", "abc", True),
        ("a*c", "ac", True),
        ("a*b*c", "aXbYc", True),
        ("a*b*c", "acb", False),
        ("ab*ba", "aba", False),
        ("*", "", True),
        ("abc", "abc", True),
        ("abc", "abcd", False),
        ("system:serviceaccount:ci:*", "system:serviceaccount:ci:runner", True),
        ("system:serviceaccount:ci:*", "system:serviceaccount:cid:runner", False),
    ],
)
def test_glob_match(pattern: str, value: str, matches: bool) -> None:
    assert vault.glob_match(pattern, value) is matches


def test_claim_value_json_pointer() -> None:
    claims = {"a/b": 1, "kubernetes.io": {"namespace": "prod", "list": ["x", "y"]}, "t~": 2}
    assert vault.claim_value(claims, "/kubernetes.io/namespace") == "prod"
    assert vault.claim_value(claims, "/kubernetes.io/list/1") == "y"
    assert vault.claim_value(claims, "/a~1b") == 1
    assert vault.claim_value(claims, "/t~0") == 2
    assert vault.claim_value(claims, "/kubernetes.io/missing") is None
    assert vault.claim_value(claims, "kubernetes.io") == claims["kubernetes.io"]


@pytest.fixture
def jwks_path(tmp_path: Path, rsa_key) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(oidc.jwks([rsa_key.public_key()])))
    return path


def _verify(run, jwks_path: Path, token: str, *args: str):
    return run("token", "verify", token, "--jwks", str(jwks_path), "--audience", AUDIENCE, *args)


def test_verify_subject_and_claims_accept(run, jwks_path: Path, make_token) -> None:
    token = make_token(**{"kubernetes.io": {"namespace": "argocd", "pod": {"name": "runner-1"}}})
    result = _verify(
        run, jwks_path, token, "--subject", SUBJECT, "--claim", "/kubernetes.io/namespace=argocd",
        "--claim", "/kubernetes.io/namespace=other",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "valid (signature, exp, nbf, aud, sub, /kubernetes.io/namespace checked)" in result.stderr
    globbed = _verify(run, jwks_path, token, "--glob", "--claim", "/kubernetes.io/pod/name=runner-*")
    assert globbed.exit_code == 0, globbed.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--subject", "system:serviceaccount:argocd:other"],
            f"sub '{SUBJECT}' does not match bound subject 'system:serviceaccount:argocd:other'",
        ),
        (
            ["--claim", "/kubernetes.io/namespace=prod"],
            "claim '/kubernetes.io/namespace' is 'argocd', not 'prod'",
        ),
        (["--claim", "/kubernetes.io/pod/name=x"], "claim '/kubernetes.io/pod/name' is missing"),
        (["--claim", "sub=system:serviceaccount:argocd:*"], "not 'system:serviceaccount:argocd:*'"),
        (["--claim", "oops"], "--claim 'oops' must be KEY=VALUE"),
    ],
)
def test_verify_subject_and_claims_refuse(
    run, jwks_path: Path, make_token, args: list[str], message: str
) -> None:
    token = make_token(**{"kubernetes.io": {"namespace": "argocd"}})
    assert_one_line_error(_verify(run, jwks_path, token, *args), message)


def test_verify_refusal_names_every_binding(run, jwks_path: Path, make_token) -> None:
    result = _verify(run, jwks_path, make_token(), "--subject", "x", "--claim", "team=a")
    assert_one_line_error(result, "token refused by the bindings: sub ", "; claim 'team' is missing")


# Parameters of the JWT auth method's API (vault-plugin-auth-jwt v0.25: path_config.go, path_role.go, and the
# token_* fields of sdk/helper/tokenutil), with the JSON type each accepts. The live check is
# tests/e2e/test_relying_parties.py against a real `vault server -dev`.
CONFIG_FIELDS = {
    "oidc_discovery_url": str, "oidc_discovery_ca_pem": str, "jwks_url": str, "jwks_ca_pem": str,
    "jwt_validation_pubkeys": list, "jwt_supported_algs": list, "bound_issuer": str, "default_role": str,
}  # fmt: skip
ROLE_FIELDS = {
    "role_type": str, "bound_audiences": list, "user_claim": str, "bound_subject": str,
    "bound_claims_type": str, "bound_claims": dict, "token_policies": list, "token_ttl": str,
    "token_max_ttl": str, "clock_skew_leeway": int, "user_claim_json_pointer": bool,
}  # fmt: skip


@pytest.mark.parametrize(
    "args",
    [
        ["config", "--issuer", ISSUER, "--default-role", "demo"],
        ["config", "--issuer", ISSUER, "--jwks-url", "https://b.example/jwks"],
        ["role", "r", "--audience", "v", "--serviceaccount", "a/b"],
        [
            "role",
            "r",
            "--audience",
            "v",
            "--serviceaccount",
            "a/b",
            "--user-claim",
            "/kubernetes.io/pod/name",
        ],
        [
            "role",
            "r",
            "--audience",
            "v",
            "--serviceaccount",
            "a/*",
            "--claim",
            "k=v",
            "--max-ttl",
            "2h",
            "--leeway",
            "5",
        ],
    ],
)
def test_payloads_use_only_the_plugins_parameters(run, args: list[str]) -> None:
    payload = json.loads(run("vault", *args, "--format", "json").stdout)
    fields = CONFIG_FIELDS if args[0] == "config" else ROLE_FIELDS
    assert payload and set(payload) <= set(fields), set(payload) - set(fields)
    assert all(isinstance(value, fields[key]) for key, value in payload.items()), payload
    if args[0] == "role":
        assert payload["role_type"] == "jwt" and payload["user_claim"]
        assert payload.get("bound_subject") or payload.get(
            "bound_claims"
        )  # the plugin needs one bound constraint
        assert payload.get("bound_claims_type", "string") in ("string", "glob")
