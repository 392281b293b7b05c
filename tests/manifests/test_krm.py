"""`webhook render` as a KRM function: the exec form through standalone kustomize (built from Go modules by
hack/go-tools.sh), and the container form's image stage in the Dockerfile (checked statically)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

import webhook
from tests.common import REPO, WEBHOOK_BIN
from tests.gotools import find_tool
from tests.manifests.support import dockerfile_stages, kubectl

EXAMPLE = REPO / "examples" / "krm"
PATH = f"{WEBHOOK_BIN.parent}{os.pathsep}{os.environ['PATH']}"


@pytest.fixture(scope="module")
def kustomize_bin() -> Path:
    path, reason = find_tool("kustomize")
    if path is None:
        pytest.skip(reason)
    return path


def build(exe: Path | str, *args: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(exe), *args, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PATH": PATH},
    )


def _docs(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def _without_transformer(tmp_path: Path) -> Path:
    """A copy of the example whose kustomization does not run the function."""
    copy = tmp_path / "plain"
    shutil.copytree(EXAMPLE, copy)
    kustomization = yaml.safe_load((copy / "kustomization.yaml").read_text())
    del kustomization["transformers"]
    (copy / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return copy


def _volumes(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc["spec"]["template"]["spec"] if doc["kind"] == "Deployment" else doc["spec"]
    return spec.get("volumes") or []


def test_the_exec_function_gives_what_render_gives_on_the_plain_build(
    kustomize_bin: Path, tmp_path: Path
) -> None:
    krm = build(kustomize_bin, "build", "--enable-alpha-plugins", "--enable-exec", path=EXAMPLE)
    assert krm.returncode == 0, krm.stderr
    plain = build(kustomize_bin, "build", path=_without_transformer(tmp_path))
    assert plain.returncode == 0, plain.stderr
    rendered = subprocess.run(
        [str(WEBHOOK_BIN), "render", "-"], input=plain.stdout, capture_output=True, text=True, timeout=120
    )
    assert rendered.returncode == 0, rendered.stderr
    assert _docs(krm.stdout) == _docs(rendered.stdout)
    by_kind = {doc["kind"]: doc for doc in _docs(krm.stdout) if doc["kind"] != "ServiceAccount"}
    [volume] = _volumes(by_kind["Deployment"])
    token = volume["projected"]["sources"][0]["serviceAccountToken"]
    assert token == {"audience": "vault", "expirationSeconds": 7200, "path": "oidc-token"}
    # The CronJob's ServiceAccount asks for nothing: it comes out as the plain build has it.
    assert by_kind["CronJob"] == next(d for d in _docs(plain.stdout) if d["kind"] == "CronJob")
    assert "Render" not in {doc["kind"] for doc in _docs(krm.stdout)}  # the function's config stays out


def test_a_workload_the_webhook_would_deny_fails_the_build(kustomize_bin: Path, tmp_path: Path) -> None:
    copy = tmp_path / "denied"
    shutil.copytree(EXAMPLE, copy)
    with (copy / "workloads.yaml").open("a") as out:
        out.write(
            "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: short\n  annotations:\n"
            '    projected-token.io/audience: vault\n    projected-token.io/expiration-seconds: "60"\n'
            "spec:\n  containers:\n    - name: app\n      image: registry.example/app:1\n"
        )
    done = build(kustomize_bin, "build", "--enable-alpha-plugins", "--enable-exec", path=copy)
    assert done.returncode != 0
    assert done.stdout == ""
    # render's reasons reach the user through kustomize's stderr.
    assert "Pod team-a/short: projected-token.io/expiration-seconds='60'" in done.stderr
    assert "couldn't execute function" in done.stderr


def test_without_enable_exec_the_function_is_skipped_silently(kustomize_bin: Path) -> None:
    """What the README warns of: kustomize then builds as if the transformer were not there."""
    done = build(kustomize_bin, "build", "--enable-alpha-plugins", path=EXAMPLE)
    assert done.returncode == 0, done.stderr
    deployment = next(d for d in _docs(done.stdout) if d["kind"] == "Deployment")
    assert _volumes(deployment) == []


def test_kubectl_kustomize_skips_the_exec_function(tmp_path: Path) -> None:
    """Why the README says standalone kustomize: kubectl's embedded kustomize leaves the function out
    silently (with --enable-alpha-plugins) or refuses the build (without)."""
    exe = kubectl()
    if not exe:
        pytest.skip("kubectl is not on PATH")
    skipped = build(exe, "kustomize", "--enable-alpha-plugins", path=EXAMPLE)
    if skipped.returncode == 0:
        deployment = next(d for d in _docs(skipped.stdout) if d["kind"] == "Deployment")
        assert _volumes(deployment) == []
    assert build(exe, "kustomize", path=EXAMPLE).returncode != 0


def test_the_example_script_runs_render_on_stdin() -> None:
    script = EXAMPLE / "render-tokens"
    assert os.access(script, os.X_OK)
    lines = [line for line in script.read_text().splitlines() if line and not line.startswith("#")]
    assert lines == ["exec webhook render -"]
    config = yaml.safe_load((EXAMPLE / "render.yaml").read_text())
    spec = yaml.safe_load(config["metadata"]["annotations"]["config.kubernetes.io/function"])
    assert spec == {"exec": {"path": "./render-tokens"}}


def test_the_krm_image_stage_enters_render_and_the_server_stays_the_default() -> None:
    _, stages = dockerfile_stages()
    named = {stage[0][1].split()[-1]: stage for stage in stages if " AS " in stage[0][1].upper()}
    krm = dict(named["krm-function"])
    assert json.loads(krm["ENTRYPOINT"]) == ["webhook", "render", "-"]
    assert krm["COPY"] == "--from=build /opt/venv /opt/venv"
    assert krm["USER"] == "65532:65532" and "RUN" not in krm
    assert "PATH=/opt/venv/bin" in krm["ENV"]
    assert json.loads(dict(stages[-1])["ENTRYPOINT"]) == ["webhook", "serve"], "the default target"
    config = yaml.safe_load((EXAMPLE / "render-container.yaml").read_text())
    spec = yaml.safe_load(config["metadata"]["annotations"]["config.kubernetes.io/function"])
    assert spec == {"container": {"image": f"projected-token-webhook-krm:{webhook.__version__}"}}
    make = shutil.which("make")
    if make:
        # Under `make test` the parent's MAKELEVEL/MAKEFLAGS would add "Entering directory" lines.
        env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
        dry = subprocess.run(
            [make, "--no-print-directory", "-n", "image-krm"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert dry.stdout.strip() == (
            f"docker build --target krm-function -t projected-token-webhook-krm:{webhook.__version__} ."
        )
