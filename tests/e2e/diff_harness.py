"""The differential harness: the same cases through the live webhook (via the apiserver) and `webhook render`.

Per batch of cases:
1. kubectl reads every case's workload text (client dry run): the data the cluster would get.
2. The cases' ServiceAccounts are created for real (the webhook and the ServiceAccount plugin read them).
3. One `webhook render` over all the batch's files (split only to isolate a file render cannot finish).
4. Server side: the workload, dry-run-created where the webhook sees it (a pod template becomes the pod its
   controller would create from the stored template). Render side: the rendered workload, dry-run-created the
   same way but labelled so the objectSelector keeps the webhook away; only the apiserver's defaulting runs.
5. Both results must be the same pod, or the same denial text.

Where the apiserver refuses the input before the webhook could answer (decoding, a missing ServiceAccount,
an invalid workload object), the case is dropped with its reason counted: nothing is asserted about it.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from tests.common import WEBHOOK_BIN
from tests.e2e.controlplane import ControlPlane
from tests.e2e.diff_cases import NAMESPACES, Case, P
from tests.e2e.diff_yaml import dump
from tests.e2e.support import without_api_access
from webhook.cli import main

HOOK = "inject.projected-token.io"
DENIED = re.compile(r'admission webhook "' + re.escape(HOOK) + r'" denied the request: (.*)', re.S)
AWAY_LABEL = f"{P}/inject"  # the rendered pod carries AWAY_LABEL=false: the objectSelector skips it
RESOURCES = {
    "Pod": "/api/v1/namespaces/{ns}/pods",
    "ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
    "Deployment": "/apis/apps/v1/namespaces/{ns}/deployments",
    "StatefulSet": "/apis/apps/v1/namespaces/{ns}/statefulsets",
    "DaemonSet": "/apis/apps/v1/namespaces/{ns}/daemonsets",
    "ReplicaSet": "/apis/apps/v1/namespaces/{ns}/replicasets",
    "Job": "/apis/batch/v1/namespaces/{ns}/jobs",
    "CronJob": "/apis/batch/v1/namespaces/{ns}/cronjobs",
}
TEMPLATE_PATH = {"CronJob": ("spec", "jobTemplate", "spec", "template")}
# Labels the Job controller's defaulting fills with the (dry-run, random) uid.
RANDOM_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid")
_API_ACCESS = re.compile(r"kube-api-access-[a-z0-9]{5}")
_RENDER_ERROR = re.compile(r"^error: (?P<source>[^\s:]+):(?P<line>\d+): (?:(?P<what>[^:]+?): )?(?P<msg>.*)$")


# --------------------------------------------------------------------------------------------- the API


class Api:
    """Raw HTTPS to the apiserver as the admin, one keep-alive connection per thread."""

    def __init__(self, plane: ControlPlane) -> None:
        self.port = plane.port
        self.context = plane.ssl_context()
        self.local = threading.local()
        self.opened: list[http.client.HTTPSConnection] = []  # the pool's threads outlive no connection
        self.lock = threading.Lock()

    def _connection(self) -> http.client.HTTPSConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context, timeout=30)
            self.local.conn = conn
            with self.lock:
                self.opened.append(conn)
        return conn

    def close(self) -> None:
        with self.lock:
            for conn in self.opened:
                conn.close()
            self.opened.clear()

    def post(self, path: str, body: Any, *, dry_run: bool) -> tuple[int, Any]:
        query = "?fieldValidation=Strict" + ("&dryRun=All" if dry_run else "")
        return self.request("POST", path + query, body)

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(2):
            conn = self._connection()
            try:
                conn.request(method, path, data, {"Content-Type": "application/json"})
                response = conn.getresponse()
                payload = response.read()
                return response.status, json.loads(payload) if payload else {}
            except (OSError, http.client.HTTPException):
                conn.close()
                self.local.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


@dataclass
class Result:
    """What the cluster made of one object: a stored pod, the webhook's denial, or another refusal."""

    kind: str  # ok | denied | rejected
    obj: Any = None
    message: str = ""
    code: int = 0
    stage: str = ""  # which request refused it


