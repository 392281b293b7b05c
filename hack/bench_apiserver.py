"""`make bench-apiserver`: pod-create latency through a real kube-apiserver, without and with our webhook.

The e2e control plane (etcd + kube-apiserver from hack/e2e-assets.sh, started by tests/e2e/controlplane.py)
and a real `webhook serve` over TLS on loopback (tests/e2e/webhookserver.py), registered from
manifests/base in the URL form with `failurePolicy: Fail`. Rounds alternate: the webhook unregistered,
then registered, each round waiting until a server-side dry-run shows the registration took effect. In
each round a few client threads create pods (each its own keep-alive HTTPS connection, as the admin) and
time every POST. Every pod of a "webhook" round must come back with our token volume and no pod of a
"none" round may; a create that fails or is not as expected is counted and printed.

Prints a markdown table (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.common import serviceaccount  # noqa: E402
from tests.e2e.controlplane import ControlPlane, find_assets, start_control_plane  # noqa: E402
from tests.e2e.support import PREFIX, pod, token_sources, wait_for  # noqa: E402
from tests.e2e.webhookserver import WebhookServer  # noqa: E402

AUDIENCE = "bench-apiserver"
SERVICEACCOUNT = "bench"


def mutated(pod_obj: dict[str, Any]) -> bool:
    return AUDIENCE in token_sources(pod_obj)


def create_pods(
    plane: ControlPlane, namespace: str, names: list[str], threads: int, account: str = SERVICEACCOUNT
) -> tuple[list[float], list[dict[str, Any]], list[str]]:
    """POST one pod per name from `threads` keep-alive connections: (latencies s, created pods, errors)."""
    latencies: list[float] = []
    created: list[dict[str, Any]] = []
    errors: list[str] = []
    lock = threading.Lock()
    host, port = "127.0.0.1", plane.port
    path = f"/api/v1/namespaces/{namespace}/pods"

    def worker(mine: list[str]) -> None:
        connection = http.client.HTTPSConnection(host, port, context=plane.ssl_context(), timeout=30)
        try:
            for name in mine:
                body = json.dumps(pod(name, account)).encode()
                started = time.perf_counter()
                connection.request("POST", path, body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                payload = response.read()
                elapsed = time.perf_counter() - started
                with lock:
                    if response.status == 201:
                        latencies.append(elapsed)
                        created.append(json.loads(payload))
                    else:
                        errors.append(f"{name}: HTTP {response.status} {payload[:200]!r}")
        finally:
            connection.close()

    workers = [threading.Thread(target=worker, args=(names[i::threads],)) for i in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return latencies, created, errors


def dry_run_mutated(plane: ControlPlane, namespace: str) -> bool:
    result = plane.kubectl(
        "create", "--dry-run=server", "-n", namespace, "-o", "json", "-f", "-",
        input=json.dumps(pod("probe", SERVICEACCOUNT)), check=False,
    )  # fmt: skip
    return result.returncode == 0 and mutated(json.loads(result.stdout))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": percentile(values, 0.50) * 1000,
        "p90": percentile(values, 0.90) * 1000,
        "p99": percentile(values, 0.99) * 1000,
        "mean": statistics.fmean(values) * 1000,
    }


def run(args: argparse.Namespace) -> int:
    assets, reason = find_assets()
    if assets is None:
        print(f"bench-apiserver: {reason} (run `make e2e-assets`)", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="bench-apiserver-"))
    plane = start_control_plane(workdir, assets=assets, controller_manager=False, name="bench")
    server: WebhookServer | None = None
    try:
        namespace = "bench"
        plane.kubectl("create", "namespace", namespace)
        plane.kubectl("create", "serviceaccount", "default", "-n", namespace)
        account = serviceaccount(SERVICEACCOUNT, {f"{PREFIX}/audience": AUDIENCE})
        plane.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(account))
        server = WebhookServer(plane, workdir / "webhook")
        server.start()

        def register() -> None:
            server.register(failurePolicy="Fail")

        configs: dict[str, Callable[[], Any]] = {
            "none": server.unregister,
            "webhook": register,
            "allowed": register,
        }
        # "allowed": registered, but the pods' ServiceAccount (`default`) has no annotation: the same round
        # trip to the webhook without a patch, which splits the added latency into the call and the patch.
        accounts = {"none": SERVICEACCOUNT, "webhook": SERVICEACCOUNT, "allowed": "default"}
        results: dict[str, list[float]] = {"none": [], "webhook": [], "allowed": []}
        problems: list[str] = []
        per_round = max(1, args.creates // args.rounds)
        serial = 0
        # Warm-up: connections, the apiserver's caches and the webhook's first requests are not measured.
        for mode in ("webhook", "none"):
            configs[mode]()
            wait_for(
                f"registration {mode}",
                lambda want=mode == "webhook": dry_run_mutated(plane, namespace) == want,
            )
            names = [f"warm-{mode}-{i}" for i in range(args.threads * 5)]
            create_pods(plane, namespace, names, args.threads)
        for round_no in range(args.rounds):
            for mode in (
                ("none", "webhook", "allowed") if round_no % 2 == 0 else ("allowed", "webhook", "none")
            ):
                configs[mode]()
                want = mode == "webhook"
                registered = mode != "none"
                wait_for(
                    f"registration {mode}",
                    lambda want=registered: dry_run_mutated(plane, namespace) == want,
                    timeout=30,
                )
                names = [f"{mode}-{serial + i}" for i in range(per_round)]
                serial += per_round
                latencies, created, errors = create_pods(
                    plane, namespace, names, args.threads, accounts[mode]
                )
                results[mode] += latencies
                problems += errors
                wrong = [p["metadata"]["name"] for p in created if mutated(p) != want]
                problems += [f"{name}: mutated={not want}, expected {want}" for name in wrong]
                print(
                    f"round {round_no + 1} {mode}: {len(latencies)} created, "
                    f"p50 {percentile(latencies, 0.5) * 1000:.2f} ms",
                    file=sys.stderr,
                )
        print_report(results, problems, args)
        return 1 if problems else 0
    finally:
        if server is not None:
            server.stop()
        plane.stop()


def print_report(results: dict[str, list[float]], problems: list[str], args: argparse.Namespace) -> None:
    rows = {mode: summary(values) for mode, values in results.items()}
    print(
        f"\nload average {os.getloadavg()[0]:.2f}; {args.rounds} interleaved rounds, {args.threads} client "
        "threads (keep-alive HTTPS, admin client certificate), pods POSTed to /api/v1/namespaces/bench/pods\n"
    )
    print("| registration | creates | p50 ms | p90 ms | p99 ms | mean ms |")
    print("|---|---:|---:|---:|---:|---:|")
    labels = {
        "none": "no webhook",
        "webhook": "webhook (URL, failurePolicy Fail), mutated",
        "allowed": "webhook, allowed without a patch",
    }
    for mode, row in rows.items():
        print(
            f"| {labels[mode]} | {row['n']:.0f} | {row['p50']:.2f} | {row['p90']:.2f} | "
            f"{row['p99']:.2f} | {row['mean']:.2f} |"
        )
    for mode in ("webhook", "allowed"):
        added = {q: rows[mode][q] - rows["none"][q] for q in ("p50", "p90", "p99", "mean")}
        print(
            f"| added: {labels[mode]} | | {added['p50']:+.2f} | {added['p90']:+.2f} | "
            f"{added['p99']:+.2f} | {added['mean']:+.2f} |"
        )
    print(f"\nfailed or unexpected creates: {len(problems)}")
    for problem in problems[:20]:
        print(f"- {problem}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--creates", type=int, default=360, help="Pods per mode (default 360).")
    parser.add_argument("--rounds", type=int, default=6, help="Interleaved rounds (default 6).")
    parser.add_argument("--threads", type=int, default=4, help="Client threads (default 4).")
    args = parser.parse_args()
    if args.creates < 1 or args.rounds < 1 or args.threads < 1:
        parser.error("--creates, --rounds and --threads must be at least 1")
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
