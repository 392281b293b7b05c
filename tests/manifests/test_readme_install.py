"""README's "Installing into a cluster" against the chart and manifests it describes."""

from __future__ import annotations

import re

import yaml

from tests.common import REPO
from tests.manifests.support import MANIFESTS
from webhook.drain import IDLE_LINGER_SECONDS
from webhook.serve_settings import ServeSettings

README = (REPO / "README.md").read_text()


def _install_section() -> str:
    start = README.index("\n## Installing into a cluster\n")
    end = README.index("\n## ", start + 1)
    return README[start:end]


def _grace_period() -> int:
    deployment = yaml.safe_load((MANIFESTS / "base" / "deployment.yaml").read_text())
    return int(deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"])


def test_install_starts_with_helm_and_keeps_kustomize_and_webhook_manifests() -> None:
    section = _install_section()
    first_command = re.search(r"```sh\n(.*?)\n", section)
    assert first_command and first_command.group(1).startswith("helm install "), (
        "the first command is helm install"
    )
    assert (
        "charts/projected-token-webhook"
        in first_command.group(0) + section[first_command.end() :].split("```")[0]
    )
    assert "kubectl apply -k manifests/overlays/cert-manager" in section
    assert "webhook manifests" in section


def test_gke_private_cluster_note_names_the_reachable_ports() -> None:
    section = _install_section()
    note = section[section.index("GKE private cluster") :].split("\n\n")[0]
    assert "443" in note and "10250" in note and "securePort" in note and "firewall" in note


def test_readme_grace_period_is_the_manifests_and_exceeds_the_drain() -> None:
    settings = ServeSettings()
    drain = settings.shutdown_delay + IDLE_LINGER_SECONDS + settings.drain_timeout
    claims = re.findall(r"the manifests use (\d+)", README)
    assert claims == [str(_grace_period())], "README states the manifests' terminationGracePeriodSeconds"
    assert _grace_period() > drain
    assert f"{drain:g} s" in README, "README states the drain's worst case"
