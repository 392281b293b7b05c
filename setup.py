"""Build hook. With WEBHOOK_COMPILE=1 the wheel carries the hot core modules compiled with mypyc (the list is
in pyproject.toml, [tool.projected-token-webhook] compiled). Without it the package is pure Python.

`make venv` installs the package editable and pure, then compiles the same modules out of the tree into the
virtualenv (hack/compile.py): nothing compiled lands beside the sources."""

import os
import tomllib
from pathlib import Path

from setuptools import setup

PYPROJECT = Path(__file__).with_name("pyproject.toml")
COMPILED = tomllib.loads(PYPROJECT.read_text())["tool"]["projected-token-webhook"]["compiled"]


def mypyc_extensions(target_dir: str = "build") -> list:
    from mypyc.build import mypycify

    # Third-party modules may not be installed yet while the package builds: their types count as Any.
    return mypycify(["--ignore-missing-imports", *COMPILED], opt_level="3", target_dir=target_dir)


if __name__ == "__main__":
    setup(ext_modules=mypyc_extensions() if os.environ.get("WEBHOOK_COMPILE") == "1" else [])
