"""The remaining error messages, at the function level where the CLI's choices cannot reach them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.federation.support import assert_one_line_error, write_public_pem
from webhook.federation import argocd, downstream, kubeconfig, oidc, tokens
from webhook.federation.common import InputError, check_https_url, read_text, write_output
from webhook.federation.credential import exec_credential


def exactly(message: str) -> str:
    return "^" + re.escape(message) + "$"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "--x must not be empty"),
        ("https://a.example:99999", "--x 'https://a.example:99999' has an invalid port"),
        ("https://a.example?", "must not contain a query"),
        ("https://a.example#", "must not contain a fragment"),
        ("ftp://a.example", "--x 'ftp://a.example' must be an https:// URL"),
    ],
)
def test_https_url_rules(url: str, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        check_https_url(url, "--x")


def test_https_url_accepts_paths_and_ports() -> None:
    assert (
        check_https_url("https://storage.googleapis.com/b/c", "--x") == "https://storage.googleapis.com/b/c"
    )
    assert check_https_url("https://127.0.0.1:6443", "--x") == "https://127.0.0.1:6443"


def test_read_text_errors(tmp_path: Path) -> None:
    binary = tmp_path / "bin"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InputError, match=exactly(f"key file {binary}: not a text file")):
        read_text(binary, "key file")
    with pytest.raises(InputError, match="is a directory, expected a file"):
        read_text(tmp_path, "key file")


def test_write_output_errors_and_private_mode(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^--out .*/missing/x: cannot write: No such file or directory$"):
        write_output("x", tmp_path / "missing" / "x")
    secret = tmp_path / "token"
    write_output("t\n", secret, private=True)
    assert secret.read_text() == "t\n" and secret.stat().st_mode & 0o777 == 0o600


def test_function_level_choices() -> None:
    with pytest.raises(InputError, match=exactly("--exec 'sh' unknown; choose one of bash, argocd-k8s-auth")):
        argocd.exec_provider("/t", "sh")
    with pytest.raises(InputError, match=exactly("--exec 'sh' unknown; choose one of webhook, bash")):
        kubeconfig.exec_config("/t", "sh")
    with pytest.raises(InputError, match=exactly("--name must not be empty")):
        argocd.cluster_secret(name="", server="https://x", ca_pem="", token_file="/t")
    with pytest.raises(InputError, match="version 'v2' unknown; use v1 or v1beta1"):
        downstream.authentication_configuration(
            issuer="https://a", audiences=["x"], username_prefix="u:", version="v2"
        )
    with pytest.raises(InputError, match=exactly("--serviceaccount NAMESPACE/NAME is required (repeatable)")):
        downstream.rbac(username_prefix="u:", serviceaccounts=[], namespace="d")
    with pytest.raises(InputError, match=exactly("--name 'A' is not a valid object name")):
        downstream.rbac(username_prefix="u:", serviceaccounts=["a/b"], namespace="d", name="A")


def test_unsupported_curve(run, tmp_path: Path) -> None:
    pub = write_public_pem(tmp_path / "k1.pub", ec.generate_private_key(ec.SECP256K1()))
    assert_one_line_error(
        run("oidc", "jwks", "--public-key", str(pub)),
        f"key file {pub}: unsupported key (EC curve secp256k1); kube-apiserver signs with RSA or EC "
        "P-256/384/521",
    )
    with pytest.raises(InputError, match=re.escape("unsupported key (EC curve secp256k1)")):
        oidc.algorithm(ec.generate_private_key(ec.SECP256K1()).public_key())


def test_non_numeric_exp(make_token, rsa_key) -> None:
    token = jwt.encode({"sub": "x", "exp": "tomorrow"}, rsa_key, algorithm="RS256")
    with pytest.raises(InputError, match=exactly("token: claim exp is not a number")):
        exec_credential(token)
    with pytest.raises(InputError, match=exactly("token: claim exp is not a number")):
        tokens.inspect(token)


def test_jwks_selection_errors(make_token, rsa_key, ec_keys) -> None:
    keyset = oidc.jwks([rsa_key.public_key(), ec_keys["ES256"].public_key()])
    no_kid = jwt.encode({"sub": "x", "exp": 4102444800}, rsa_key, algorithm="RS256")
    with pytest.raises(
        tokens.InvalidToken, match=exactly("the token has no kid and the JWKS holds several keys")
    ):
        tokens.verify(no_kid, keyset)
    # With a single key, a token without kid is checked against it.
    assert tokens.verify(no_kid, oidc.jwks([rsa_key.public_key()]))["sub"] == "x"
    # A kid pointing at a key of another type (RSA token, EC key) is unusable, not a crash.
    ec_kid = oidc.key_id(ec_keys["ES256"].public_key())
    with pytest.raises(tokens.InvalidToken, match=re.escape(f"JWKS key '{ec_kid}' unusable: ")):
        tokens.verify(make_token(headers={"kid": ec_kid}), keyset)


def test_discovery_document_shape_errors(run, tmp_path: Path, make_token) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": "nope"}))
    result = run("token", "verify", make_token(), "--jwks", str(jwks))
    assert_one_line_error(result, f"{jwks}: not a JWKS (expected a JSON object with a keys list)")
    result = run("token", "verify", make_token(), "--jwks", "http://plain.example/jwks")
    assert_one_line_error(result, "--jwks 'http://plain.example/jwks' must be an https:// URL")
