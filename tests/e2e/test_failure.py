"""When the webhook is down or draining: what failurePolicy really does to pod creation."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from dataclasses import dataclass

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.common import serviceaccount
from tests.e2e.controlplane import ControlPlane
from tests.e2e.support import PREFIX, dump_all, pod, token_sources, wait_for, without_api_access
from tests.e2e.webhookserver import WebhookServer

pytestmark = pytest.mark.e2e
WEBHOOK_NAME = "inject.projected-token.io"
OPTED_OUT = {f"{PREFIX}/inject": "false"}


def annotated_serviceaccount(plane: ControlPlane, namespace: str) -> None:
    doc = serviceaccount("app", {f"{PREFIX}/audience": "vault"})
    plane.kubectl("create", "-n", namespace, "-f", "-", input=dump_all([doc]))


def create_pod(plane: ControlPlane, namespace: str, name: str, *, dry_run: bool = False, labels=None):
    args = ["create", "-n", namespace, "-o", "json", "-f", "-"]
    if dry_run:
        args.insert(1, "--dry-run=server")
    return plane.kubectl(*args, input=json.dumps(pod(name, "app", labels=labels)), check=False)


def untouched_pod(plane: ControlPlane, namespace: str, name: str) -> dict:
    """The same pod as the apiserver stores it with no webhook involved (objectSelector opt-out)."""
    result = create_pod(plane, namespace, name, dry_run=True, labels=OPTED_OUT)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def refused(result) -> bool:
    return result.returncode != 0 and f'failed calling webhook "{WEBHOOK_NAME}"' in result.stderr


@pytest.fixture
def excluded_namespace(control_plane: ControlPlane, namespace: str) -> str:
    """A second namespace that opts out with the manifest's namespace label."""
    name = namespace + "-x"
    control_plane.kubectl("create", "namespace", name)
    control_plane.kubectl("label", "namespace", name, f"{PREFIX}/inject=false")
    annotated_serviceaccount(control_plane, name)
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_webhook_down_with_ignore_creates_unmutated_pods(
    control_plane: ControlPlane, webhook: WebhookServer, namespace: str, excluded_namespace: str
):
    assert webhook.registration()["webhooks"][0]["failurePolicy"] == "Ignore", (
        "the manifest's default changed"
    )
    annotated_serviceaccount(control_plane, namespace)
    webhook.stop()

    # The webhook cache may still hold a previous test's Fail for a moment: wait for dry runs to pass.
    wait_for(
        "pods to be admitted", lambda: create_pod(control_plane, namespace, "p", dry_run=True).returncode == 0
    )
    result = create_pod(control_plane, namespace, "p")
    assert result.returncode == 0, result.stderr
    stored = json.loads(result.stdout)
    # Exactly the pod nobody mutated: the README's trade-off of Ignore, shown.
    assert not token_sources(stored)
    assert without_api_access(stored["spec"]) == without_api_access(
        untouched_pod(control_plane, namespace, "p-untouched")["spec"]
    )
    assert create_pod(control_plane, excluded_namespace, "p").returncode == 0


def test_webhook_down_with_fail_refuses_pods_but_not_in_excluded_namespaces(
    control_plane: ControlPlane, webhook: WebhookServer, namespace: str, excluded_namespace: str
):
    annotated_serviceaccount(control_plane, namespace)
    webhook.register(failurePolicy="Fail")
    webhook.stop()

    # The apiserver's webhook cache may hold Ignore for a moment: probe with dry runs until Fail shows.
    wait_for(
        "failurePolicy Fail to take effect",
        lambda: refused(create_pod(control_plane, namespace, "p", dry_run=True)),
    )
    result = create_pod(control_plane, namespace, "p")
    assert refused(result), result.stderr
    assert "connection refused" in result.stderr, result.stderr
    assert control_plane.kubectl("get", "pod", "p", "-n", namespace, check=False).returncode != 0
    # Excluded by the namespace label, by the namespace name (kube-system), by the pod label.
    assert create_pod(control_plane, excluded_namespace, "p").returncode == 0
    labelled = create_pod(control_plane, namespace, "opted-out", labels=OPTED_OUT)
    assert labelled.returncode == 0, labelled.stderr
    system = control_plane.kubectl(
        "create", "-n", "kube-system", "-f", "-", input=json.dumps(pod(namespace, "default")), check=False
    )
    assert system.returncode == 0, system.stderr
    control_plane.kubectl("delete", "pod", namespace, "-n", "kube-system", "--wait=false")


@dataclass
class Attempt:
    index: int
    started: float = 0.0
    ended: float = 0.0
    error: str = ""

    @property
    def refused_dial(self) -> bool:
        """The apiserver could not even connect: the review never reached the webhook."""
        return (
            f'failed calling webhook "{WEBHOOK_NAME}"' in self.error
            and "connect: connection refused" in self.error
        )


