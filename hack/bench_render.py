"""Benchmark: pod templates per second through the core (mutate_pod) and through `webhook render`.

Generates N workloads (Deployments, StatefulSets, DaemonSets, Jobs, CronJobs of realistic size, with
comments) whose ServiceAccounts ask for one or two tokens, then measures:
  1. mutate_pod alone on the parsed templates (the admission hot path, no I/O);
  2. `webhook render FILE -s SAS` end to end in a fresh process (startup, reading, parsing, mutating, editing,
     writing), best of --repeat runs.
Pin it to one core for comparable numbers: `taskset -c 0 python hack/bench_render.py` (make bench-render).

`--against REV` instead compares this tree with another commit, interleaved in one run (old, new, old, ...):
REV's tree is exported into a cache with its own virtualenv (`make venv` there, once per commit), both
`webhook render` commands run alternately on the same corpus, and their outputs must be byte-identical.
`--callgrind` adds instruction counts (valgrind) on a smaller corpus: repeatable whatever the host's load.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")


def serviceaccounts(count: int) -> str:
    docs = []
    for i in range(count):
        extra = (
            "    projected-token.io/downstream.audience: downstream-cluster\n"
            "    projected-token.io/downstream.path: federated-token\n"
            if i % 2
            else ""
        )
        docs.append(
            f"apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa-{i}\n  namespace: bench\n"
            f"  annotations:\n    projected-token.io/audience: vault-{i}\n"
            f'    projected-token.io/expiration-seconds: "7200"\n{extra}'
        )
    return "---\n".join(docs)


def pod_spec(i: int, indent: str) -> str:
    lines = f"""\
serviceAccountName: sa-{i % 50}
# the application container, generated
containers:
- name: app
  image: registry.example.com/team/app-{i}:1.{i % 7}.0
  args: ["--port=8080", "--log-level=info"]
  env:
  - name: LOG_FORMAT
    value: json
  - name: POD_NAME
    valueFrom:
      fieldRef:
        fieldPath: metadata.name
  ports:
  - containerPort: 8080
    name: http
  readinessProbe:
    httpGet:
      path: /ready
      port: http
  resources:
    requests:
      cpu: 100m
      memory: 128Mi
  volumeMounts:
  - name: config
    mountPath: /etc/app
- name: proxy
  image: registry.example.com/proxy:2.0
volumes:
- name: config
  configMap:
    name: app-{i}-config
