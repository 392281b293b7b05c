"""Issue 15's remaining generators: JWKS merging for rotations, the hosted-documents check, discovery RBAC,
the Greenhouse onboarding Secret, and the cluster-facing commands' errors."""

from __future__ import annotations

import base64
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import kubernetes_validate
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from ruamel.yaml import YAML

from tests.common import json_documents_handler
from tests.federation.support import AUDIENCE, ISSUER, assert_one_line_error, write_public_pem
from webhook.certs import generate_ca, generate_serving, pem_cert, pem_key
from webhook.federation import oidc, tokens

K8S_VERSION = "1.36.0"


@pytest.fixture(scope="module")
def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_jwks_merge_keeps_the_old_keys_after_the_new(run, tmp_path: Path, rsa_key, new_key) -> None:
    old = tmp_path / "old.json"
    old.write_text(json.dumps(oidc.jwks([rsa_key.public_key(), new_key.public_key()])))
    new_pub = write_public_pem(tmp_path / "new.pub", new_key)
    result = run("oidc", "jwks", "--public-key", str(new_pub), "--merge", str(old))
    assert result.exit_code == 0, result.output
    # The new key first, then the old key; the new key is listed once although the old set has it too.
    assert json.loads(result.stdout) == {
        "keys": [oidc.jwk(new_key.public_key()), oidc.jwk(rsa_key.public_key())]
    }
    assert result.stderr == f"note: 1 new key(s) and 1 kept from {old}\n"


def test_merged_jwks_verifies_tokens_of_either_key(run, tmp_path: Path, rsa_key, new_key, make_token) -> None:
    old = tmp_path / "old.json"
    old.write_text(json.dumps(oidc.jwks([rsa_key.public_key()])))
    merged = json.loads(
        run(
            "oidc",
            "jwks",
            "--public-key",
            str(write_public_pem(tmp_path / "n.pub", new_key)),
            "--merge",
            str(old),
        ).stdout
    )
    for key in (rsa_key, new_key):
        assert (
            tokens.verify(make_token(key=key), merged, issuer=ISSUER, audiences=[AUDIENCE])["iss"] == ISSUER
        )
    # Without the merge, the old key's tokens fail: what a relying party sees right after a rotation.
    with pytest.raises(tokens.InvalidToken, match="no key with kid"):
        tokens.verify(make_token(key=rsa_key), oidc.jwks([new_key.public_key()]))


def test_jwks_source_and_merge_errors(run, tmp_path: Path, rsa_key) -> None:
    pub = write_public_pem(tmp_path / "k.pub", rsa_key)
    assert_one_line_error(
        run("oidc", "jwks"), "Error: give --public-key FILE (repeatable) or --from-cluster, not both"
    )
    assert_one_line_error(
        run("oidc", "jwks", "--public-key", str(pub), "--from-cluster"),
        "Error: give --public-key FILE (repeatable) or --from-cluster, not both",
    )
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"keys": [{"kty": "RSA"}]}))
    assert_one_line_error(
        run("oidc", "jwks", "--public-key", str(pub), "--merge", str(old)),
        f"Error: --merge {old}: key 1 has no kid",
    )
    old.write_text("[" * 100_000)
    assert_one_line_error(
        run("oidc", "jwks", "--public-key", str(pub), "--merge", str(old)),
        f"Error: --jwks file {old}: not JSON (nested too deeply)",
    )


def _cluster(rsa_key) -> tuple[dict, dict]:
    return oidc.discovery(ISSUER, keys=[rsa_key.public_key()]), oidc.jwks([rsa_key.public_key()])


def test_hosting_differences_none_when_the_documents_match(rsa_key) -> None:
    discovery, jwks = _cluster(rsa_key)
    assert oidc.hosting_differences(ISSUER, discovery, jwks, discovery, jwks) == []


