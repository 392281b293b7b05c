"""Issue 12 items 3 and 4 against the real TLS server: huge expirations and malformed token volumes get a
denial (or the EKS dialect's warning), never HTTP 500; a denial's message stays bounded."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.support import RunningServer, pod, review, start_server
from webhook.admission import MESSAGE_MAX_CHARS, denial_message
from webhook.certs import CertPaths
from webhook.vocabulary import volume_name_for

HUGE = "9" * 5000
OUR_VOLUME = volume_name_for("/var/run/secrets/tokens")
EKS_SERVICEACCOUNTS = f"""\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: s3
  namespace: default
  annotations:
    eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/s3
    eks.amazonaws.com/token-expiration: "{HUGE}"
"""


def answer(client: httpx.Client, obj: dict) -> dict:
    response = client.post("/mutate", json=review(obj))
    assert response.status_code == 200, response.text
    return response.json()["response"]


def test_a_huge_generic_expiration_is_a_denial_naming_the_annotation(client: httpx.Client) -> None:
    obj = pod(annotations={"projected-token.io/expiration-seconds": HUGE})
    response = answer(client, obj)
    assert response["allowed"] is False
    assert "projected-token.io/expiration-seconds" in response["status"]["message"]
    assert "out of range" in response["status"]["message"]


@pytest.mark.parametrize(
    ("token", "needle"),
    [
        (None, "serviceAccountToken must be an object, got null"),
        ({"path": 5, "audience": "vault"}, "serviceAccountToken.path must be a string, got number"),
        ({"path": ["a"], "audience": "vault"}, "serviceAccountToken.path must be a string, got array"),
        (
            {"path": "oidc-token", "expirationSeconds": "7200"},
            "serviceAccountToken.expirationSeconds must be an integer, got string",
        ),
    ],
)
def test_our_volume_with_a_malformed_token_source_is_denied(
    client: httpx.Client, token: object, needle: str
) -> None:
    obj = pod()
    obj["spec"]["volumes"] = [
        {"name": OUR_VOLUME, "projected": {"sources": [{"serviceAccountToken": token}]}}
    ]
    response = answer(client, obj)
    assert response["allowed"] is False, response
    assert (
        f"malformed pod: spec.volumes['{OUR_VOLUME}'].projected.sources[0].{needle}"
        in (response["status"]["message"])
    )


def test_a_null_token_source_is_denied(client: httpx.Client) -> None:
    obj = pod()
    obj["spec"]["volumes"] = [{"name": OUR_VOLUME, "projected": {"sources": [None]}}]
    response = answer(client, obj)
    assert response["allowed"] is False
    assert "projected.sources[0] must be an object, got null" in response["status"]["message"]


def test_twenty_thousand_bad_keys_give_a_bounded_denial(client: httpx.Client) -> None:
    annotations = {f"projected-token.io/Bad_{i}.audience": "x" for i in range(20_000)}
    response = client.post("/mutate", json=review(pod(annotations=annotations)))
    assert response.status_code == 200
    assert len(response.content) < 2 * MESSAGE_MAX_CHARS + 1024  # was 3.6 MB
    message = response.json()["response"]["status"]["message"]
    assert len(message) <= MESSAGE_MAX_CHARS and message.endswith("more problem(s)")
    assert "projected-token.io/Bad_0.audience" in message


@pytest.fixture(scope="module")
def eks_server(cert_bundle: CertPaths, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    sa_file = tmp_path_factory.mktemp("eks") / "serviceaccounts.yaml"
    sa_file.write_text(EKS_SERVICEACCOUNTS)
    running = start_server(cert_bundle.cert, cert_bundle.key, cert_bundle.ca_cert, sa_file, dialects=["eks"])
    yield running
    running.stop()


def test_a_huge_eks_expiration_is_ignored_with_a_warning(eks_server: RunningServer) -> None:
    with eks_server.client() as client:
        on_sa = answer(client, pod("s3"))
        on_pod = answer(client, pod("s3", annotations={"eks.amazonaws.com/token-expiration": HUGE}))
    for response in (on_sa, on_pod):
        assert response["allowed"] is True
        assert any("is no integer; using 86400" in w for w in response.get("warnings", [])), response
        patch = json.loads(base64.b64decode(response["patch"]))
        volume = next(op["value"] for op in patch if op["path"].startswith("/spec/volumes"))
        volume = volume[0] if isinstance(volume, list) else volume
        assert volume["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"] == 86400


def test_a_non_string_annotation_in_the_serviceaccounts_file_is_refused_naming_it(tmp_path: Path) -> None:
    from webhook.serviceaccounts import StaticFileSource

    sa_file = tmp_path / "sa.yaml"
    sa_file.write_text(
        "kind: ServiceAccount\nmetadata:\n  name: vault\n  annotations:\n"
        "    projected-token.io/audience: vault\n    projected-token.io/expiration-seconds: 7200\n"
    )
    with pytest.raises(Exception, match=r"ServiceAccount default/vault: annotation 'projected-token\.io/exp"):
        StaticFileSource(sa_file)


def test_render_gives_the_servers_denial_text(client: httpx.Client, sa_file: Path) -> None:
    import yaml
    from click.testing import CliRunner

    from webhook.cli import main

    bad_env = pod()
    bad_env["spec"]["containers"][0]["env"] = {"A": "b"}
    bad_selector = pod()
    bad_selector["spec"]["nodeSelector"] = ["a"]
    huge = pod(annotations={"projected-token.io/expiration-seconds": HUGE})
    for obj in (bad_env, bad_selector, huge):
        message = answer(client, obj)["status"]["message"]
        result = CliRunner().invoke(
            main, ["render", "-s", str(sa_file), "-"], input=yaml.safe_dump(obj), catch_exceptions=False
        )
        assert result.exit_code == 1, result.output
        errors = [
            line.split(": ", 3)[3] for line in result.stderr.splitlines() if line.startswith("error: <stdin>")
        ]
        assert denial_message(errors) == message, (errors, message)


def test_the_default_serviceaccount_counts_as_existing_unannotated(client: httpx.Client) -> None:
    obj = pod(None, annotations={"projected-token.io/audience": "team-b"})
    response = client.post("/mutate", json=review(obj, namespace="team-b")).json()["response"]
    assert response["allowed"] is True and "patch" in response, response
    assert not any("not found" in w for w in response.get("warnings", []))
    ghost = client.post("/mutate", json=review(pod("ghost"), namespace="team-b")).json()["response"]
    assert any("ServiceAccount team-b/ghost not found" in w for w in ghost["warnings"])
