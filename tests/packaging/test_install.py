"""The wheel installed into fresh virtualenvs, as users install it: the core alone, then with [server].

One wheel is built per session; its dependencies come from a wheelhouse of requirements.lock's pins
(downloaded once, hashes checked, cached under ~/.cache/projected-token-webhook/wheelhouse/<lock digest>),
and every install is `pip --no-index` from there. Sizes are measured in docs/benchmarks.md, not asserted.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
import venv
from email.parser import Parser
from pathlib import Path
from zipfile import ZipFile

import pytest

import webhook
from tests.common import REPO
from tests.manifests.support import dockerfile_stages
from tests.packaging.smoke import serve_once

pytestmark = pytest.mark.venv

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "projected-token-webhook"
SERVER_ONLY = {"kubernetes", "fastapi", "starlette", "uvicorn", "httptools", "uvloop", "prometheus-client"}
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, **kwargs)  # type: ignore[call-overload,no-any-return]


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    built = _run([*PIP, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)])
    assert built.returncode == 0, built.stderr
    (path,) = out.glob("*.whl")
    return path


@pytest.fixture(scope="session")
def wheelhouse() -> Path:
    lock = REPO / "requirements.lock"
    house = CACHE / "wheelhouse" / hashlib.sha256(lock.read_bytes()).hexdigest()[:16]
    if not (house / ".complete").exists():
        house.mkdir(parents=True, exist_ok=True)
        fetched = _run(
            [
                *PIP,
                "download",
                "-q",
                "--no-deps",
                "--require-hashes",
                "--only-binary=:all:",
                "-r",
                str(lock),
                "-d",
                str(house),
            ]
        )
        if fetched.returncode != 0:
            pytest.skip(f"cannot fetch the locked wheels: {fetched.stderr.strip().splitlines()[-1:]}")
        (house / ".complete").touch()
    return house


def _fresh_venv(path: Path, wheel: Path, wheelhouse: Path, extras: str = "") -> Path:
    """A virtualenv with the wheel (and `extras`) installed from the wheelhouse only; its bin directory."""
    venv.EnvBuilder(with_pip=False).create(path)
    python = path / "bin" / "python"
    installed = _run(
        [
            *PIP,
            "--python",
            str(python),
            "install",
            "-q",
            "--no-index",
            "--no-compile",
            "--find-links",
            str(wheelhouse),
            f"{wheel}{extras}",
        ]
    )
    assert installed.returncode == 0, installed.stderr
    return path / "bin"


def _distributions(bin_dir: Path) -> set[str]:
    listed = _run([*PIP, "--python", str(bin_dir / "python"), "list", "--format", "json"])
    assert listed.returncode == 0, listed.stderr
    return {d["name"].lower().replace("_", "-") for d in json.loads(listed.stdout)}


def _one_error_line(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_wheel_metadata_is_complete(wheel: Path) -> None:
    with ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(name).decode())
        names = archive.namelist()
    assert metadata["Version"] == webhook.__version__
    assert metadata["License-Expression"] == "Apache-2.0"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert metadata["Requires-Python"] == ">=3.11"
    assert metadata["Description-Content-Type"] == "text/markdown" and metadata.get_payload()
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL"))
    assert {"Source", "Issues", "Changelog", "Security"} <= set(urls)
    assert "Programming Language :: Python :: 3.11" in metadata.get_all("Classifier")
    assert metadata["Keywords"] and "kubernetes" in metadata["Keywords"]
    assert set(metadata.get_all("Provides-Extra")) >= {"cluster", "server", "dev"}
    core = [r for r in metadata.get_all("Requires-Dist") if "extra ==" not in r]
    assert not {r.split(">")[0].split("[")[0].strip().lower() for r in core} & (SERVER_ONLY | {"jsonpatch"})
    assert "webhook/data/manifests/deployment.yaml" in names, "the install base travels in the wheel"


def test_core_install_renders_and_generates_and_names_the_missing_extras(
    tmp_path: Path, wheel: Path, wheelhouse: Path
) -> None:
    bin_dir = _fresh_venv(tmp_path / "core", wheel, wheelhouse)
    installed = _distributions(bin_dir)
    assert not installed & SERVER_ONLY, installed & SERVER_ONLY
    assert "jsonpatch" not in installed, "only the tests import jsonpatch"
    exe = str(bin_dir / "webhook")

    rendered = _run(
        [
            exe,
            "render",
            "-s",
            str(REPO / "examples" / "serviceaccounts.yaml"),
            str(REPO / "examples" / "workloads.yaml"),
            "-o",
            "patch",
        ]
    )
    assert rendered.returncode == 0, rendered.stderr
    assert json.loads(rendered.stdout) and "projected" in rendered.stdout
    kubeconfig = _run([exe, "certs", "generate", "--out", str(tmp_path / "certs")])
    assert kubeconfig.returncode == 0, kubeconfig.stderr
    generated = _run(
        [
            exe,
            "kubeconfig",
            "--server",
            "https://d.example",
            "--ca-file",
            str(tmp_path / "certs" / "ca.crt"),
            "-o",
            "json",
        ]
    )
    assert generated.returncode == 0 and json.loads(generated.stdout)["kind"] == "Config", generated.stderr
    assert _run([exe, "manifests"]).returncode == 0

    server = "pip install 'projected-token-webhook[server]'"
    _one_error_line(_run([exe, "serve", "--self-signed", "--port", "0"]), "`webhook serve`", server)
    _one_error_line(_run([exe, "serve", "--help"]), server)
    cluster = "pip install 'projected-token-webhook[cluster]'"
    _one_error_line(_run([exe, "drift"]), "`webhook drift` needs kubernetes", cluster)
    missing = str(tmp_path / "kubeconfig")
    token = _run(
        [exe, "token", "request", "--serviceaccount", "a/b", "--audience", "x", "--kubeconfig", missing]
    )
    _one_error_line(token, "`webhook token request`", cluster)
    listing = _run([exe, "--help"])
    assert listing.returncode == 0 and "Not installed (the [server] extra)" in listing.stdout


def test_server_install_serves_with_and_without_uvloop(tmp_path: Path, wheel: Path, wheelhouse: Path) -> None:
    bin_dir = _fresh_venv(tmp_path / "server", wheel, wheelhouse, "[server]")
    installed = _distributions(bin_dir)
    assert SERVER_ONLY - {"uvloop"} <= installed and "jsonpatch" not in installed
    serve_once(bin_dir)
    if "uvloop" in installed:  # absent where it does not build (Windows): serve picks asyncio's loop
        removed = _run([*PIP, "--python", str(bin_dir / "python"), "uninstall", "-q", "-y", "uvloop"])
        assert removed.returncode == 0, removed.stderr
        serve_once(bin_dir)


def _image_build_context(context: Path) -> None:
    """The build stage's COPY sources (as the Dockerfile names them) copied into `context`, its WORKDIR."""
    _, stages = dockerfile_stages()
    build = next(stage for stage in stages if stage[0][1].split()[-1] == "build")
    for instr, rest in build:
        if instr != "COPY" or rest.startswith("--from="):
            continue
        *sources, dest = rest.split()
        for source in sources:
            origin, into = REPO / source, context / dest
            if origin.is_dir():  # a directory's contents go into the destination
                shutil.copytree(origin, into, symlinks=True, dirs_exist_ok=True)
            else:
                target = into / origin.name if dest.endswith("/") else into
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target)


