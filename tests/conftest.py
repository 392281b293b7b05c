"""Refuse to test a stale build: an extension module compiled by mypyc shadows its edited source."""

from __future__ import annotations

from pathlib import Path

import pytest

import webhook

SOURCES = Path(webhook.__file__).parent


def pytest_configure(config: pytest.Config) -> None:
    # Wherever the package finds modules: the virtualenv's compiled ones (hack/compile.py) come first.
    for directory in map(Path, webhook.__path__):
        for module in directory.rglob("*.so"):
            source = SOURCES / module.relative_to(directory).with_name(module.name.split(".", 1)[0] + ".py")
            if directory == SOURCES:
                pytest.exit(f"{module} is compiled into the source tree: `make venv` removes it", 4)
            if source.exists() and source.stat().st_mtime > module.stat().st_mtime:
                pytest.exit(f"{module.name} is older than {source.name}: rebuild with `make venv`", 4)
