"""Fixtures for the end-to-end tests: a real control plane, a real `webhook serve`, fresh namespaces.

Outside CI, missing assets skip the e2e tests with one line; in CI (CI=true) they fail instead.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.common import serviceaccount
from tests.e2e.controlplane import Assets, ControlPlane, find_assets, start_control_plane
from tests.e2e.support import IN_CI, PREFIX, pod, skip_or_fail, token_sources, wait_for
from tests.e2e.webhookserver import WebhookServer


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    if report.failed:
        for name in ("control_plane", "webhook_server"):
            component = getattr(item, "funcargs", {}).get(name)
            if component is not None and hasattr(component, "diagnostics"):
                report.sections.append((f"{name} logs", component.diagnostics()))
    return report


@pytest.fixture(scope="session")
def e2e_assets() -> Assets:
    assets, reason = find_assets()
    if assets is None:
        skip_or_fail(reason)
    return assets  # type: ignore[return-value]


@pytest.fixture(scope="session")
def control_plane_factory(
    e2e_assets: Assets, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., ControlPlane]]:
    """start(name=, extra_apiserver_args=, controller_manager=) -> ControlPlane; stopped at session end."""
    started: list[ControlPlane] = []

    def start(*, name: str, extra_apiserver_args: tuple[str, ...] = (), controller_manager: bool = False):
        plane = start_control_plane(
            tmp_path_factory.mktemp(f"cp-{name}"),
            assets=e2e_assets,
            name=name,
            extra_apiserver_args=extra_apiserver_args,
            controller_manager=controller_manager,
        )
        started.append(plane)
        return plane

    yield start
    for plane in started:
        plane.stop()


@pytest.fixture(scope="session")
def control_plane(e2e_assets: Assets, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """The upstream cluster every scenario runs against (with kube-controller-manager when available)."""
    if e2e_assets.kube_controller_manager is None and IN_CI:
        pytest.fail("CI: kube-controller-manager missing from the e2e assets", pytrace=False)
    plane = start_control_plane(
        tmp_path_factory.mktemp("control-plane"),
        assets=e2e_assets,
        controller_manager=e2e_assets.kube_controller_manager is not None,
    )
    try:
        yield plane
    finally:
        plane.stop()


def _namespace_name(node_name: str) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", node_name.lower().removeprefix("test_")).strip("-")[:40].strip("-")
    return f"e2e-{base}-{secrets.token_hex(3)}"


@pytest.fixture
def namespace(control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test (its `default` ServiceAccount exists when the controller manager runs)."""
    name = _namespace_name(request.node.name)
    control_plane.kubectl("create", "namespace", name)
    if control_plane.has_controller_manager:
        control_plane.kubectl("wait", "--for=create", "serviceaccount/default", "-n", name, "--timeout=60s")
    else:
        control_plane.kubectl("create", "serviceaccount", "default", "-n", name)
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


PROBE_NAMESPACE = "e2e-probe"
PROBE_AUDIENCE = "e2e-probe"


def _mutation_visible(plane: ControlPlane) -> bool:
    """Does a server-side dry-run pod in the probe namespace come back mutated?"""
    manifest = json.dumps(pod("probe", "probe", init=False))
    result = plane.kubectl(
        "create",
        "--dry-run=server",
        "-n",
        PROBE_NAMESPACE,
        "-o",
        "json",
        "-f",
        "-",
        input=manifest,
        check=False,
    )
    return result.returncode == 0 and PROBE_AUDIENCE in token_sources(json.loads(result.stdout))


@pytest.fixture(scope="session")
def webhook_server(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebhookServer]:
    """One `webhook serve` for the session (generic + EKS dialects), registered from manifests/base."""
    server = WebhookServer(
        control_plane, tmp_path_factory.mktemp("webhook"), extra_args=("--dialects", "generic,eks")
    )
    try:
        server.registration()
    except (FileNotFoundError, ValueError) as exc:
        skip_or_fail(str(exc))
    control_plane.kubectl("create", "namespace", PROBE_NAMESPACE)
    control_plane.kubectl(
        "create",
        "-n",
        PROBE_NAMESPACE,
        "-f",
        "-",
        input=json.dumps(serviceaccount("probe", {f"{PREFIX}/audience": PROBE_AUDIENCE})),
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
        server.unregister()


@pytest.fixture
def webhook(webhook_server: WebhookServer, control_plane: ControlPlane) -> WebhookServer:
    """The session's webhook, running and registered exactly as the manifests say (tests may change both)."""
    changed = not webhook_server.alive() or webhook_server.applied != webhook_server.registration()
    webhook_server.start()
    if changed:
        webhook_server.register()
    wait_for("the webhook registration to take effect", lambda: _mutation_visible(control_plane), timeout=30)
    return webhook_server