def _result(status: int, body: Any, stage: str) -> Result:
    if status in (200, 201):
        return Result("ok", body, stage=stage)
    message = body.get("message", "") if isinstance(body, dict) else str(body)
    denied = DENIED.match(message)
    if denied:
        return Result("denied", message=denied.group(1), code=status, stage=stage)
    return Result("rejected", message=message, code=status, stage=stage)


def _namespace_of(obj: Any, default: str) -> str:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    ns = meta.get("namespace") if isinstance(meta, dict) else None
    return ns if isinstance(ns, str) and ns else default


def _template_of(obj: dict[str, Any]) -> Any:
    node: Any = obj
    for key in TEMPLATE_PATH.get(obj.get("kind", ""), ("spec", "template")):
        node = node.get(key) if isinstance(node, dict) else None
    return node


def create(api: Api, obj: Any, default_ns: str, *, away: bool) -> Result:
    """Dry-run-create a workload as the cluster would: a Pod directly; otherwise the workload, then the pod
    its controller would create from the stored (defaulted) template. `away` labels the pod so the webhook's
    objectSelector skips it."""
    kind = obj.get("kind") if isinstance(obj, dict) else None
    if kind not in RESOURCES:
        return Result("rejected", message=f"no resource for kind {kind!r}", stage="harness")
    ns = _namespace_of(obj, default_ns)
    if kind != "Pod":
        status, stored = api.post(RESOURCES[kind].format(ns=ns), obj, dry_run=True)
        workload = _result(status, stored, kind)
        if workload.kind != "ok":
            return workload
        template = _template_of(stored)
        meta = dict(template.get("metadata") or {})
        meta.pop("creationTimestamp", None)
        meta["labels"] = {k: v for k, v in (meta.get("labels") or {}).items() if k not in RANDOM_LABELS}
        obj = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {**meta, "generateName": f"{stored['metadata']['name']}-", "namespace": ns},
            "spec": template["spec"],
        }
    if away:
        obj = json.loads(json.dumps(obj))
        meta = obj.setdefault("metadata", {})
        if isinstance(meta, dict):
            labels = meta.get("labels")
            meta["labels"] = {**(labels if isinstance(labels, dict) else {}), AWAY_LABEL: "false"}
    status, body = api.post(RESOURCES["Pod"].format(ns=ns), obj, dry_run=True)
    return _result(status, body, "Pod")


def comparable(pod: dict[str, Any], original_labels: dict[str, str] | None) -> dict[str, Any]:
    """A stored pod minus what the apiserver fills randomly; with original_labels, the away label undone."""
    pod = json.loads(json.dumps(pod))
    meta = pod.get("metadata", {})
    for key in ("uid", "creationTimestamp", "resourceVersion", "managedFields", "generation"):
        meta.pop(key, None)
    if meta.get("generateName"):
        meta.pop("name", None)
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k not in RANDOM_LABELS}
    if original_labels is not None:
        labels.pop(AWAY_LABEL, None)
        if AWAY_LABEL in original_labels:
            labels[AWAY_LABEL] = original_labels[AWAY_LABEL]
    meta["labels"] = labels
    pod["spec"] = without_api_access(pod.get("spec") or {})
    return pod


def differences(want: Any, got: Any, path: str = "") -> list[str]:
    if isinstance(want, dict) and isinstance(got, dict):
        return [
            d
            for k in sorted(set(want) | set(got))
            for d in differences(want.get(k), got.get(k), f"{path}.{k}")
        ]
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        return [
            d
            for i, (w, g) in enumerate(zip(want, got, strict=True))
            for d in differences(w, g, f"{path}[{i}]")
        ]
    return [] if want == got else [f"{path or '.'}: server {json.dumps(want)} != render {json.dumps(got)}"]


# --------------------------------------------------------------------------------------------- kubectl


def _decode_stream(text: str) -> list[Any]:
    """Concatenated JSON values, as `kubectl create -o json` prints several objects."""
    decoder, out, pos = json.JSONDecoder(), [], 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return out
        value, pos = decoder.raw_decode(text, pos)
        out.extend(value.get("items", []) if value.get("kind") == "List" else [value])