"""
    return "".join(indent + line + "\n" if line else "\n" for line in lines.splitlines())


def workload(i: int) -> str:
    kind = KINDS[i % len(KINDS)]
    head = f"apiVersion: {'batch/v1' if kind in ('Job', 'CronJob') else 'apps/v1'}\nkind: {kind}\n"
    head += f"metadata:\n  name: w-{i}\n  namespace: bench\n  labels:\n    app: w-{i}\n"
    if kind == "CronJob":
        return head + (
            'spec:\n  schedule: "*/10 * * * *"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n'
            "          restartPolicy: OnFailure\n" + pod_spec(i, "          ")
        )
    spec = "spec:\n"
    if kind == "Job":
        spec += "  template:\n    spec:\n      restartPolicy: Never\n"
    else:
        spec += f"  selector:\n    matchLabels:\n      app: w-{i}\n"
        if kind == "StatefulSet":
            spec += f"  serviceName: w-{i}\n"
        spec += f"  template:\n    metadata:\n      labels:\n        app: w-{i}\n    spec:\n"
    return head + spec + pod_spec(i, "      ")


def bench_core(text: str, sas_text: str) -> tuple[int, float]:
    from webhook.documents import parse, serviceaccounts_in
    from webhook.mutate import mutate_pod, serviceaccount_name
    from webhook.settings import CoreSettings
    from webhook.workloads import pod_templates

    settings = CoreSettings()
    sas = serviceaccounts_in(parse("sas", sas_text))
    templates = [
        (t.template, sas[(t.namespace, serviceaccount_name(t.template))])
        for d in parse("bench", text)
        for t in pod_templates(d.data)
    ]
    best = float("inf")
    for _ in range(3):
        start = time.process_time()  # CPU time: robust on a machine shared with other jobs
        for template, sa in templates:
            outcome = mutate_pod(template, sa, settings)
            assert outcome.patch and not outcome.errors
        best = min(best, time.process_time() - start)
    return len(templates), best


def bench_stages(text: str, sas_text: str) -> dict[str, float]:
    """CPU microseconds per template for each stage of the render pipeline, in process (GC off, as render)."""
    import gc

    from webhook.documents import load_yaml, parse, serviceaccounts_in
    from webhook.mutate import mutate_pod, serviceaccount_name
    from webhook.settings import CoreSettings
    from webhook.workloads import pod_templates
    from webhook.yamledit import apply_ops, splice

    gc.disable()
    settings = CoreSettings()
    sas = serviceaccounts_in(parse("sas", sas_text))
    clock = time.process_time
    start = clock()
    docs = parse("bench", text)
    stages = {"read + parse (yaml-rs)": clock() - start}
    work = []
    start = clock()
    for doc in docs:
        for template in pod_templates(doc.data):
            outcome = mutate_pod(
                template.template, sas[(template.namespace, serviceaccount_name(template.template))], settings
            )
            work.append((doc, [{**op, "path": template.pointer + op["path"]} for op in outcome.patch]))
    stages["find templates + mutate_pod"] = clock() - start
    start = clock()
    expected = [apply_ops(doc.data, ops) for doc, ops in work]
    stages["apply ops to the data"] = clock() - start
    start = clock()
    texts = [splice(doc.raw, ops) for doc, ops in work]
    stages["in-place YAML edit"] = clock() - start
    start = clock()
    assert all(load_yaml(t, yaml11=d.yaml11) == e for t, (d, _), e in zip(texts, work, expected, strict=True))
    stages["check: load the edit back, compare"] = clock() - start
    gc.enable()
    return {name: seconds / len(work) * 1e6 for name, seconds in stages.items()}


def bench_render(path: Path, sas: Path, repeat: int, *extra: str) -> tuple[float, float, int]:
    """Best wall time and best CPU time (user+sys of the child) of `webhook render`, and output size."""
    webhook = shutil.which("webhook", path=str(Path(sys.executable).parent)) or "webhook"
    best_wall = best_cpu = float("inf")
    size = 0
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(
            [webhook, "render", str(path), "-s", str(sas), *extra], capture_output=True, check=False
        )
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            sys.exit(f"webhook render failed ({done.returncode}): {done.stderr.decode()[:500]}")
        size = len(done.stdout)
        best_wall = min(best_wall, wall)
        best_cpu = min(best_cpu, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return best_wall, best_cpu, size


def host_reference() -> float:
    """CPU seconds of a fixed pure-Python loop (dict and string work, like render's), best of 5. This machine
    is shared and its speed drifts from run to run: the figure says how fast the host was during this one."""
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        table: dict[str, int] = {}
        for i in range(200_000):
            key = f"k{i % 1000}"
            table[key] = table.get(key, 0) + len(key)
        best = min(best, time.process_time() - start)
    return best


def bench_startup(repeat: int) -> float:
    webhook = shutil.which("webhook", path=str(Path(sys.executable).parent)) or "webhook"
    best = float("inf")
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([webhook, "render", "--help"], capture_output=True, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best = min(best, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return best


REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "projected-token-webhook"
CACHE /= "bench-render"
OUTPUT_MODES = (("yaml", ()), ("patch", ("-o", "patch")))


def tree_at(rev: str) -> Path:
    """A checkout of `rev` with its own virtualenv, cached by commit (git archive, no worktree)."""
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", f"{rev}^{{commit}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    tree = CACHE / commit[:12]
    if not (tree / ".venv" / "bin" / "webhook").exists():
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", commit], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
        print(f"building {rev} ({commit[:12]}) in {tree} ...", file=sys.stderr)
        subprocess.run(["make", "-C", str(tree), "venv"], check=True, stdout=subprocess.DEVNULL)
    return tree


# Both sides read cached bytecode, as an installed wheel does: without it (PYTHONDONTWRITEBYTECODE in some
# shells) each run compiles the tree's sources again, which measures the size of the source, not render.
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _run_cpu(command: list[str]) -> tuple[float, bytes]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, check=False, env=_ENV)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{command[0]} failed ({done.returncode}): {done.stderr.decode()[:500]}")
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, done.stdout


def _instructions(command: list[str], tmp: str) -> int:
    """Instructions executed by the command under callgrind (the sum over its processes)."""
    out = Path(tmp) / "callgrind.out"
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *command],
        capture_output=True,
        check=True,
        env=_ENV,
    )
    summary = [line for line in out.read_text().splitlines() if line.startswith(("summary:", "totals:"))]
    out.unlink()
    return int(summary[0].split()[1])


def against(rev: str, workloads: int, rounds: int, callgrind: int) -> None:
    """Old (REV) and new (this tree) `webhook render`, interleaved; CPU time per run, outputs compared."""
    old_tree = tree_at(rev)
    old = str(old_tree / ".venv" / "bin" / "webhook")
    new = shutil.which("webhook", path=str(Path(sys.executable).parent)) or "webhook"
    with tempfile.TemporaryDirectory() as tmp:
        path, sas = Path(tmp) / "workloads.yaml", Path(tmp) / "serviceaccounts.yaml"
        path.write_text("---\n".join(workload(i) for i in range(workloads)))
        sas.write_text(serviceaccounts(50))
        print(
            f"{workloads} workloads; old = {rev} ({old_tree.name}), new = this tree; {rounds} rounds, "
            f"alternating; CPU time (user+sys) of `webhook render`; load average {os.getloadavg()[0]:.1f}; "
            f"host reference loop {host_reference() * 1e3:.0f} ms"
        )
        print("| output | old best | old median | new best | new median | new/old best | new/old median |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for webhook in (old, new):  # writes the bytecode caches, of every module each output mode imports
            for _, extra in OUTPUT_MODES:
                _run_cpu([webhook, "render", str(path), "-s", str(sas), *extra])
        for mode, extra in OUTPUT_MODES:
            times: dict[str, list[float]] = {"old": [], "new": []}
            digests: dict[str, set[str]] = {"old": set(), "new": set()}
            for _ in range(rounds):
                for side, webhook in (("old", old), ("new", new)):
                    seconds, out = _run_cpu([webhook, "render", str(path), "-s", str(sas), *extra])
                    times[side].append(seconds)
                    digests[side].add(hashlib.sha256(out).hexdigest())
            if digests["old"] != digests["new"] or len(digests["new"]) != 1:
                sys.exit(f"-o {mode}: the outputs differ between old and new (or between runs)")
            o, n = times["old"], times["new"]
            ob, om, nb, nm = min(o), statistics.median(o), min(n), statistics.median(n)
            print(
                f"| {mode} | {ob:.3f} s ({workloads / ob:,.0f}/s) | {om:.3f} s | {nb:.3f} s "
                f"({workloads / nb:,.0f}/s) | {nm:.3f} s | {nb / ob:.3f} | {nm / om:.3f} |"
            )
        print("outputs byte-identical (old and new, every run)")
        if callgrind:
            small, small_sas = Path(tmp) / "small.yaml", Path(tmp) / "small-sas.yaml"
            small.write_text("---\n".join(workload(i) for i in range(callgrind)))
            small_sas.write_text(serviceaccounts(50))
            print()
            print(f"| callgrind, {callgrind} workloads | old instructions | new instructions | new/old |")
            print("|---|---:|---:|---:|")
            for mode, extra in OUTPUT_MODES:
                counts = [
                    _instructions([webhook, "render", str(small), "-s", str(small_sas), *extra], tmp)
                    for webhook in (old, new)
                ]
                print(f"| {mode} | {counts[0]:,} | {counts[1]:,} | {counts[1] / counts[0]:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--against", metavar="REV", help="compare with REV, interleaved (see above)")
    parser.add_argument("--rounds", type=int, default=6, help="with --against: runs of each side")
    parser.add_argument(
        "--callgrind", type=int, default=0, metavar="N", help="with --against: callgrind, N workloads"
    )
    args = parser.parse_args()
    if args.against:
        against(args.against, args.workloads, args.rounds, args.callgrind)
        return

    with tempfile.TemporaryDirectory() as tmp:
        path, sas = Path(tmp) / "workloads.yaml", Path(tmp) / "serviceaccounts.yaml"
        text = "---\n".join(workload(i) for i in range(args.workloads))
        path.write_text(text)
        sas.write_text(serviceaccounts(50))
        reference = host_reference()
        count, core_seconds = bench_core(text, sas.read_text())
        render_wall, render_cpu, out_size = bench_render(path, sas, args.repeat)
        _, patch_cpu, _ = bench_render(path, sas, args.repeat, "-o", "patch")
        _, diff_cpu, _ = bench_render(path, sas, args.repeat, "-o", "diff")
        startup = bench_startup(args.repeat)
        stages = bench_stages(text, sas.read_text())

    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    print(
        f"workloads: {args.workloads} ({len(text.splitlines())} lines, {len(text) / 1e6:.1f} MB in, "
        f"{out_size / 1e6:.1f} MB out); CPUs allowed: {cpus}; python {sys.version.split()[0]}; "
        f"load average {os.getloadavg()[0]:.1f}; host reference loop {reference * 1e3:.0f} ms (lower: faster)"
    )
    print("| path | templates | seconds | templates/s |")
    print("|---|---:|---:|---:|")
    print(
        f"| core: `mutate_pod`, CPU time (best of 3) | {count} | {core_seconds:.3f} | "
        f"{count / core_seconds:,.0f} |"
    )
    print(
        f"| `webhook render` end to end, fresh process, CPU time (best of {args.repeat}) | {count} | "
        f"{render_cpu:.3f} | {count / render_cpu:,.0f} |"
    )
    print(
        f"| `webhook render` end to end, fresh process, wall time (best of {args.repeat}) | {count} | "
        f"{render_wall:.3f} | {count / render_wall:,.0f} |"
    )
    print(
        f"| `webhook render -o patch` (no YAML edit), fresh process, CPU time (best of {args.repeat}) | "
        f"{count} | {patch_cpu:.3f} | {count / patch_cpu:,.0f} |"
    )
    print(
        f"| `webhook render -o diff`, fresh process, CPU time (best of {args.repeat}) | "
        f"{count} | {diff_cpu:.3f} | {count / diff_cpu:,.0f} |"
    )
    print(f"| (of which process start-up: `webhook render --help`, CPU time) | - | {startup:.3f} | - |")
    print()
    print("| render stage (in process) | CPU µs per template |")
    print("|---|---:|")
    for name, micros in stages.items():
        print(f"| {name} | {micros:.0f} |")


if __name__ == "__main__":
    main()
