"""Benchmark: pod templates per second through the core (mutate_pod) and through `webhook render`.

Generates N workloads (Deployments, StatefulSets, DaemonSets, Jobs, CronJobs of realistic size, with
comments) whose ServiceAccounts ask for one or two tokens, then measures:
  1. mutate_pod alone on the parsed templates (the admission hot path, no I/O);
  2. `webhook render FILE -s SAS` end to end in a fresh process (startup, reading, parsing, mutating, editing,
     writing), best of --repeat runs.
Pin it to one core for comparable numbers: `taskset -c 0 python hack/bench_render.py` (make bench-render).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

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