def kubectl_read(plane: ControlPlane, files: Sequence[Path], namespace: str | None) -> tuple[list[Any], str]:
    """What kubectl reads from files (client-side dry run: no object is sent), and its complaints."""
    if not files:
        return [], ""
    args = ["create", "--dry-run=client", "-o", "json"]
    if namespace:
        args += ["-n", namespace]
    for path in files:
        args += ["-f", str(path)]
    result = plane.kubectl(*args, check=False, timeout=120)
    return _decode_stream(result.stdout), result.stderr


def kubectl_read_each(
    plane: ControlPlane, files: dict[Path, tuple[str, str]], namespace: str | None
) -> tuple[dict[tuple[str, str], Any], str]:
    """kubectl_read over files that each hold one expected (kind, name): if kubectl gives up on some file,
    the rest are read again in halves, so one unreadable file costs only its own object."""
    objs, complaints = kubectl_read(plane, list(files), namespace)
    found = {_key(o): o for o in objs}
    missing = {path: key for path, key in files.items() if key not in found}
    if missing and len(files) > 1:
        named = {path for path in missing if str(path) in complaints}
        rest = {path: key for path, key in missing.items() if path not in named}
        if rest and len(rest) < len(files):
            more, extra = kubectl_read_each(plane, rest, namespace)
            found.update(more)
            complaints += extra
        elif len(rest) > 1:
            paths = list(rest)
            for half in (paths[: len(paths) // 2], paths[len(paths) // 2 :]):
                more, extra = kubectl_read_each(plane, {p: rest[p] for p in half}, namespace)
                found.update(more)
                complaints += extra
    return found, complaints


def split_documents(streams: Sequence[Path], into: Path) -> list[Path]:
    """Each YAML document of the streams in a file of its own, split where kubectl's reader splits: at a line
    starting with `---` followed by nothing or a comment."""
    into.mkdir(exist_ok=True)
    out: list[Path] = []
    for stream in streams:
        document: list[str] = []
        with stream.open(newline="") as text:  # CRLF stays as render wrote it
            lines = [*text, "---\n"]
        for line in lines:
            rest = line[3:].strip() if line.startswith("---") else None
            if rest is None or (rest and not rest.startswith("#")):
                document.append(line)
                continue
            if "".join(document).strip():
                path = into / f"{stream.stem}-{len(out)}.yaml"
                path.write_bytes("".join(document).encode())
                out.append(path)
            document = []
    return out


def _key(obj: Any) -> tuple[str, str] | None:
    if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
        return None
    name = obj["metadata"].get("name")
    return (str(obj.get("kind")), name) if isinstance(name, str) else None


# ---------------------------------------------------------------------------------------------- render


@dataclass
class RenderFeatures:
    """Render options detected from `webhook render --help` (added by the decision work, issue 11)."""

    webhook_config: bool
    namespace: bool

    @classmethod
    def detect(cls) -> RenderFeatures:
        text = CliRunner().invoke(main, ["render", "--help"]).stdout
        return cls(
            webhook_config="--webhook-config" in text,
            namespace=re.search(r"--namespace\b(?!-)", text) is not None,
        )


@dataclass
class RenderOutcome:
    kind: str  # denied (exit 1) | refused (exit 2) | crashed (a traceback) | missing (no such output)
    errors: list[str] = field(default_factory=list)  # denial texts (without their file:line: workload prefix)
    stderr: str = ""


@dataclass
class Renderer:
    settings_args: Sequence[str]
    extra_files: Sequence[Path]  # the Namespace documents (and whatever every run reads)
    options: Sequence[str] = ()
    processes: int = 0

    def run(
        self, files: list[Path], workdir: Path, options: Sequence[str] = ()
    ) -> tuple[dict[Path, RenderOutcome], list[Path]]:
        """Render the files; return the outcome of each file that failed and the outputs of the rest."""
        failed: dict[Path, RenderOutcome] = {}
        outputs: list[Path] = []
        self._run(files, workdir, failed, outputs, [*self.options, *options])
        return failed, outputs

    def _invoke(self, files: list[Path], options: Sequence[str]) -> subprocess.CompletedProcess[str]:
        """`webhook render` in this process (the CLI exactly as typed, without a process start per call), or
        as the console script with DIFF_RENDER_PROCESS=1."""
        self.processes += 1
        argv = ["render", "-o", "yaml", *self.settings_args, *options]
        argv += [str(p) for p in (*self.extra_files, *files)]
        if os.environ.get("DIFF_RENDER_PROCESS"):
            return subprocess.run([str(WEBHOOK_BIN), *argv], capture_output=True, text=True, timeout=300)
        result = CliRunner().invoke(main, argv, catch_exceptions=True)
        stderr = result.stderr
        if result.exc_info and not isinstance(result.exception, SystemExit):
            stderr += "".join(traceback.format_exception(*result.exc_info))
        return subprocess.CompletedProcess(argv, result.exit_code, result.stdout, stderr)

    def _run(
        self,
        files: list[Path],
        workdir: Path,
        failed: dict[Path, RenderOutcome],
        outputs: list[Path],
        options: Sequence[str],
    ) -> None:
        if not files:
            return
        result = self._invoke(files, options)
        if result.returncode == 0:
            out = workdir / f"rendered-{self.processes}.yaml"
            out.write_text(result.stdout)
            outputs.append(out)
            return
        by_file: dict[Path, list[str]] = {}
        for line in result.stderr.splitlines():
            match = _RENDER_ERROR.match(line)
            if match and Path(match["source"]) in files:
                by_file.setdefault(Path(match["source"]), []).append(match["msg"])
        crashed = "Traceback (most recent call last)" in result.stderr
        for path in self.extra_files:
            if f"{path}:" in result.stderr:
                raise AssertionError(f"webhook render refused the harness's own {path}:\n{result.stderr}")
        if result.returncode in (1, 2) and by_file and not crashed:
            kind = "denied" if result.returncode == 1 else "refused"
            for path, errors in by_file.items():
                failed[path] = RenderOutcome(kind, errors, result.stderr)
            self._run([p for p in files if p not in by_file], workdir, failed, outputs, options)
            return
        if len(files) == 1:
            kind = "crashed" if crashed else "denied" if result.returncode == 1 else "refused"
            failed[files[0]] = RenderOutcome(kind, [], result.stderr.strip()[-2000:])
            return
        half = len(files) // 2  # an error render does not attribute to a file: find the file by halving
        self._run(files[:half], workdir, failed, outputs, options)
        self._run(files[half:], workdir, failed, outputs, options)


# ---------------------------------------------------------------------------------------------- verdict


@dataclass
class Verdict:
    case: Case
    status: str  # same | dropped | divergent
    reason: str = ""
    detail: str = ""
    server_pod: dict[str, Any] | None = None  # what the server side stored, when it stored a pod


def _reason_bucket(result: Result) -> str:
    """A refusal's message with the case's own names and numbers blanked, to count alike ones together."""
    text = _API_ACCESS.sub("kube-api-access-*", result.message.splitlines()[0] if result.message else "")
    text = re.sub(r'"[^"]*"', '"…"', text)
    text = re.sub(r"\b[a-z0-9]+-sa\d+\b|\bc\d+\b", "…", text)
    return f"{result.stage} {result.code}: {text[:110]}"


def _strip_pod_name(text: str, case: Case) -> str:
    """A controller's pod has a generated name render cannot know: `Pod c7-*` in the server's text."""
    return re.sub(rf"\bPod {re.escape(case.name)}-\S*\*", "the Pod", text)


def judge(
    case: Case, server: Result, rendered: RenderOutcome | Result, original_labels: dict[str, str]
) -> Verdict:
    if isinstance(rendered, RenderOutcome) and rendered.kind == "crashed":
        # Whatever the apiserver thinks of the input, a traceback is never render's answer (issue 11).
        return Verdict(case, "divergent", "render crashed (traceback)", rendered.stderr[-1500:])
    if server.kind == "rejected" and server.code != 422:
        return Verdict(case, "dropped", f"apiserver refuses before the webhook: {_reason_bucket(server)}")
    if server.kind == "rejected" and server.stage != "Pod":
        return Verdict(case, "dropped", f"apiserver refuses the workload object: {_reason_bucket(server)}")
    if isinstance(rendered, RenderOutcome):  # render did not produce the workload
        got = f"render {rendered.kind}: " + ("; ".join(rendered.errors) or rendered.stderr[-1500:])
        if server.kind == "denied" and rendered.kind == "denied":
            want = server.message if case.kind == "Pod" else _strip_pod_name(server.message, case)
            if "; ".join(rendered.errors) == want:
                return Verdict(case, "same")
            return Verdict(case, "divergent", "different denial text", f"server: {want}\n{got}")
        return Verdict(
            case,
            "divergent",
            f"server {server.kind}, render {rendered.kind}",
            f"server: {_describe(server)}\n{got}",
        )
    if server.kind == "denied":
        return Verdict(
            case,
            "divergent",
            "server denied, render accepted",
            f"server: {server.message}\nrender: {_describe(rendered)}",
        )
    if server.kind == "rejected":  # invalid after the webhook: the rendered pod must be refused alike
        if rendered.kind == "rejected" and _API_ACCESS.sub("*", rendered.message) == _API_ACCESS.sub(
            "*", server.message
        ):
            return Verdict(case, "same", "both invalid")
        return Verdict(
            case,
            "divergent",
            "server invalid, render's pod not alike",
            f"server: {server.message}\nrender: {_describe(rendered)}",
        )
    if rendered.kind != "ok":
        return Verdict(
            case, "divergent", f"server ok, render's pod {rendered.kind}", f"render: {_describe(rendered)}"
        )
    diff = differences(comparable(server.obj, None), comparable(rendered.obj, original_labels))
    if diff:
        return Verdict(case, "divergent", "different pods", "\n".join(diff[:12]))
    return Verdict(case, "same")


def _describe(result: Result) -> str:
    return (
        result.kind
        if result.kind == "ok"
        else f"{result.kind} ({result.stage} {result.code}): {result.message[:1500]}"
    )


# ---------------------------------------------------------------------------------------------- a batch


@dataclass
class Batch:
    cases: list[Case]
    cli_namespace: str | None  # `-n` for kubectl and render (None: kubectl's default namespace, `default`)


@dataclass
class Stats:
    verdicts: list[Verdict] = field(default_factory=list)
    created: list[str] = field(default_factory=list)  # API paths of the ServiceAccounts made for real
    requests: int = 0
    seconds: float = 0.0

    def counts(self) -> Counter[str]:
        return Counter(v.status for v in self.verdicts)

    def summary(self) -> str:
        counts = self.counts()
        total = len(self.verdicts)
        rate = total / max(self.seconds, 1e-9)
        lines = [
            f"{total} cases in {self.seconds:.1f}s ({rate:.1f}/s, {self.requests} apiserver requests): "
            f"{counts['same']} same, {counts['divergent']} divergent, {counts['dropped']} dropped"
        ]
        for reason, n in Counter(v.reason for v in self.verdicts if v.status == "dropped").most_common():
            lines.append(f"  dropped {n:4d}x {reason}")
        for reason, n in Counter(v.reason for v in self.verdicts if v.status == "divergent").most_common():
            lines.append(f"  DIVERGENT {n:4d}x {reason}")
        return "\n".join(lines)


def run_batch(
    plane: ControlPlane,
    api: Api,
    renderer: Renderer,
    features: RenderFeatures,
    batch: Batch,
    workdir: Path,
    pool: ThreadPoolExecutor,
    stats: Stats,
) -> None:
    workdir.mkdir(parents=True)
    default_ns = batch.cli_namespace or "default"
    files: dict[int, dict[str, Path]] = {}
    for case in batch.cases:
        paths = {part: workdir / part / f"case-{case.index}.yaml" for part in ("workload", "sa", "render")}
        for path in paths.values():
            path.parent.mkdir(exist_ok=True)
        paths["workload"].write_bytes(case.workload_file().encode("utf-8", "surrogatepass"))
        paths["render"].write_bytes(case.render_file().encode("utf-8", "surrogatepass"))
        if case.serviceaccount_text:
            paths["sa"].write_bytes(case.serviceaccount_file().encode("utf-8", "surrogatepass"))
        else:
            del paths["sa"]
        files[case.index] = paths

    # 1-2. What kubectl reads; the ServiceAccounts created for real.
    by_key, _ = kubectl_read_each(
        plane, {files[c.index]["workload"]: (c.kind, c.name) for c in batch.cases}, batch.cli_namespace
    )
    sa_files = {
        files[c.index]["sa"]: ("ServiceAccount", c.serviceaccount["metadata"]["name"])
        for c in batch.cases
        if "sa" in files[c.index] and c.serviceaccount
    }
    accounts_by_key, _ = kubectl_read_each(plane, sa_files, batch.cli_namespace)
    accounts = list(accounts_by_key.values())

    def make_account(sa: Any) -> tuple[int, Any]:
        path = RESOURCES["ServiceAccount"].format(ns=_namespace_of(sa, default_ns))
        status, body = api.post(path, sa, dry_run=False)
        if status == 201:
            stats.created.append(f"{path}/{body['metadata']['name']}")
        return status, body

    list(pool.map(make_account, accounts))
    stats.requests += len(accounts)

    # 3. One render over the batch.
    options = ["-n", batch.cli_namespace] if batch.cli_namespace and features.namespace else []
    failed, outputs = renderer.run([files[c.index]["render"] for c in batch.cases], workdir, options)
    # kubectl gives up on a whole file for one bad document: read render's output document by document.
    documents = split_documents(outputs, workdir / "rendered-documents")
    rendered_objs, rendered_complaints = kubectl_read(plane, documents, batch.cli_namespace)
    rendered_by_key = {_key(o): o for o in rendered_objs}

    # 4. Both sides through the apiserver.
    def server_side(case: Case) -> Result:
        obj = by_key.get((case.kind, case.name))
        if obj is None:
            return Result(
                "rejected", message="kubectl cannot read the workload text", code=-1, stage="kubectl"
            )
        return create(api, obj, default_ns, away=False)

    def render_side(case: Case) -> RenderOutcome | Result:
        outcome = failed.get(files[case.index]["render"])
        if outcome is not None:
            return outcome
        obj = rendered_by_key.get((case.kind, case.name))
        if obj is None:
            return RenderOutcome(
                "missing", [], f"the workload is missing from render's output ({rendered_complaints[-500:]})"
            )
        return create(api, obj, default_ns, away=True)

    server_results = list(pool.map(server_side, batch.cases))
    render_results = list(pool.map(render_side, batch.cases))
    stats.requests += 2 * len(batch.cases)
    for case, server, rendered in zip(batch.cases, server_results, render_results, strict=True):
        original = by_key.get((case.kind, case.name)) or {}
        labels = _labels_of(original)
        verdict = judge(case, server, rendered, labels)
        verdict.server_pod = server.obj if server.kind == "ok" else None
        stats.verdicts.append(verdict)


def _labels_of(obj: dict[str, Any]) -> dict[str, str]:
    node = obj if obj.get("kind") == "Pod" else (_template_of(obj) or {})
    labels = (node.get("metadata") or {}).get("labels") if isinstance(node, dict) else None
    return labels if isinstance(labels, dict) else {}


def namespace_documents() -> str:
    """The fixture's namespaces as Namespace documents (render reads their labels from the input)."""
    docs = []
    for name, labels in NAMESPACES.items():
        meta: dict[str, Any] = {"name": name}
        if labels:
            meta["labels"] = labels
        docs.append(dump({"apiVersion": "v1", "kind": "Namespace", "metadata": meta}))
    return "---\n".join(docs)


def run_all(
    plane: ControlPlane,
    batches: Iterable[Batch],
    workdir: Path,
    settings_args: Sequence[str],
    webhook_config: Path,
    progress: Callable[[str], None] = print,
) -> Stats:
    features = RenderFeatures.detect()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "namespaces.yaml").write_text(namespace_documents())
    renderer = Renderer(
        settings_args,
        extra_files=[workdir / "namespaces.yaml"],
        options=["--webhook-config", str(webhook_config)] if features.webhook_config else [],
    )
    progress(f"render features: {features}")
    api = Api(plane)
    stats = Stats()
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(4) as pool:
            for number, batch in enumerate(batches):
                run_batch(plane, api, renderer, features, batch, workdir / f"batch-{number}", pool, stats)
            stats.seconds = time.monotonic() - started
            list(pool.map(lambda path: api.request("DELETE", path), stats.created))
    finally:
        api.close()
    progress(f"{renderer.processes} render runs")
    return stats


__all__ = ["Batch", "Stats", "Verdict", "run_all"]
