"""Each dialect overlay carries the selectors its module declares, as `webhook manifests --dialects` does."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from tests.manifests.support import OVERLAYS, selects
from webhook.cli import main
from webhook.dialects import REGISTRY, object_selector_requirements

DIALECT_OVERLAYS = [name for name in OVERLAYS if name in REGISTRY]


def _hook(docs: list[dict[str, Any]]) -> dict[str, Any]:
    config = next(d for d in docs if d["kind"] == "MutatingWebhookConfiguration")
    hook: dict[str, Any] = config["webhooks"][0]
    return hook


def _dialects(docs: list[dict[str, Any]]) -> list[str]:
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    return next(a.split("=", 1)[1].split(",") for a in args if a.startswith("--dialects="))


@pytest.mark.parametrize("overlay", DIALECT_OVERLAYS)
def test_the_overlay_adds_exactly_the_declared_selectors(built: dict[str, Any], overlay: str) -> None:
    dialects = _dialects(built[overlay])
    assert overlay in dialects
    base = _hook(built["base"])["objectSelector"]["matchExpressions"]
    added = _hook(built[overlay])["objectSelector"]["matchExpressions"][len(base) :]
    assert added == object_selector_requirements(dialects)
    # `webhook manifests --dialects` gives the same selector.
    result = CliRunner().invoke(
        main, ["manifests", f"--dialects={','.join(dialects)}"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    generated = _hook([d for d in yaml.safe_load_all(result.stdout) if d])["objectSelector"][
        "matchExpressions"
    ]
    assert generated == [*base, *added]


def test_the_azure_overlay_sends_only_labelled_pods(built: dict[str, Any]) -> None:
    selector = _hook(built["azure"])["objectSelector"]
    assert selects(selector, {"azure.workload.identity/use": "true"})
    for labels in ({}, {"azure.workload.identity/use": "false"}, {"azure.workload.identity/use": "True"}):
        assert not selects(selector, labels), labels
    assert not selects(
        selector, {"azure.workload.identity/use": "true", "projected-token.io/inject": "false"}
    )
    # Beside another dialect the label cannot be required: that pod would never be sent.
    assert object_selector_requirements(["generic", "azure"]) == []


def test_the_gcp_overlay_keeps_the_base_selectors(built: dict[str, Any]) -> None:
    assert _hook(built["gcp"])["objectSelector"] == _hook(built["base"])["objectSelector"]
    assert _dialects(built["gcp"]) == ["generic", "gcp"]