def test_hosting_differences_name_each_problem(rsa_key, new_key) -> None:
    discovery, jwks = _cluster(rsa_key)
    kid = oidc.key_id(rsa_key.public_key())
    hosted = {
        **discovery,
        "issuer": "https://other.example.com",
        "jwks_uri": "https://bucket.example.com/jwks",
    }
    assert oidc.hosting_differences(ISSUER, hosted, oidc.jwks([new_key.public_key()]), discovery, jwks) == [
        "wrong issuer: the hosted discovery names 'https://other.example.com', expected 'https://upstream.example.com'",
        "wrong jwks_uri: the hosted discovery names 'https://bucket.example.com/jwks', expected "
        "'https://upstream.example.com/openid/v1/jwks'",
        f"missing kid '{kid}': the cluster signs with it, the hosted JWKS lacks it",
    ]
    # --jwks-uri: the hosting's own jwks_uri is the expected one.
    assert (
        oidc.hosting_differences(
            ISSUER,
            {**discovery, "jwks_uri": "https://b/jwks"},
            jwks,
            discovery,
            jwks,
            jwks_uri="https://b/jwks",
        )
        == []
    )
    tampered = {"keys": [{**jwks["keys"][0], "n": oidc.jwk(new_key.public_key())["n"]}]}
    assert oidc.hosting_differences(ISSUER, discovery, tampered, discovery, jwks) == [
        f"kid '{kid}': the hosted key material differs from the cluster's"
    ]
    assert oidc.hosting_differences("https://x.example", discovery, jwks, discovery, jwks)[0] == (
        "the cluster's issuer is 'https://upstream.example.com', not 'https://x.example'"
    )
    assert oidc.hosting_differences(ISSUER, [], jwks, discovery, jwks) == [
        "the hosted discovery document is not a JSON object"
    ]


def test_discovery_rbac_exact(run) -> None:
    result = run("oidc", "discovery-rbac")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "apiVersion: rbac.authorization.k8s.io/v1\n"
        "kind: ClusterRoleBinding\n"
        "metadata:\n"
        "  name: oidc-reviewer\n"
        "roleRef:\n"
        "  apiGroup: rbac.authorization.k8s.io\n"
        "  kind: ClusterRole\n"
        "  name: system:service-account-issuer-discovery\n"
        "subjects:\n"
        "  - apiGroup: rbac.authorization.k8s.io\n"
        "    kind: Group\n"
        "    name: system:unauthenticated\n"
    )
    kubernetes_validate.validate(YAML(typ="safe").load(result.stdout), K8S_VERSION, strict=True)
    assert_one_line_error(
        run("oidc", "discovery-rbac", "--name", "Bad"),
        "Error: --name 'Bad' is not a valid object name (lowercase letters, digits, '-', '.')",
    )


def test_greenhouse_onboarding_secret_exact(run, ca_file: Path) -> None:
    result = run(
        "greenhouse", "onboarding-secret", "--cluster", "remote-1", "-n", "my-org",
        "--api-server-url", "https://remote.example.com:6443", "--ca-file", str(ca_file),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    twice = base64.b64encode(base64.b64encode(ca_file.read_bytes())).decode()
    assert result.stdout == (
        "apiVersion: v1\n"
        "kind: Secret\n"
        "metadata:\n"
        "  name: remote-1\n"
        "  namespace: my-org\n"
        "  annotations:\n"
        "    oidc.greenhouse.sap/api-server-url: https://remote.example.com:6443\n"
        "type: greenhouse.sap/oidc\n"
        "data:\n"
        f"  ca.crt: {twice}\n"
    )
    secret = YAML(typ="safe").load(result.stdout)
    kubernetes_validate.validate(secret, K8S_VERSION, strict=True)
    # Kubernetes decodes data once, Greenhouse once more: the PEM comes out.
    assert base64.b64decode(base64.b64decode(secret["data"]["ca.crt"])) == ca_file.read_bytes()
    assert result.stderr == (
        "note: Greenhouse signs in to the remote cluster as User "
        "'greenhouse:system:serviceaccount:my-org:remote-1' (audience 'greenhouse')\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--cluster", "Remote"],
            "--cluster 'Remote' is not a valid object name (lowercase letters, digits, '-', '.')",
        ),
        (["-n", "my_org"], "--namespace 'my_org' is not a valid namespace name"),
        (["--api-server-url", "http://remote"], "--api-server-url 'http://remote' must be an https:// URL"),
        (["--ca-file", "/nonexistent"], "CA file /nonexistent: no such file"),
    ],
)
def test_greenhouse_errors(run, ca_file: Path, args: list[str], message: str) -> None:
    base = {"--cluster": "c", "-n": "org", "--api-server-url": "https://r", "--ca-file": str(ca_file)}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    result = run("greenhouse", "onboarding-secret", *[x for pair in base.items() for x in pair])
    assert_one_line_error(result, f"Error: {message}")


