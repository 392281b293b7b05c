"""hack/lib/gomodule.sh, the one throwaway-module builder the Go-building hack/ scripts share."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.common import REPO

HACK = REPO / "hack"
SCRIPTS = ("e2e-assets.sh", "relying-parties.sh", "go-tools.sh")

UPSTREAM = """module example.com/upstream

go 1.26.0

godebug (
	default=go1.26
	x509negativeserial=1
)

require example.com/dep v1.2.0

replace (
	example.com/api => ./staging/api // in-tree
	example.com/other v1.0.0 => ../other
	example.com/fork => example.com/fork-maintained v1.4.0
)

replace example.com/single v0.3.0 => example.com/single-fixed v0.3.1

replace example.com/forbidden => ./FORBIDDEN_DEPENDENCY
"""


def _directive(tmp_path: Path, keyword: str) -> list[str]:
    if not shutil.which("go"):
        pytest.skip("go is not on PATH")
    gomod = tmp_path / "go.mod"
    gomod.write_text(UPSTREAM)
    script = f'source "{HACK}/lib/gomodule.sh" && gomod_directive "{gomod}" {keyword}'
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, check=True)
    return proc.stdout.splitlines()


def test_directives_are_read_from_blocks_and_single_lines_without_comments(tmp_path: Path) -> None:
    assert _directive(tmp_path, "replace") == [
        "example.com/api => ./staging/api",
        "example.com/fork => example.com/fork-maintained v1.4.0",
        "example.com/other v1.0.0 => ../other",
        "example.com/single v0.3.0 => example.com/single-fixed v0.3.1",
        "example.com/forbidden => ./FORBIDDEN_DEPENDENCY",
    ]
    assert _directive(tmp_path, "godebug") == ["default=go1.26", "x509negativeserial=1"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_go_building_script_uses_the_shared_builder(script: str) -> None:
    text = (HACK / script).read_text()
    assert 'source "$(dirname' in text and "/lib/gomodule.sh" in text
    assert "throwaway_module " in text
    assert not re.search(r"^\s*(throwaway_module|gomod_field)\(\)", text, re.M), "defined again"
    assert "go.mod.new" not in text, "writes a go.mod of its own"


def test_throwaway_module_keeps_upstream_settings_and_maps_local_replaces(tmp_path: Path) -> None:
    """Against a real Go module proxy on disk (GOPROXY=file://): the go directive, godebug and non-local
    replaces are the upstream's; local replaces under the prefix become the sibling release, others go."""
    if not shutil.which("go"):
        pytest.skip("go is not on PATH")
    for module, version, gomod in (
        ("example.com/upstream", "v1.0.0", UPSTREAM),
        ("example.com/dep", "v1.2.0", "module example.com/dep\n\ngo 1.22\n"),
    ):
        proxy = tmp_path / "proxy" / module / "@v"
        proxy.mkdir(parents=True)
        (proxy / "list").write_text(version + "\n")
        (proxy / f"{version}.info").write_text(f'{{"Version":"{version}","Time":"2026-01-01T00:00:00Z"}}')
        (proxy / f"{version}.mod").write_text(gomod)
        with zipfile.ZipFile(proxy / f"{version}.zip", "w") as zf:
            zf.writestr(f"{module}@{version}/go.mod", gomod)
    folder = tmp_path / "throwaway"
    env = {
        **os.environ,
        "GOPROXY": (tmp_path / "proxy").as_uri(),
        "GOSUMDB": "off",
        "GOFLAGS": "-mod=mod",
        "GOMODCACHE": str(tmp_path / "modcache"),
    }
    script = (
        f'source "{HACK}/lib/gomodule.sh" && '
        f'throwaway_module demo example.com/upstream v1.0.0 "{folder}" v1.0.0 example.com/api'
    )
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (folder / "go.mod").read_text() == (
        "module local.invalid/demo\n\n"
        "go 1.26.0\n"
        "godebug default=go1.26\n"
        "godebug x509negativeserial=1\n\n"
        "require example.com/upstream v1.0.0\n\n"
        "replace (\n"
        "\texample.com/api => example.com/api v1.0.0\n"
        "\texample.com/fork => example.com/fork-maintained v1.4.0\n"
        "\texample.com/single v0.3.0 => example.com/single-fixed v0.3.1\n"
        ")\n"
    )
    subprocess.run(["go", "mod", "edit", "-json"], cwd=folder, check=True, capture_output=True, env=env)
    # Unchanged on a re-run: go.sum (what a build resolved) is kept; a go.mod made otherwise is replaced.
    (folder / "go.sum").write_text("")
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (folder / "go.sum").exists()
    (folder / "go.mod").write_text((folder / "go.mod").read_text().replace("go 1.26.0", "go 1.25.0"))
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "go 1.26.0" in (folder / "go.mod").read_text() and not (folder / "go.sum").exists()
