"""Inputs that used to end in a traceback (issue 12, item 8): now one `Error:` line and a non-zero exit."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest

from tests.federation.support import assert_one_line_error

OUT_OF_RANGE = "is out of range (not a date in the years 1 to 9999)"


def _token(rsa_key, **claims) -> str:
    return jwt.encode({"sub": "x", **claims}, rsa_key, algorithm="RS256")


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
@pytest.mark.parametrize("value", [10**20, -(10**20), 10**400, float("inf"), float("nan")])
def test_token_inspect_out_of_range_times(run, rsa_key, claim: str, value: float) -> None:
    result = run("token", "inspect", _token(rsa_key, **{claim: value}))
    assert_one_line_error(result, f"Error: token: claim {claim} {OUT_OF_RANGE}")


@pytest.mark.parametrize("value", [10**20, float("inf")])
def test_token_verify_out_of_range_times(run, rsa_key, tmp_path: Path, value: float) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    result = run("token", "verify", _token(rsa_key, exp=value), "--jwks", str(jwks))
    assert_one_line_error(result, f"Error: invalid token: token: claim exp {OUT_OF_RANGE}")


@pytest.mark.parametrize("value", [10**20, -(10**20), float("inf")])
def test_credential_out_of_range_exp(run, rsa_key, tmp_path: Path, value: float) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(_token(rsa_key, exp=value))
    result = run("credential", "--token-file", str(token_file))
    assert_one_line_error(result, f"Error: token file {token_file}: claim exp {OUT_OF_RANGE}")


BAD_URLS = [
    ("https://[::1", "is not a valid URL (Invalid IPv6 URL)"),
    ("https://[::1]x", "has an invalid host '[::1]x'"),
    ("https://[fe80::zz]", "is not a valid URL ('fe80::zz' does not appear to be an IPv4 or IPv6 address)"),
    ("https://a b", "must not contain spaces or control characters"),
    ("https://a\tb", "must not contain spaces or control characters"),
    ("https://a<b>", "has an invalid host 'a<b>'"),
]


@pytest.mark.parametrize(("url", "message"), BAD_URLS)
def test_bad_issuer_urls(run, url: str, message: str) -> None:
    for args in (
        ("oidc", "discovery", "--issuer", url),
        ("downstream", "authn-config", "--issuer", url, "--audience", "a", "--username-prefix", "u:"),
        ("token", "verify", "x.y.z", "--issuer", url),
    ):
        assert_one_line_error(run(*args), f"--issuer {url!r} {message}")


@pytest.mark.parametrize(("url", "message"), BAD_URLS)
def test_bad_server_urls(run, ca_file: Path, url: str, message: str) -> None:
    for args in (
        ("kubeconfig", "--server", url, "--ca-file", str(ca_file)),
        ("argocd", "cluster-secret", "--name", "d", "--server", url, "--ca-file", str(ca_file)),
    ):
        assert_one_line_error(run(*args), f"--server {url!r} {message}")


def test_good_urls_still_pass(run) -> None:
    for url in ("https://[::1]:6443", "https://storage.googleapis.com/b/c", "https://xn--bcher-kva.example"):
        assert run("oidc", "discovery", "--issuer", url).exit_code == 0, url


def test_jwks_nested_too_deeply(run, rsa_key, tmp_path: Path) -> None:
    jwks = tmp_path / "deep.json"
    jwks.write_text("[" * 100_000)
    result = run("token", "verify", _token(rsa_key, exp=4102444800), "--jwks", str(jwks))
    assert_one_line_error(result, f"Error: --jwks file {jwks}: not JSON (nested too deeply)")
