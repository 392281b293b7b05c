"""Refuse to test a stale build: an extension module compiled by mypyc shadows its edited source."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

COMPILED = ("webhook.yamledit", "webhook.mutate")  # setup.py's list


def pytest_configure(config: pytest.Config) -> None:
    for name in COMPILED:
        module = Path(importlib.import_module(name).__file__ or "")
        source = module.parent / (name.rpartition(".")[2] + ".py")
        if module.suffix != ".py" and source.stat().st_mtime > module.stat().st_mtime:
            pytest.exit(f"{module.name} is older than {source.name}: rebuild with `make venv`", returncode=4)
