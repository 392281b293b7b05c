"""Hypothesis strategies for the differential test: pods and workloads with their ServiceAccounts, as text.

Each case is one workload (a Pod, or a workload whose pod template a controller would turn into a pod), the
ServiceAccount it runs as and the text a user would write for them: several namespaces, labels the
MutatingWebhookConfiguration's selectors include or exclude, pre-existing volumes, mounts and env vars, init
containers and native sidecars, the generic and EKS annotations, anchors and merge keys, comments, CRLF, JSON.
A few cases are malformed on purpose (the apiserver refuses most of them; the harness counts those).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from tests.e2e.diff_yaml import Alias, Anchored, Commented, Flow, Merged, Style, data_of, dump

P = "projected-token.io"
EKS = "eks.amazonaws.com"
# Namespaces the fixture creates (name -> labels). kube-system and default exist in every cluster.
NAMESPACES: dict[str, dict[str, str]] = {
    "default": {},
    "kube-system": {},
    "diff-plain": {},
    "diff-team": {"team": "payments"},
    "diff-optout": {f"{P}/inject": "false"},
}
# `-n` given to kubectl and render, batch after batch (None: none, kubectl's namespace is `default`): one the
# webhook sees, one its namespaceSelector excludes.
CLI_NAMESPACES = (None, "diff-team", None, "diff-optout")

AUDIENCES = ["vault", "sts.amazonaws.com", "https://kubernetes.default.svc", "//iam.googleapis.com/p/1", ""]
EXPIRATIONS = ["3600", "7200", "600", "86400", "599", "abc", "4294967297", " 3600"]
MOUNT_PATHS = [
    "/var/run/secrets/tokens",
    "/var/run/secrets/vault",
    "/data",
    "relative/x",
    "/var/run/secrets/tokens/",
]
TOKEN_PATHS = ["token", "oidc-token", "a/b", "../x"]
ENV_NAMES = ["TOKEN_FILE", "VAULT_TOKEN", "MY_TOKEN_FILE", "1BAD", "KEEP"]
TOKEN_NAMES = ["vault", "gcp", "aws", "Bad_Name", "token"]
ROLE = "arn:aws:iam::111122223333:role/app"


def _weighted(*pairs: tuple[int, Any]) -> st.SearchStrategy[Any]:
    """sampled_from with integer weights (the first value is where hypothesis shrinks to)."""
    return st.sampled_from([value for weight, value in pairs for _ in range(weight)])


def _valid_or(valid: list[str], invalid: list[str]) -> st.SearchStrategy[str]:
    """Mostly a valid value, sometimes an invalid one."""
    return st.sampled_from(valid * 8 + invalid)


def _one_in(n: int) -> st.SearchStrategy[bool]:
    """True about once in n draws (hypothesis favours the ends of a range: pick a value in its middle)."""
    return st.integers(0, n - 1).map(lambda x: x == n // 2)


RARE = {n: _one_in(n) for n in (3, 4, 5, 6, 8, 10, 20, 30)}
BOOL = st.booleans()


FIELD_VALUES: dict[str, st.SearchStrategy[str]] = {
    "audience": _valid_or(AUDIENCES[:4], AUDIENCES[4:]),
    "expiration-seconds": _valid_or(EXPIRATIONS[:4], EXPIRATIONS[4:]),
    "mount-path": _valid_or(MOUNT_PATHS[:3], MOUNT_PATHS[3:]),
    "path": _valid_or(TOKEN_PATHS[:3], TOKEN_PATHS[3:]),
    "env": _valid_or(ENV_NAMES[:3], ENV_NAMES[3:]),
}


def generic_annotations(draw: st.DrawFn, *, pod: bool) -> dict[str, str]:
    """0-4 `projected-token.io/...` annotations: each token an audience and maybe other fields."""
    out: dict[str, str] = {}
    for _ in range(draw(TOKEN_COUNT_POD if pod else TOKEN_COUNT_SA)):
        token = draw(TOKEN_NAME)
        prefix = f"{P}/{token}." if token else f"{P}/"
        out[prefix + "audience"] = draw(FIELD_VALUES["audience"])
        for field in draw(OTHER_FIELDS):
            out[prefix + field] = draw(FIELD_VALUES[field])
    for key, values in GENERIC_EXTRAS_POD if pod else GENERIC_EXTRAS:
        if draw(RARE[10]):
            out[key] = draw(values)
    return out


TOKEN_COUNT_SA = _weighted((2, 1), (2, 0), (1, 2))
TOKEN_COUNT_POD = _weighted((6, 0), (2, 1), (1, 2))
TOKEN_NAME = _weighted((12, ""), (3, "vault"), (3, "gcp"), (2, "aws"), (1, "Bad_Name"), (1, "token"))
OTHER_FIELDS = st.lists(st.sampled_from(list(FIELD_VALUES)[1:]), max_size=2, unique=True)
GENERIC_EXTRAS = [
    (f"{P}/skip-containers", st.sampled_from(["sidecar", "istio-proxy", "app,sidecar", "nope"])),
    (f"{P}/bogus", st.just("x")),
]
GENERIC_EXTRAS_POD = [*GENERIC_EXTRAS, (f"{P}/inject", st.sampled_from(["true", "false", "true", "maybe"]))]


def eks_serviceaccount_annotations(draw: st.DrawFn) -> dict[str, str]:
    if not draw(RARE[3]):
        return {}
    out = {f"{EKS}/role-arn": ROLE}
    for key, values in EKS_FIELDS:
        if draw(BOOL):
            out[key] = draw(values)
    return out


EKS_FIELDS = [
    (f"{EKS}/audience", st.sampled_from(["sts.amazonaws.com", "vault"])),
    (f"{EKS}/sts-regional-endpoints", st.sampled_from(["true", "false", "maybe"])),
    (f"{EKS}/token-expiration", st.sampled_from(["86400", "3600", "100", "x", "99999999999"])),
]
EKS_SKIP = st.sampled_from(["sidecar", "app, sidecar", '"app"'])
EKS_EXPIRATION = st.sampled_from(["7200", "100", "x"])


def eks_pod_annotations(draw: st.DrawFn) -> dict[str, str]:
    out: dict[str, str] = {}
    if draw(RARE[6]):
        out[f"{EKS}/skip-containers"] = draw(EKS_SKIP)
    if draw(RARE[6]):
        out[f"{EKS}/token-expiration"] = draw(EKS_EXPIRATION)
    return out


ENV = [
    {"name": "KEEP", "value": "me"},
    {"name": "TOKEN_FILE", "value": "/mine"},
    {"name": "AWS_ROLE_ARN", "value": "arn:mine"},
    {"name": "AWS_REGION", "value": "eu-west-1"},
    {"name": "AWS_WEB_IDENTITY_TOKEN_FILE", "value": "/mine/token"},
    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
]
VOLUMES = [
    {"name": "data", "emptyDir": {}},
    {"name": "cache", "emptyDir": {"medium": "Memory"}},
    {"name": "settings", "configMap": {"name": "settings"}},
    {"name": "aws-iam-token", "emptyDir": {}},
    {
        "name": "mytoken",
        "projected": {"sources": [{"serviceAccountToken": {"audience": "vault", "path": "token"}}]},
    },
]
MOUNT_AT = [
    "/data",
    "/cache",
    "/var/run/secrets/tokens",
    "/var/run/secrets/vault",
    f"/var/run/secrets/{EKS}/serviceaccount",
]


def container(draw: st.DrawFn, name: str, volumes: list[str], *, init: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "image": f"registry.invalid/{name}:1"}
    if init and draw(BOOL):
        out["restartPolicy"] = "Always"  # a native sidecar
    env = draw(ENV_LISTS)
    if env:
        out["env"] = env
    if volumes:
        paths = draw(MOUNT_PATH_LISTS)
        mounts = [{"name": volumes[draw(INDEX) % len(volumes)], "mountPath": path} for path in paths]
        if mounts:
            out["volumeMounts"] = mounts
    return out


ENV_LISTS = st.lists(st.sampled_from(ENV), max_size=3, unique_by=lambda e: e["name"])
MOUNT_PATH_LISTS = st.lists(st.sampled_from(MOUNT_AT), max_size=2, unique=True)
INDEX = st.integers(0, 11)


@dataclass
class Case:
    """One workload and its ServiceAccount: the data kubectl reads and the text everybody is given."""

    index: int
    kind: str
    name: str
    namespace: str | None  # metadata.namespace in the documents; None = whatever kubectl/render default to
    serviceaccount: dict[str, Any] | None  # the ServiceAccount document (None: the pod runs as `default`)
    workload: dict[str, Any]  # what kubectl reads from workload_text
    workload_text: str
    serviceaccount_text: str
    json: bool = False  # written as a JSON stream (no `---` between documents)
    cli_namespace: str | None = None  # `-n` of the batch it runs in (set by the test)
    malformed: str = ""  # what is wrong on purpose, if anything
    crlf: bool = False
    bom: bool = False

    def _lines(self, text: str) -> str:
        return text.replace("\n", "\r\n") if self.crlf else text

    def workload_file(self) -> str:
        """What kubectl reads for the workload."""
        return ("\ufeff" if self.bom else "") + self._lines(self.workload_text)

    def serviceaccount_file(self) -> str:
        return self._lines(self.serviceaccount_text)

    def render_file(self) -> str:
        """What render reads: the workload first (a BOM stays in front of it), then its ServiceAccount."""
        parts = [p for p in (self.workload_text, self.serviceaccount_text) if p]
        text = "".join(parts) if self.json else "---\n".join(parts)
        return ("\ufeff" if self.bom else "") + self._lines(text)


KINDS = ["Pod"] * 14 + ["Deployment", "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"]


def _labels_node(draw: st.DrawFn, labels: dict[str, str]) -> Any:
    return Flow(labels) if labels and draw(BOOL) else labels


SA_KEY = _weighted((8, "serviceAccountName"), (1, "serviceAccount"))


def pod_spec(draw: st.DrawFn, serviceaccount_name: str | None, *, job: bool) -> dict[str, Any]:
    """A pod spec as a YAML node (merge keys and aliases may appear in it)."""
    volumes = draw(VOLUME_LISTS)
    volume_names = [v["name"] for v in volumes]
    names = draw(CONTAINER_NAMES)
    containers: list[Any] = [container(draw, n, volume_names, init=False) for n in names]
    # Merge keys: a later container written as `<<: *c0` plus what differs (kubectl resolves them).
    if len(containers) > 1 and draw(RARE[4]):
        base = containers[0]
        overrides = {"name": names[1]}
        if draw(BOOL):
            overrides["image"] = "registry.invalid/other:2"
        containers[0] = Anchored("c0", base)
        containers[1] = Merged("c0", base, overrides)
    spec: dict[str, Any] = {}
    if serviceaccount_name is not None:
        key = draw(SA_KEY)
        spec[key] = serviceaccount_name
    inits = draw(INIT_NAMES)
    if inits:
        spec["initContainers"] = [container(draw, n, volume_names, init=True) for n in inits]
    spec["containers"] = containers
    if volumes:
        spec["volumes"] = Commented(volumes, "pre-existing volumes") if draw(BOOL) else volumes
    if draw(RARE[8]):
        spec["nodeSelector"] = {"kubernetes.io/os": "windows"}
    if job:
        spec["restartPolicy"] = "Never"
    return spec


def _unwrapped(node: Any) -> Any:
    while isinstance(node, Anchored | Commented):
        node = node.value
    return node.overrides if isinstance(node, Merged) else node


def _first_container(template: dict[str, Any]) -> dict[str, Any]:
    return _unwrapped(template["spec"]["containers"][0])


MALFORMED = {
    "unquoted integer annotation on the pod": lambda t: (
        t["metadata"].setdefault("annotations", {}).update({f"{P}/expiration-seconds": 7200})
    ),
    "env as a mapping": lambda t: _first_container(t).update({"env": {"A": "b"}}),
    "nodeSelector as a list": lambda t: t["spec"].update({"nodeSelector": ["a"]}),
    "serviceAccountName as a number": lambda t: t["spec"].update({"serviceAccountName": 5}),
    "a volume mount of no volume": lambda t: _first_container(t).update(
        {"volumeMounts": [{"name": "nowhere", "mountPath": "/nowhere"}]}
    ),
}


VOLUME_LISTS = st.lists(st.sampled_from(VOLUMES), max_size=3, unique_by=lambda v: v["name"])
CONTAINER_NAMES = st.lists(
    st.sampled_from(["app", "sidecar", "istio-proxy", "worker"]), min_size=1, max_size=3, unique=True
)
INIT_NAMES = st.lists(st.sampled_from(["setup", "proxy-init"]), max_size=2, unique=True)
KIND = st.sampled_from(KINDS)
NAMESPACE = st.sampled_from([None, None, *NAMESPACES])
INJECT_LABEL = st.sampled_from(["false", "true", "no"])
MALFORMED_KIND = st.sampled_from(sorted(MALFORMED))
QUOTES = st.sampled_from(["double", "single", "plain", "plain"])
FORM = _weighted((6, "yaml"), (1, "json"))


@st.composite
def cases(draw: st.DrawFn, run: str, numbers: Iterator[int]) -> Case:
    """A case; `numbers` gives each drawn case a unique index (its objects' names are built from it)."""
    index = next(numbers)
    kind = draw(KIND)
    name = f"c{index}"
    namespace = draw(NAMESPACE)
    doc_ns = namespace  # where the objects land is decided per batch when None
    # The ServiceAccount: a dedicated one (maybe unannotated), or `default` (exists, never annotated).
    own = not draw(RARE[5])
    sa_name = f"{run}-sa{index}" if own else "default"
    sa_doc: dict[str, Any] | None = None
    if own:
        annotations = {**generic_annotations(draw, pod=False), **eks_serviceaccount_annotations(draw)}
        meta: dict[str, Any] = {"name": sa_name}
        if doc_ns:
            meta["namespace"] = doc_ns
        if annotations:
            meta["annotations"] = annotations
        sa_doc = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}
    reference = sa_name if own or draw(BOOL) else None

    pod_annotations = {**generic_annotations(draw, pod=True), **eks_pod_annotations(draw)}
    if draw(RARE[6]):
        pod_annotations["team"] = "payments"
    labels: dict[str, str] = {"app": name}
    if draw(RARE[5]):
        labels[f"{P}/inject"] = draw(INJECT_LABEL)
    spec = pod_spec(draw, reference, job=kind in ("Job", "CronJob"))
    template_meta: dict[str, Any] = {}
    if pod_annotations:
        template_meta["annotations"] = pod_annotations

    if kind == "Pod":
        meta = {
            "name": name,
            **({"namespace": doc_ns} if doc_ns else {}),
            "labels": _labels_node(draw, labels),
        }
        workload: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": {**meta, **template_meta}}
        workload["spec"] = spec
        template = workload
    else:
        selector = {"app": name}
        aliased = kind not in ("Job", "CronJob") and labels == selector and draw(BOOL)
        template = {
            "metadata": {**template_meta, "labels": Alias("sel", selector) if aliased else labels},
            "spec": spec,
        }
        body: dict[str, Any] = {}
        if kind != "Job":
            body["selector"] = {"matchLabels": Anchored("sel", selector) if aliased else selector}
        if kind == "StatefulSet":
            body["serviceName"] = name
        if kind == "CronJob":
            body = {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}}
        else:
            body["template"] = template
        group = "batch/v1" if kind in ("Job", "CronJob") else "apps/v1"
        meta = {"name": name, **({"namespace": doc_ns} if doc_ns else {})}
        workload = {"apiVersion": group, "kind": kind, "metadata": meta, "spec": body}

    malformed = ""
    if draw(RARE[20]):
        malformed = draw(MALFORMED_KIND)
        MALFORMED[malformed](template)

    style = Style(
        quotes=draw(QUOTES),
        trailing_comments=draw(RARE[5]),
    )
    form = draw(FORM)
    if form == "json":
        workload_text = _json(data_of(workload))
    else:
        workload_text = dump(workload, style)
        if draw(RARE[5]):
            workload_text = f"# {kind} {name}\n" + workload_text
    if form == "json":
        sa_text = _json(data_of(sa_doc)) if sa_doc else ""
    else:
        sa_text = dump(sa_doc, style) if sa_doc else ""
    return Case(
        index=index,
        kind=kind,
        name=name,
        namespace=namespace,
        serviceaccount=data_of(sa_doc) if sa_doc else None,
        workload=data_of(workload),
        workload_text=workload_text,
        serviceaccount_text=sa_text,
        json=form == "json",
        malformed=malformed,
        crlf=draw(RARE[10]),
        bom=draw(RARE[30]),
    )


def _json(value: Any) -> str:
    import json

    return json.dumps(value, indent=2) + "\n"