def test_cluster_commands_unreachable_apiserver(run, unreachable_kubeconfig: Path, make_token) -> None:
    kc = ("--kubeconfig", str(unreachable_kubeconfig))
    assert_one_line_error(
        run("oidc", "jwks", "--from-cluster", *kc), "Error: GET /.well-known/openid-configuration failed: "
    )
    assert_one_line_error(run("token", "review", make_token(), *kc), "Error: TokenReview failed: ")


def test_cluster_commands_bad_kubeconfig(run, tmp_path: Path, make_token) -> None:
    missing = ("--kubeconfig", str(tmp_path / "missing"))
    no_such_file = f"Error: --kubeconfig {tmp_path / 'missing'}: no such file"
    assert_one_line_error(run("token", "review", make_token(), *missing), no_such_file)
    assert_one_line_error(run("oidc", "jwks", "--from-cluster", *missing), no_such_file)
    assert_one_line_error(
        run("token", "review", make_token(), "--audience", ""), "Error: --audience must not be empty"
    )


def test_oidc_check_unreachable_hosting(run) -> None:
    result = run("oidc", "check", "--issuer", "https://127.0.0.1:1/bucket")
    assert_one_line_error(
        result, "Error: hosted discovery https://127.0.0.1:1/bucket/.well-known/openid-configuration: "
    )
    assert_one_line_error(
        run("oidc", "check", "--issuer", "https://a b"), "Error: --issuer 'https://a b' must not"
    )


# --- the cluster-facing commands against loopback HTTPS servers holding an issuer's documents ------------


class Static:
    """HTTPS on 127.0.0.1 serving `documents` (path -> JSON); stands in for an apiserver's issuer
    endpoints (the e2e tests use a real one) and for a bucket."""

    def __init__(self, folder: Path) -> None:
        ca_key, ca_cert = generate_ca("lifecycle-test-ca")
        key, cert = generate_serving(ca_key, ca_cert, ["localhost"], ["127.0.0.1"], 1)
        self.ca_file = folder / "ca.crt"
        self.ca_file.write_bytes(pem_cert(ca_cert))
        (folder / "tls.crt").write_bytes(pem_cert(cert))
        (folder / "tls.key").write_bytes(pem_key(key))
        self.documents: dict[str, object] = {}
        documents = self.documents

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), json_documents_handler(documents, b"{}"))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(folder / "tls.crt", folder / "tls.key")
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.base = f"https://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def kubeconfig(self, path: Path) -> Path:
        cluster = {"server": self.base, "certificate-authority": str(self.ca_file)}
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "c", "cluster": cluster}],
                    "users": [{"name": "u", "user": {"token": "x"}}],
                    "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                    "current-context": "c",
                }
            )
        )
        return path


@pytest.fixture
def servers(tmp_path: Path, rsa_key) -> Iterator[tuple[Static, Static, Path]]:
    """(cluster, bucket, kubeconfig of the cluster): the bucket hosts the cluster's documents."""
    (tmp_path / "c").mkdir()
    (tmp_path / "b").mkdir()
    cluster, bucket = Static(tmp_path / "c"), Static(tmp_path / "b")
    issuer = cluster.base
    cluster.documents["/.well-known/openid-configuration"] = oidc.discovery(
        issuer, keys=[rsa_key.public_key()]
    )
    cluster.documents["/openid/v1/jwks"] = oidc.jwks([rsa_key.public_key()])
    bucket.documents["/b/.well-known/openid-configuration"] = oidc.discovery(
        issuer, keys=[rsa_key.public_key()]
    )
    bucket.documents["/openid/v1/jwks"] = oidc.jwks([rsa_key.public_key()])
    yield cluster, bucket, cluster.kubeconfig(tmp_path / "kubeconfig")
    for server in (cluster, bucket):
        server.server.shutdown()
        server.server.server_close()