def test_image_build_stage_compiles_the_core(tmp_path: Path, wheelhouse: Path) -> None:
    """The build stage's steps without Docker: the build lock installed with hashes checked, the wheel
    built with WEBHOOK_COMPILE=1 from exactly what the Dockerfile copies, and the compiled modules loaded."""
    context = tmp_path / "src"
    context.mkdir()
    _image_build_context(context)
    build_venv = tmp_path / "build"
    venv.EnvBuilder(with_pip=True).create(build_venv)
    build_pip = [str(build_venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "--no-input"]
    lock = REPO / "requirements-build.lock"
    installed = _run([*build_pip, "install", "-q", "--no-deps", "--require-hashes", "-r", str(lock)])
    if installed.returncode != 0 and "Could not fetch" in installed.stderr + installed.stdout:
        pytest.skip("cannot fetch the build lock's wheels")
    assert installed.returncode == 0, installed.stderr
    wheels = tmp_path / "wheels"
    built = _run(
        [*build_pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "--wheel-dir", str(wheels), "."],
        cwd=context,
        env={**os.environ, "WEBHOOK_COMPILE": "1"},
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("*.whl")
    compiled = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["projected-token-webhook"][
        "compiled"
    ]
    with ZipFile(wheel) as archive:
        names = archive.namelist()
    for module in compiled:
        stem = module.removesuffix(".py")
        assert any(n.startswith(stem + ".") and n.endswith(".so") for n in names), f"{module} not compiled"
    assert "-cp311-" in wheel.name or "-cp3" in wheel.name, wheel.name  # a platform wheel, not py3-none-any
    bin_dir = _fresh_venv(tmp_path / "runtime", wheel, wheelhouse, "[server]")
    loaded = _run(
        [
            str(bin_dir / "python"),
            "-c",
            "import webhook.decision, webhook.mutate, webhook.yamledit, webhook.serve\n"
            "for m in (webhook.decision, webhook.mutate, webhook.yamledit): print(m.__file__)",
        ],
        cwd=tmp_path,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert all(line.endswith(".so") for line in loaded.stdout.split()), loaded.stdout
