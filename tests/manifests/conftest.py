"""Fixtures of the manifests tests: every kustomization built once per session (static with fresh certs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.manifests.support import OVERLAYS, copy_manifests, kubectl, kustomize
from webhook.certs import CertPaths, write_bundle


@pytest.fixture(scope="session")
def manifests_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_manifests(tmp_path_factory.mktemp("tree"))


@pytest.fixture(scope="session")
def static_certs(manifests_copy: Path) -> CertPaths:
    """What the README tells users to run: `webhook certs generate --out manifests/overlays/static/certs`."""
    return write_bundle(manifests_copy / "overlays" / "static" / "certs", valid_days=2)


@pytest.fixture(scope="session")
def built(manifests_copy: Path, static_certs: CertPaths) -> dict[str, list[dict[str, Any]]]:
    if not kubectl():
        pytest.skip("kubectl (with kustomize) is not on PATH")
    return {
        "base": kustomize(manifests_copy / "base"),
        **{name: kustomize(manifests_copy / "overlays" / name) for name in OVERLAYS},
    }
