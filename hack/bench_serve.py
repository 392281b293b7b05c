"""`make bench-serve`: the admission server under a real load generator, beside its own ceiling.

- Server: `webhook serve` pinned to CPU 0 (`taskset -c 0`), TLS, info-level decision logs to a file,
  ServiceAccounts from examples/serviceaccounts.yaml, WEBHOOK_BENCH_ENDPOINT=1 to expose /bench/fixed:
  the same app, middleware, uvicorn, httptools, uvloop and TLS, reading the body and returning a fixed
  AdmissionReview (the ceiling).
- Load: `hey` pinned to CPU 1, HTTP/1.1 keep-alive over TLS, POSTing examples/admissionreview.json at fixed
  rates (200, 500, 1,000/s), then unthrottled to find each endpoint's maximum.
- Memory: a separate process feeds 100,000 ServiceAccounts through the cluster cache's own list-page code
  and reports its RSS.

Prints a markdown table (paste it into docs/benchmarks.md). Absolute figures drift from run to run on a
shared machine; compare the two columns of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WEBHOOK = Path(sys.executable).with_name("webhook")
REVIEW = REPO / "examples" / "admissionreview.json"
SERVICEACCOUNTS = REPO / "examples" / "serviceaccounts.yaml"


def start_server(
    workdir: Path, tree: Path | None = None, wrapper: tuple[str, ...] = (), timeout: float = 30
) -> tuple[subprocess.Popen[bytes], int]:
    """`webhook serve` of this checkout, or of the source tree `tree` with that tree's own virtualenv (`make
    venv` there: its compiled core, not this one's, which would shadow the tree's sources), run under
    `wrapper` (e.g. valgrind) if given."""
    sys.path.insert(0, str(REPO))
    from webhook.certs import write_bundle

    workdir.mkdir(parents=True, exist_ok=True)
    certs = write_bundle(workdir / "certs", ip_addresses=["127.0.0.1"], extra_dns=["localhost"])
    log = workdir / "serve.log"
    if tree is not None and not (tree / ".venv" / "bin" / "webhook").exists():
        raise SystemExit(f"{tree} has no virtualenv: run `make venv` there first")
    command = [str(WEBHOOK if tree is None else tree / ".venv" / "bin" / "webhook")]
    argv = ["taskset", "-c", "0", *wrapper, *command, "serve", "--host", "127.0.0.1", "--port", "0"]
    argv += [
        "--tls-cert",
        str(certs.cert),
        "--tls-key",
        str(certs.key),
        "--serviceaccounts",
        str(SERVICEACCOUNTS),
    ]
    env = {**os.environ, "WEBHOOK_BENCH_ENDPOINT": "1"}
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tree)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if '"msg":"serving"' in line:
                time.sleep(1.0)
                return proc, json.loads(line)["port"]
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"webhook serve did not start:\n{log.read_text()[-2000:]}")


def hey(url: str, seconds: int, workers: int, rate: int | None) -> dict[str, float]:
    argv = ["taskset", "-c", "1", "hey", "-z", f"{seconds}s", "-c", str(workers), "-m", "POST"]
    argv += ["-T", "application/json", "-D", str(REVIEW)]
    if rate:
        argv += ["-q", f"{rate / workers:g}"]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "90", "99"):
        match = re.search(rf"{pct}%+ in ([\d.]+) secs", out)
        result[f"p{pct}"] = float(match.group(1)) * 1000 if match else float("nan")
    codes = dict(re.findall(r"\[(\d+)\]\s+(\d+) responses", out))
    result["ok"] = float(codes.get("200", 0))
    result["failed"] = float(sum(int(n) for code, n in codes.items() if code != "200"))
    errors = re.search(r"Error distribution:\n((?:\s+\[\d+\].*\n?)+)", out)
    if errors:
        result["failed"] += sum(int(n) for n in re.findall(r"\[(\d+)\]", errors.group(1)))
    return result


def write_pages(path: Path, count: int, page_size: int = 500) -> None:
    """ServiceAccountList pages as the apiserver sends them, one JSON document per line; 10% annotated."""
    with path.open("w") as out:
        for start in range(0, count, page_size):
            items = []
            for i in range(start, min(start + page_size, count)):
                meta: dict = {
                    "name": f"sa-{i:06d}",
                    "namespace": f"team-{i % 1000:04d}",
                    "uid": f"2b6f0cc9-{i:08d}-4c1e-9f4e-0e4b7a9d1c2f",
                    "resourceVersion": str(1000000 + i),
                    "creationTimestamp": "2026-11-22T06:00:00Z",
                    "labels": {"app.kubernetes.io/name": f"app-{i % 97}"},
                }
                if i % 10 == 0:
                    meta["annotations"] = {
                        "projected-token.io/audience": "vault",
                        "projected-token.io/path": "oidc-token",
                        "kubectl.kubernetes.io/last-applied-configuration": "x" * 400,
                    }
                items.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta})
            page = {"kind": "ServiceAccountList", "metadata": {"resourceVersion": "2000000"}, "items": items}
            out.write(json.dumps(page) + "\n")


MEMORY_PROBE = """
import gc, json, resource, sys
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
import webhook.app, webhook.serve  # the whole serving stack, as in `webhook serve`
from kubernetes import client
from webhook.serviceaccounts import ClusterCache, annotation_prefixes
prefixes = annotation_prefixes("projected-token.io", ["generic", "eks"])
cache = ClusterCache(client.ApiClient(client.Configuration()), prefixes)
gc.collect()
base = rss()
store = {}
with open(sys.argv[1], "rb") as pages:
    for line in pages:  # what relist() does with each response body
        cache.apply_page(store, json.loads(line))
cache._store = store
del line
gc.collect()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"base": base, "after": rss(), "peak": peak, "count": len(cache)}))
"""


def memory(count: int, workdir: Path) -> dict[str, float]:
    """RSS of a process holding `count` ServiceAccounts in the cluster cache, fed page by page."""
    pages = workdir / "pages.jsonl"
    write_pages(pages, count)
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(pages)], capture_output=True, text=True, check=True, cwd=REPO
    )
    return json.loads(out.stdout)


def compare_trees(trees: list[Path], args: argparse.Namespace) -> None:
    """The same load on two servers in turn (old, new, old, new, ...): a ratio that host drift cannot fake."""
    results: dict[Path, dict[str, list[dict[str, float]]]] = {t: {"mutate": [], "fixed": []} for t in trees}
    with tempfile.TemporaryDirectory() as tmp:
        servers = [start_server(Path(tmp) / str(i), tree) for i, tree in enumerate(trees)]
        try:
            for _, port in servers:
                hey(f"https://127.0.0.1:{port}/mutate", 2, args.workers, None)  # warm-up
            for _ in range(args.rounds):
                for tree, (proc, port) in zip(trees, servers, strict=True):
                    base = f"https://127.0.0.1:{port}"
                    for path, key in (("/mutate?timeout=10s", "mutate"), ("/bench/fixed", "fixed")):
                        before = cpu_seconds(proc.pid)
                        cell = hey(base + path, args.seconds, args.workers, None)
                        # The server's own CPU per answered request: what a busy host distorts least.
                        cell["cpu_us"] = (cpu_seconds(proc.pid) - before) / max(cell["ok"], 1) * 1e6
                        results[tree][key].append(cell)
                        print(f"{tree.name} {key}: {cell}", file=sys.stderr)
        finally:
            for proc, _ in servers:
                proc.terminate()
                proc.wait(30)
    print(
        f"`hack/bench_serve.py --compare-trees` {time.strftime('%Y-%m-%d')}: unthrottled hey, {args.workers} "
        f"workers, {args.seconds} s/cell, {args.rounds} interleaved rounds; servers on CPU 0, hey on CPU 1."
    )
    print("\n| tree | endpoint | req/s per round | server CPU µs/request per round | median CPU µs/request |")
    print("|---|---|---|---|---|")
    medians = {}
    for tree in trees:
        for key, cells in results[tree].items():
            cpu = sorted(c["cpu_us"] for c in cells)
            medians[tree, key] = cpu[len(cpu) // 2]
            rates = ", ".join(f"{c['rps']:.0f}" for c in cells)
            cpus = ", ".join(f"{c['cpu_us']:.0f}" for c in cells)
            print(f"| {tree.name} | {key} | {rates} | {cpus} | {medians[tree, key]:.0f} |")
    old, new = trees
    for key in ("mutate", "fixed"):
        ratio = medians[new, key] / medians[old, key]
        print(f"\n{key}: CPU per request {new.name} / {old.name} = {ratio:.2f}", end="")
    print()


def callgrind_trees(trees: list[Path], args: argparse.Namespace) -> None:
    """Instructions per answered request of each tree's server under callgrind: repeatable whatever the load.

    Each server starts with instrumentation off; after a warm-up, counting is switched on for exactly
    --requests requests of each endpoint (hey -n) and the counters are dumped and read. Rounds alternate the
    trees (old, new, old, new, ...), each round with fresh servers.
    """
    results: dict[tuple[Path, str], list[float]] = {(t, k): [] for t in trees for k in ("mutate", "fixed")}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for index, tree in enumerate(trees):
                workdir = Path(tmp) / f"{round_}-{index}"
                out = workdir / "callgrind.out"
                wrapper = (
                    "valgrind",
                    "--tool=callgrind",
                    "--instr-atstart=no",
                    f"--callgrind-out-file={out}",
                )
                proc, port = start_server(workdir, tree, wrapper, timeout=600)
                try:
                    base = f"https://127.0.0.1:{port}"
                    for path, key in (("/mutate?timeout=10s", "mutate"), ("/bench/fixed", "fixed")):
                        hey_count(base + path, 50, args.workers)  # warm-up, not counted
                        control = ["callgrind_control", str(proc.pid)]
                        subprocess.run([*control, "--zero"], check=True, capture_output=True)
                        subprocess.run([*control, "--instr=on"], check=True, capture_output=True)
                        ok = hey_count(base + path, args.requests, args.workers)
                        subprocess.run([*control, "--instr=off"], check=True, capture_output=True)
                        subprocess.run([*control, "--dump"], check=True, capture_output=True)
                        dumps = sorted(workdir.glob("callgrind.out*"), key=lambda f: f.stat().st_mtime)
                        totals = re.search(r"^totals: (\d+)", dumps[-1].read_text(), re.M)
                        per_request = int(totals.group(1)) / max(ok, 1)  # type: ignore[union-attr]
                        results[tree, key].append(per_request)
                        print(
                            f"{tree.name} {key}: {ok} ok, {per_request:,.0f} instructions/request",
                            file=sys.stderr,
                        )
                finally:
                    proc.terminate()
                    proc.wait(120)
    print(
        f"`hack/bench_serve.py --compare-trees --callgrind` {time.strftime('%Y-%m-%d')}: instructions per "
        f"answered request (valgrind callgrind, the server process only, counted over {args.requests} "
        f"requests per endpoint after a warm-up; hey, {args.workers} workers), {args.rounds} interleaved "
        "rounds."
    )
    print("\n| tree | endpoint | instructions/request per round | median |")
    print("|---|---|---|---|")
    medians = {}
    for (tree, key), cells in results.items():
        medians[tree, key] = sorted(cells)[len(cells) // 2]
        rounds = ", ".join(f"{c:,.0f}" for c in cells)
        print(f"| {tree.name} | {key} | {rounds} | {medians[tree, key]:,.0f} |")
    old, new = trees
    for key in ("mutate", "fixed"):
        print(
            f"\n{key}: instructions per request {new.name} / {old.name} = "
            f"{medians[new, key] / medians[old, key]:.3f}",
            end="",
        )
    print()


def hey_count(url: str, requests: int, workers: int) -> int:
    """Exactly `requests` POSTs (hey -n); the number answered 200."""
    argv = ["taskset", "-c", "1", "hey", "-n", str(requests), "-c", str(workers), "-m", "POST", "-t", "60"]
    argv += ["-T", "application/json", "-D", str(REVIEW), url]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return sum(int(n) for code, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", out) if code == "200")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="per cell; e.g. 3 for a quick check")
    parser.add_argument("--workers", type=int, default=10)
    parser.add_argument("--rates", default="200,500,1000")
    parser.add_argument("--max-workers", type=int, default=16, help="hey -c for the unthrottled cell")
    parser.add_argument("--serviceaccounts", type=int, default=100_000)
    parser.add_argument(
        "--compare-trees",
        metavar="OLD,NEW",
        help="instead: two source trees (e.g. `git worktree add` checkouts of two commits, each after `make "
        "venv`), served side by side and measured interleaved, unthrottled, --rounds times",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="with --compare-trees: instructions per request under valgrind instead of wall-clock cells",
    )
    parser.add_argument(
        "--requests", type=int, default=1000, help="requests counted per cell with --callgrind"
    )
    args = parser.parse_args()
    if not shutil.which("hey"):
        raise SystemExit("hey not found: apt-get install -y hey (make bench-serve does it)")
    if args.compare_trees and args.callgrind:
        callgrind_trees([Path(t).resolve() for t in args.compare_trees.split(",")], args)
        return
    if args.compare_trees:
        compare_trees([Path(t).resolve() for t in args.compare_trees.split(",")], args)
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = start_server(Path(tmp))
        try:
            base = f"https://127.0.0.1:{port}"
            idle_rss = rss_mib(proc.pid)
            hey(base + "/mutate", 2, args.workers, None)  # warm-up
            cells: list[tuple[int | None, int]] = [(int(r), args.workers) for r in args.rates.split(",")]
            cells.append((None, args.max_workers))
            for rate, workers in cells:
                pair = []
                # Interleaved per cell, so host drift hits both endpoints alike.
                for path in ("/mutate?timeout=10s", "/bench/fixed"):
                    before = cpu_seconds(proc.pid)
                    cell = hey(base + path, args.seconds, workers, rate)
                    cell["cpu_us"] = (cpu_seconds(proc.pid) - before) / max(cell["ok"], 1) * 1e6
                    pair.append(cell)
                rows.append((rate, workers, pair[0], pair[1]))
                print(f"rate {rate or 'max'}: mutate {pair[0]} | fixed {pair[1]}", file=sys.stderr)
            loaded_rss = rss_mib(proc.pid)
            decisions = sum(
                1 for line in (Path(tmp) / "serve.log").read_text().splitlines() if "admission" in line
            )
        finally:
            proc.terminate()
            proc.wait(30)
        mem = memory(args.serviceaccounts, Path(tmp))

    print(
        f"`make bench-serve` {time.strftime('%Y-%m-%d')}: hey, {args.seconds} s/cell, /mutate, /bench/fixed"
    )
    print("interleaved per cell, HTTP/1.1 keep-alive, TLS 1.3, server on CPU 0, hey on CPU 1.")
    print(f"Load average at the end: {os.getloadavg()[0]:.2f}. Decision log lines written: {decisions}.\n")
    print(
        "| rate (req/s) | workers | /mutate req/s | p50 ms | p90 ms | p99 ms | CPU µs/review | failed "
        "| ceiling req/s | p50 ms | p90 ms | p99 ms | CPU µs/review | failed | CPU mutate/ceiling "
        "| req/s mutate/ceiling |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for rate, workers, m, f in rows:
        print(
            f"| {rate or 'max (unthrottled)'} | {workers} | {m['rps']:.0f} | {m['p50']:.2f} | {m['p90']:.2f} "
            f"| {m['p99']:.2f} | {m['cpu_us']:.0f} | {m['failed']:.0f} | {f['rps']:.0f} | {f['p50']:.2f} "
            f"| {f['p90']:.2f} | {f['p99']:.2f} | {f['cpu_us']:.0f} | {f['failed']:.0f} "
            f"| {m['cpu_us'] / max(f['cpu_us'], 1e-9):.2f} | {m['rps'] / f['rps']:.2f} |"
        )
    print(
        f"\nServer RSS (--serviceaccounts file): idle {idle_rss:.1f} MiB, "
        f"after the load {loaded_rss:.1f} MiB."
    )
    print(
        f"\nCluster cache with {mem['count']:,} ServiceAccounts (10% annotated): RSS {mem['after']:.0f} MB "
        f"(process with the serving stack imported, before filling: {mem['base']:.0f} MB; "
        f"cache {mem['after'] - mem['base']:.0f} MB; peak {mem['peak']:.0f} MB)."
    )


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    main()