def watch_listener(port: int, open_at: list[float], closed_at: list[float], stop: threading.Event) -> None:
    """Record when the webhook's listening socket starts refusing connections, and the start of the last probe
    it accepted: it was surely listening until then (the close lies between the two)."""
    while not stop.is_set():
        probe = time.monotonic()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            open_at[:] = [probe]
        except ConnectionRefusedError:
            closed_at.append(time.monotonic())
            return
        except OSError:
            pass
        time.sleep(0.005)


def test_drain_completes_in_flight_reviews(
    control_plane: ControlPlane, webhook: WebhookServer, namespace: str, capsys
):
    """SIGTERM while 200 pods are created with failurePolicy Fail.

    Until the listener closes every create succeeds (mutated); while in-flight reviews drain, new dials are
    refused but nothing sent to the webhook is lost (no EOF/reset/timeout); after the exit all are refused.
    """
    total, rate, sigterm_after = 200, 20.0, 50
    annotated_serviceaccount(control_plane, namespace)
    webhook.register(failurePolicy="Fail")
    time.sleep(2)  # the apiserver's webhook cache follows its informer: give it time to see Fail
    attempts = [Attempt(i) for i in range(total)]
    sigterm_at: list[float] = []
    open_at: list[float] = []
    closed_at: list[float] = []
    exited_at: list[float] = []
    stop_watching = threading.Event()
    start = time.monotonic()

    def worker(offset: int, step: int) -> None:
        with control_plane.api_client() as api:
            core = client.CoreV1Api(api)
            for attempt in attempts[offset::step]:
                delay = start + attempt.index / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                attempt.started = time.monotonic()
                try:
                    core.create_namespaced_pod(namespace, pod(f"drain-{attempt.index}", "app", init=False))
                except ApiException as exc:
                    attempt.error = (json.loads(exc.body).get("message") if exc.body else None) or str(exc)
                attempt.ended = time.monotonic()

    def terminator() -> None:
        while sum(1 for a in attempts if a.ended) < sigterm_after:
            time.sleep(0.01)
        sigterm_at.append(time.monotonic())
        watch = (webhook.port, open_at, closed_at, stop_watching)
        threading.Thread(target=watch_listener, args=watch).start()
        webhook.signal(signal.SIGTERM)
        webhook.process.popen.wait(60)
        exited_at.append(time.monotonic())
        stop_watching.set()

    threads = [threading.Thread(target=worker, args=(i, 8)) for i in range(8)]
    threads.append(threading.Thread(target=terminator))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sigterm_at and exited_at and closed_at, "the webhook did not stop listening and exit after SIGTERM"
    sigterm, closed, exited = sigterm_at[0], closed_at[0], exited_at[0]
    surely_open = open_at[0] if open_at else sigterm

    # Creates that ended while the listener surely listened must all succeed; the watcher sees the close a
    # few ms late (it polls), so creates refused in between count as around the drain, not before it.
    serving = [a for a in attempts if a.ended < surely_open]
    draining = [a for a in attempts if a.ended >= surely_open and a.started <= exited]
    after_exit = [a for a in attempts if a.started > exited]
    # A dial whose handshake the kernel completed just before the listener closed waits in the accept queue
    # and is reset by the close: it never reached the webhook, like a refused dial (in a cluster, endpoints
    # go during the shutdown delay, so no dial meets the close). Only a create spanning the close can be one;
    # anything else that fails without a refused dial is a review lost in flight.
    raced = [
        a
        for a in attempts
        if "connection reset by peer" in a.error and a.started <= closed and a.ended >= surely_open
    ]
    lost = [a for a in attempts if a.error and not a.refused_dial and a not in raced]
    created = [a for a in attempts if not a.error]
    with capsys.disabled():
        print(
            f"\ndrain: {total} creates at {rate:.0f}/s, SIGTERM after {sigterm_after} "
            f"at t={sigterm - start:.2f}s, "
            f"listener closed t={surely_open - start:.3f}..{closed - start:.3f}s, "
            f"exit t={exited - start:.2f}s | "
            f"created {len(created)}, refused dials {sum(a.refused_dial for a in attempts)}, "
            f"reset in the accept queue at the close {len(raced)}, lost {len(lost)} | "
            f"ended while surely listening {len(serving)} (failed {sum(bool(a.error) for a in serving)}), "
            f"around drain {len(draining)} (refused {sum(a.refused_dial for a in draining)}), "
            f"after exit {len(after_exit)} (refused {sum(a.refused_dial for a in after_exit)})"
        )
    assert not lost, f"{len(lost)} reviews lost in flight, e.g. {lost[0].error}"
    assert len(raced) <= 2, (
        f"{len(raced)} creates reset at the listener's close: more than a race at one instant"
    )
    assert not [a for a in serving if a.error], [a.error for a in serving if a.error][:2]
    assert [a for a in attempts if sigterm <= a.started <= exited], (
        "no create during the drain: proves nothing"
    )
    assert after_exit and all(a.refused_dial for a in after_exit), "creates after the exit must be refused"
    # Every create that succeeded was mutated.
    stored = control_plane.kubectl_json("get", "pods", "-n", namespace)["items"]
    assert len(stored) == len(created)
    assert all(token_sources(p) for p in stored)
