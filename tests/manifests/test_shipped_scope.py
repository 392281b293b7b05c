"""webhook.shipped_scope is what the shipped manifests say, read as `--webhook-config` reads a file."""

from __future__ import annotations

from importlib.resources.abc import Traversable

import yaml

from webhook.documents import objects, parse
from webhook.install import base_dir
from webhook.selectors import scope_from_objects
from webhook.shipped_scope import SHIPPED, SHIPPED_SCOPE


def _manifests() -> list[Traversable]:
    return sorted(
        (p for p in base_dir().iterdir() if p.name.endswith(".yaml") and p.name != "kustomization.yaml"),
        key=lambda p: p.name,
    )


def test_the_shipped_scope_is_the_one_in_the_shipped_manifests() -> None:
    docs = [doc for path in _manifests() for doc in parse(f"{SHIPPED}: {path.name}", path.read_text())]
    read = scope_from_objects(objects(docs), SHIPPED)
    assert read == SHIPPED_SCOPE, f"update webhook/shipped_scope.py to {read!r}"


def test_the_shipped_scope_reads_the_same_with_pyyaml() -> None:
    data = [doc for path in _manifests() for doc in yaml.safe_load_all(path.read_text())]
    assert scope_from_objects(data, SHIPPED) == SHIPPED_SCOPE
