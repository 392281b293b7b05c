"""`webhook token inspect|verify|request`: unverified looks, verification as a relying party, TokenRequest."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.common import json_documents_handler
from tests.federation.support import AUDIENCE, ISSUER, assert_one_line_error
from webhook.certs import generate_ca, generate_serving, pem_cert, pem_key
from webhook.federation import oidc, tokens


@pytest.fixture(scope="module")
def jwks_file(tmp_path_factory: pytest.TempPathFactory, rsa_key, ec_keys) -> Path:
    path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    keys = [rsa_key.public_key(), *(k.public_key() for k in ec_keys.values())]
    path.write_text(json.dumps(oidc.jwks(keys)))
    return path


# --- inspect -----------------------------------------------------------------------------------------------


def test_human_delta() -> None:
    assert [tokens.human_delta(s) for s in (0, 59, 60, 3599, 3600, 3660, 86399, 86400, 90000, -7200)] == [
        "0s",
        "59s",
        "1m",
        "59m",
        "1h",
        "1h 1m",
        "23h 59m",
        "1d",
        "1d 1h",
        "2h",
    ]


def test_inspect_text(run, make_token) -> None:
    token = make_token(lifetime=3590)
    result = run("token", "inspect", token)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("Signature: NOT verified (inspect never verifies; use `webhook token verify`)\n")
    assert '"sub": "system:serviceaccount:argocd:argocd-server"' in out and '"alg": "RS256"' in out
    assert "(expires in 59m)" in out
    assert "Issued: " in out and "Not before: " in out


def test_inspect_expired_from_stdin_and_json(run, make_token) -> None:
    token = make_token(lifetime=-3 * 3600 - 30)
    result = run("token", "inspect", "-", input=token + "\n")
    assert "(expired 3h ago)" in result.stdout
    result = run("token", "inspect", "--json", token)
    report = json.loads(result.stdout)
    assert report["verified"] is False
    assert report["claims"]["aud"] == [AUDIENCE] and report["header"]["typ"] == "JWT"
    assert report["times"]["exp"].endswith("(expired 3h ago)")


def test_inspect_reads_a_token_file_and_reports_no_expiry(run, tmp_path: Path, make_token) -> None:
    path = tmp_path / "oidc.token.v1"  # dots in a file name do not make it a token
    path.write_text(make_token(exp=None))
    result = run("token", "inspect", str(path))
    assert result.exit_code == 0 and "Expiry: none (the token never expires)" in result.stdout


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("garbage", "token: not a JWT (expected three base64url parts"),
        ("abc.def.ghi", "token: not a JWT ("),
        ("-", "no token on stdin"),
    ],
)
def test_inspect_errors(run, value: str, message: str) -> None:
    result = run("token", "inspect", value, input="")
    assert_one_line_error(result, message)
    assert "def.ghi" not in result.stderr  # the token itself is never echoed


# --- verify ------------------------------------------------------------------------------------------------


def test_verify_valid_token_with_a_jwks_file(run, jwks_file: Path, make_token, ec_keys) -> None:
    for alg, key in [("RS256", None), ("ES256", ec_keys["ES256"]), ("ES512", ec_keys["ES512"])]:
        token = make_token(alg=alg, key=key)
        result = run(
            "token", "verify", token, "--jwks", str(jwks_file), "--issuer", ISSUER, "--audience", AUDIENCE
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["sub"] == "system:serviceaccount:argocd:argocd-server"
        assert "valid (signature, exp, nbf, iss, aud checked)" in result.stderr


def test_verify_without_audience_warns(run, jwks_file: Path, make_token) -> None:
    result = run("token", "verify", make_token(), "--jwks", str(jwks_file))
    assert result.exit_code == 0
    assert "warning: audience not checked (give --audience)" in result.stderr


def forged(make_token) -> str:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    # Signed by another key but claiming our key's kid.
    good_kid = jwt.get_unverified_header(make_token())["kid"]
    return make_token(key=other, headers={"kid": good_kid})


@pytest.mark.parametrize(
    ("build", "args", "message"),
    [
        (lambda mk: mk(lifetime=-600), [], "invalid token: Signature has expired (exp "),
        (lambda mk: mk(nbf=int(time.time()) + 600), [], "invalid token: The token is not yet valid (nbf)"),
        (lambda mk: mk(aud=["other"]), [], "token aud ['other'], expected one of ['downstream-cluster']"),
        (lambda mk: mk(iss="https://evil.example"), [], "token iss 'https://evil.example', expected"),
        (forged, [], "invalid token: Signature verification failed"),
        (lambda mk: mk(headers={"kid": "unknown"}), [], "no key with kid 'unknown' in the JWKS"),
        (lambda mk: mk(exp=None), [], 'Token is missing the "exp" claim'),
        (
            lambda mk: jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256"),
            [],
            "algorithm 'HS256' not accepted",
        ),
        (
            lambda mk: jwt.encode({"sub": "x"}, None, algorithm="none"),
            [],
            "algorithm 'none' not accepted",
        ),
    ],
)
def test_verify_rejections(run, jwks_file: Path, make_token, build, args: list[str], message: str) -> None:
    token = build(make_token)
    result = run(
        "token", "verify", token, "--jwks", str(jwks_file), "--issuer", ISSUER, "--audience", AUDIENCE, *args
    )
    assert result.exit_code == 1
    assert_one_line_error(result, message)
    assert token.split(".")[1] not in result.stderr


def test_verify_leeway_accepts_a_just_expired_token(run, jwks_file: Path, make_token) -> None:
    token = make_token(lifetime=-5)
    assert run("token", "verify", token, "--jwks", str(jwks_file), "--leeway", "60").exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give --jwks FILE|URL or --issuer URL"),
        (["--jwks", "/nonexistent.json"], "--jwks file /nonexistent.json: no such file"),
        (["--issuer", "http://plain.example"], "--issuer 'http://plain.example' must be an https:// URL"),
    ],
)
def test_verify_input_errors(run, make_token, args: list[str], message: str) -> None:
    assert_one_line_error(run("token", "verify", make_token(), *args), message)


def test_verify_jwks_file_not_a_jwks(run, tmp_path: Path, make_token) -> None:
    bad = tmp_path / "jwks.json"
    bad.write_text('{"kty": "RSA"}')
    assert_one_line_error(run("token", "verify", make_token(), "--jwks", str(bad)), "not a JWKS")
    bad.write_text("{")
    assert_one_line_error(run("token", "verify", make_token(), "--jwks", str(bad)), "not JSON")


# --- verify --issuer against a real HTTPS discovery endpoint on loopback ------------------------------------


@dataclass
class Issuer:
    url: str
    ca_file: Path
    documents: dict[str, object]


@pytest.fixture(scope="module")
def https_issuer(tmp_path_factory: pytest.TempPathFactory, rsa_key) -> Iterator[Issuer]:
    """A static-hosting issuer (discovery and JWKS as plain files) on 127.0.0.1 with its own CA."""
    folder = tmp_path_factory.mktemp("issuer")
    ca_key, ca_cert = generate_ca("issuer-test-ca")
    key, cert = generate_serving(ca_key, ca_cert, ["localhost"], ["127.0.0.1"], 1)
    (folder / "ca.crt").write_bytes(pem_cert(ca_cert))
    (folder / "tls.crt").write_bytes(pem_cert(cert))
    (folder / "tls.key").write_bytes(pem_key(key))
    documents: dict[str, object] = {}

    server = ThreadingHTTPServer(("127.0.0.1", 0), json_documents_handler(documents, b"not found"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "tls.crt", folder / "tls.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    url = f"https://127.0.0.1:{server.server_address[1]}/bucket/cluster"
    documents["/bucket/cluster/.well-known/openid-configuration"] = oidc.discovery(
        url, keys=[rsa_key.public_key()]
    )
    documents["/bucket/cluster/openid/v1/jwks"] = oidc.jwks([rsa_key.public_key()])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Issuer(url, folder / "ca.crt", documents)
    server.shutdown()
    server.server_close()


def test_verify_through_discovery(run, https_issuer: Issuer, make_token) -> None:
    token = make_token(iss=https_issuer.url)
    result = run(
        "token",
        "verify",
        token,
        "--issuer",
        https_issuer.url,
        "--ca-file",
        str(https_issuer.ca_file),
        "--audience",
        AUDIENCE,
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["iss"] == https_issuer.url


def test_verify_jwks_url(run, https_issuer: Issuer, make_token) -> None:
    token = make_token()
    result = run(
        "token",
        "verify",
        token,
        "--jwks",
        https_issuer.url + "/openid/v1/jwks",
        "--ca-file",
        str(https_issuer.ca_file),
        "--audience",
        AUDIENCE,
    )
    assert result.exit_code == 0, result.output


def test_verify_discovery_needs_the_right_ca(run, https_issuer: Issuer, make_token, ca_file: Path) -> None:
    result = run("token", "verify", make_token(), "--issuer", https_issuer.url, "--ca-file", str(ca_file))
    assert_one_line_error(result, "discovery https://127.0.0.1:", "CERTIFICATE_VERIFY_FAILED")


def test_verify_discovery_errors(run, https_issuer: Issuer, make_token) -> None:
    ca = str(https_issuer.ca_file)
    result = run("token", "verify", make_token(), "--issuer", https_issuer.url + "/nothere", "--ca-file", ca)
    assert_one_line_error(result, "/nothere/.well-known/openid-configuration: HTTP 404 Not Found")
    # A discovery document naming another issuer is refused (OIDC Discovery 4.3).
    https_issuer.documents["/bucket/other/.well-known/openid-configuration"] = {
        "issuer": "https://x",
        "jwks_uri": "",
    }
    result = run(
        "token", "verify", make_token(), "--issuer", https_issuer.url[:-7] + "other", "--ca-file", ca
    )
    assert_one_line_error(result, "discovery document names issuer 'https://x', expected")


# --- request -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"), [("600", 600), ("10m", 600), ("1h", 3600), ("1h30m", 5400), ("7200s", 7200)]
)
def test_parse_duration(value: str, seconds: int) -> None:
    assert tokens.parse_duration(value) == seconds


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--duration", "5m"], "--duration '5m' out of range"),
        (["--duration", "soon"], "--duration 'soon': use seconds or h/m/s"),
        (["--duration", ""], "--duration '': use seconds"),
        (["--duration", "\u00b9\u00b2"], "use seconds or h/m/s"),
        (["--serviceaccount", "nobody"], "--serviceaccount 'nobody' must be NAMESPACE/NAME"),
        (["--audience", ""], "--audience must not be empty"),
        (["--kubeconfig", "/nonexistent/kubeconfig"], "kubeconfig"),
    ],
)
def test_request_errors(run, args: list[str], message: str) -> None:
    base = {"--serviceaccount": "demo/app", "--audience": "vault", "--duration": "10m"}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    assert_one_line_error(run("token", "request", *[x for pair in base.items() for x in pair]), message)


def test_request_unreachable_apiserver(run, unreachable_kubeconfig: Path) -> None:
    result = run(
        "token",
        "request",
        "--serviceaccount",
        "demo/app",
        "--audience",
        "vault",
        "--kubeconfig",
        str(unreachable_kubeconfig),
    )
    assert_one_line_error(result, "TokenRequest for demo/app failed:")
