"""`webhook manifests`: the sources of manifests/base, shipped in the wheel, with documented substitutions."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner, Result

from tests.common import REPO
from tests.manifests.support import MANIFESTS, copy_manifests, kubectl, kustomize, one
from webhook.certs import CertPaths, write_bundle
from webhook.cli import main
from webhook.install import base_dir


def _run(*args: str) -> Result:
    return CliRunner().invoke(main, ["manifests", *args])


def _docs(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def _keyed(docs: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    keyed = {(d["kind"], d["metadata"]["name"]): json.loads(json.dumps(d)) for d in docs}
    assert len(keyed) == len(docs), "duplicate objects"
    return keyed


def test_package_data_is_manifests_base() -> None:
    """webhook/data/manifests is the base itself (a symlink), so the two cannot drift apart."""
    link = REPO / "webhook" / "data" / "manifests"
    assert link.is_symlink() and link.resolve() == (MANIFESTS / "base").resolve()
    shipped = {p.name: p.read_bytes() for p in base_dir().iterdir() if p.name.endswith(".yaml")}
    assert shipped == {p.name: p.read_bytes() for p in (MANIFESTS / "base").glob("*.yaml")}


def test_default_output_equals_the_kustomize_base() -> None:
    if not kubectl():
        pytest.skip("kubectl (with kustomize) is not on PATH")
    result = _run()
    assert result.exit_code == 0, result.output
    assert _keyed(_docs(result.stdout)) == _keyed(kustomize(MANIFESTS / "base"))
    assert "no caBundle" in result.stderr


def test_substitutions_equal_the_same_changes_made_with_kustomize(tmp_path: Path) -> None:
    """The documented substitutions, written once as a kustomize overlay and once as flags."""
    if not kubectl():
        pytest.skip("kubectl (with kustomize) is not on PATH")
    tree = copy_manifests(tmp_path)
    certs = write_bundle(tmp_path / "certs", namespace="tokens", valid_days=2)
    bundle = base64.b64encode(certs.ca_cert.read_bytes()).decode()
    base = kustomize(tree / "base")
    args = one(base, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    excluded = next(i for i, a in enumerate(args) if a.startswith("--excluded-namespaces="))
    selector = one(base, "MutatingWebhookConfiguration")["webhooks"][0]["namespaceSelector"]
    by_name = next(
        i for i, e in enumerate(selector["matchExpressions"]) if e["key"] == "kubernetes.io/metadata.name"
    )
    overlay = tree / "overlays" / "substituted"
    overlay.mkdir()
    kustomization = {
        "resources": ["../../base"],
        "namespace": "tokens",
        "images": [{"name": "projected-token-webhook", "newName": "registry.example/ptw", "newTag": "1.2.3"}],
        "patches": [
            {
                "target": {"kind": "Deployment"},
                "patch": json.dumps(
                    [
                        {
                            "op": "replace",
                            "path": f"/spec/template/spec/containers/0/args/{excluded}",
                            "value": "--excluded-namespaces=kube-system,tokens",
                        },
                        {
                            "op": "add",
                            "path": "/spec/template/spec/containers/0/args/-",
                            "value": "--dialects=generic,eks",
                        },
                    ]
                ),
            },
            {
                "target": {"kind": "MutatingWebhookConfiguration"},
                "patch": json.dumps(
                    [
                        {
                            "op": "replace",
                            "path": f"/webhooks/0/namespaceSelector/matchExpressions/{by_name}/values",
                            "value": ["kube-system", "tokens"],
                        },
                        {"op": "replace", "path": "/webhooks/0/failurePolicy", "value": "Fail"},
                        {"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": bundle},
                        {  # the eks dialect's opt-out label, as the eks overlay has it
                            "op": "add",
                            "path": "/webhooks/0/objectSelector/matchExpressions/-",
                            "value": {
                                "key": "eks.amazonaws.com/skip-pod-identity-webhook",
                                "operator": "DoesNotExist",
                            },
                        },
                    ]
                ),
            },
        ],
    }
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))

    result = _run(
        "--namespace=tokens",
        "--image=registry.example/ptw:1.2.3",
        "--dialects=generic,eks",
        "--failure-policy=Fail",
        f"--ca-bundle-from={certs.ca_cert}",
    )
    assert result.exit_code == 0, result.output
    assert "no caBundle" not in result.stderr
    got = _keyed(_docs(result.stdout))
    assert got == _keyed(kustomize(overlay))
    assert got != _keyed(base)


def test_certs_dir_adds_a_valid_tls_secret_before_the_deployment(tmp_path: Path) -> None:
    certs: CertPaths = write_bundle(tmp_path / "certs", namespace="tokens", valid_days=2)
    result = _run("--namespace=tokens", f"--certs-dir={certs.ca_cert.parent}")
    assert result.exit_code == 0, result.output
    docs = _docs(result.stdout)
    kinds = [d["kind"] for d in docs]
    assert kinds.index("Secret") < kinds.index("Deployment")
    secret = one(docs, "Secret")
    deployment = one(docs, "Deployment")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["certs"]["secret"]["secretName"] == secret["metadata"]["name"]
    assert secret["metadata"]["namespace"] == "tokens"
    hook = one(docs, "MutatingWebhookConfiguration")["webhooks"][0]
    assert hook["clientConfig"]["caBundle"] == secret["data"]["ca.crt"]
    for doc in docs:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--namespace=Bad_NS"], "not a DNS-1123 label"),
        (["--image="], "not an image reference"),
        (["--dialects=generic,nope"], "unknown ['nope']"),
        (["--failure-policy=Sometimes"], "Invalid value for '--failure-policy'"),
        (["--ca-bundle-from=pyproject.toml"], "not a PEM certificate bundle"),
        (["--ca-bundle-from=/nonexistent/ca.crt"], "cannot read CA bundle"),
    ],
)
def test_bad_options_end_in_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["manifests", *args], catch_exceptions=False)
    assert result.exit_code != 0
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_certs_dir_for_another_namespace_is_refused(tmp_path: Path) -> None:
    certs = write_bundle(tmp_path / "certs", namespace="elsewhere", valid_days=2)
    result = _run("--namespace=tokens", f"--certs-dir={certs.cert.parent}")
    assert result.exit_code == 1
    assert "no SAN projected-token-webhook.tokens.svc" in result.stderr
    (tmp_path / "certs" / "tls.key").unlink()
    result = _run(f"--certs-dir={certs.cert.parent}")
    assert result.exit_code == 1 and "missing tls.key" in result.stderr


def test_the_built_wheel_ships_the_base(tmp_path: Path) -> None:
    """Build from exactly what the Docker build context holds (see .dockerignore) and look inside."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(MANIFESTS / "base", src / "manifests" / "base")
    shutil.copytree(
        REPO / "webhook", src / "webhook", symlinks=True, ignore=shutil.ignore_patterns("__pycache__")
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "--wheel-dir",
            str(tmp_path / "dist"),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0 and ("setuptools" in proc.stderr and "No matching distribution" in proc.stderr):
        pytest.skip("the build backend (setuptools>=77) could not be fetched from PyPI")
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("projected_token_webhook-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = {
            Path(n).name: archive.read(n)
            for n in archive.namelist()
            if n.startswith("webhook/data/manifests/")
        }
    assert shipped == {p.name: p.read_bytes() for p in (MANIFESTS / "base").iterdir()}
