"""`make venv`'s compile step: the modules listed in pyproject.toml ([tool.projected-token-webhook]
compiled) compiled with mypyc out of the tree, installed into this interpreter's site-packages only.

The extension modules go to site-packages/webhook-compiled/, which webhook/__init__.py puts first on the
package's search path when it is on sys.path; mypyc's shared runtime (<hash>__mypyc) goes to site-packages.
Another interpreter using the tree sees neither and imports the pure sources.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMPILED_DIR = "webhook-compiled"  # the name webhook/__init__.py looks for
RUNTIMES = "runtimes.txt"  # inside COMPILED_DIR: the runtime files we put at the top of site-packages


def main() -> None:
    sys.path.insert(0, str(REPO))
    os.chdir(REPO)  # mypyc takes the module paths relative to the repository
    from setuptools import Distribution

    from setup import mypyc_extensions

    # In-place builds of older checkouts left these in the tree, where they shadow the sources.
    for leftover in [*REPO.glob("*__mypyc*.so"), *(REPO / "webhook").rglob("*.so")]:
        leftover.unlink()
    site = Path(sysconfig.get_paths()["platlib"])
    target = site / COMPILED_DIR
    with tempfile.TemporaryDirectory(prefix="webhook-compile-") as tmp:
        dist = Distribution({"name": "webhook-compiled", "ext_modules": mypyc_extensions(f"{tmp}/c")})
        build = dist.get_command_obj("build_ext")
        build.build_lib, build.build_temp = f"{tmp}/lib", f"{tmp}/temp"
        dist.run_command("build_ext")
        lib = Path(tmp) / "lib"
        if (target / RUNTIMES).exists():
            for name in (target / RUNTIMES).read_text().split():
                (site / name).unlink(missing_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        # copy2 keeps the build's mtime: tests/conftest.py compares it with the source's.
        for module in (lib / "webhook").rglob("*.so"):  # subpackages keep their folder (webhook/dialects)
            placed = target / module.relative_to(lib / "webhook")
            placed.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(module, placed)
        runtimes = sorted(lib.glob("*.so"))
        for runtime in runtimes:
            shutil.copy2(runtime, site / runtime.name)
        (target / RUNTIMES).write_text("".join(f"{r.name}\n" for r in runtimes))
    names = sorted(str(p.relative_to(target)) for p in target.rglob("*.so"))
    print(f"compiled into {target}: {', '.join(names)}")


if __name__ == "__main__":
    main()
