"""Refuse to test a stale build: an extension module compiled by mypyc shadows its edited source."""

from __future__ import annotations

from pathlib import Path

import pytest

import webhook

PACKAGE = Path(webhook.__file__).parent


def pytest_configure(config: pytest.Config) -> None:
    # Whatever setup.py compiled: each extension module beside the source it was built from.
    for module in PACKAGE.rglob("*.so"):
        source = module.with_name(module.name.split(".", 1)[0] + ".py")
        if source.exists() and source.stat().st_mtime > module.stat().st_mtime:
            pytest.exit(f"{module.name} is older than {source.name}: rebuild with `make venv`", returncode=4)