def test_jwks_from_cluster(run, servers, rsa_key) -> None:
    cluster, _, kubeconfig = servers
    result = run("oidc", "jwks", "--from-cluster", "--kubeconfig", str(kubeconfig))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == oidc.jwks([rsa_key.public_key()])
    assert result.stderr == (
        f"note: the cluster's issuer is '{cluster.base}'; its discovery names jwks_uri "
        f"'{cluster.base}/openid/v1/jwks'\n"
    )
    cluster.documents["/openid/v1/jwks"] = {"keys": "none"}
    assert_one_line_error(
        run("oidc", "jwks", "--from-cluster", "--kubeconfig", str(kubeconfig)),
        "Error: the cluster's /openid/v1/jwks: not a JWKS",
    )
    cluster.documents["/.well-known/openid-configuration"] = ["not", "an", "object"]
    assert_one_line_error(
        run("oidc", "jwks", "--from-cluster", "--kubeconfig", str(kubeconfig)),
        "Error: the cluster's /.well-known/openid-configuration: not a JSON object",
    )
    cluster.documents["/.well-known/openid-configuration"] = {}
    del cluster.documents["/openid/v1/jwks"]
    assert_one_line_error(
        run("oidc", "jwks", "--from-cluster", "--kubeconfig", str(kubeconfig)),
        "Error: GET /openid/v1/jwks failed: HTTP 404: Not Found",
    )


def test_oidc_check_passes_then_names_the_rotated_kid(run, servers, rsa_key, new_key) -> None:
    cluster, bucket, kubeconfig = servers
    # The bucket's discovery names the bucket's own JWKS (--jwks-uri says so).
    hosted_uri = bucket.base + "/openid/v1/jwks"
    bucket.documents["/b/.well-known/openid-configuration"]["jwks_uri"] = hosted_uri  # type: ignore[index]
    check = (
        "oidc", "check", "--issuer", cluster.base,
        "--discovery-url", bucket.base + "/b/.well-known/openid-configuration",
        "--jwks-uri", hosted_uri, "--ca-file", str(bucket.ca_file), "--kubeconfig", str(kubeconfig),
    )  # fmt: skip
    passed = run(*check)
    assert passed.exit_code == 0, passed.output
    assert passed.stdout == ""
    assert passed.stderr == "note: the hosted documents match the cluster's (issuer, jwks_uri, 1 key(s))\n"

    # The cluster's key rotated; the bucket still holds the old JWKS.
    cluster.documents["/openid/v1/jwks"] = oidc.jwks([new_key.public_key()])
    failed = run(*check)
    assert failed.exit_code == 1
    new_kid = oidc.key_id(new_key.public_key())
    assert (
        failed.stdout
        == f"difference: missing kid '{new_kid}': the cluster signs with it, the hosted JWKS lacks it\n"
    )
    assert failed.stderr == "Error: 1 difference(s) between the hosted documents and the cluster's\n"

    # Uploading `jwks --from-cluster --merge OLD` heals it.
    old = Path(str(kubeconfig) + ".old.json")
    old.write_text(json.dumps(bucket.documents["/openid/v1/jwks"]))
    merged = run("oidc", "jwks", "--from-cluster", "--kubeconfig", str(kubeconfig), "--merge", str(old))
    bucket.documents["/openid/v1/jwks"] = json.loads(merged.stdout)
    assert run(*check).exit_code == 0

    # Without --jwks-uri the hosted jwks_uri must be the cluster's; the bucket's JWKS gone is named too.
    del bucket.documents["/openid/v1/jwks"]
    no_uri = run(*check[:6], "--ca-file", str(bucket.ca_file), "--kubeconfig", str(kubeconfig))
    assert no_uri.exit_code == 1
    assert no_uri.stdout.splitlines() == [
        f"difference: wrong jwks_uri: the hosted discovery names '{bucket.base}/openid/v1/jwks', expected "
        f"'{cluster.base}/openid/v1/jwks'",
        f"difference: missing kid '{new_kid}': the cluster signs with it, the hosted JWKS lacks it",
        f"difference: hosted jwks_uri {bucket.base}/openid/v1/jwks: HTTP 404 Not Found",
    ]
