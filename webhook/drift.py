"""`webhook drift`: running pods whose projected tokens differ from what their ServiceAccount gives today.

What a pod "would get today" is the core's own reading (mutate_pod's token specs for that pod and its
ServiceAccount now); what it has is the token sources mounted in its containers. Only tokens this webhook
manages count as extra: those in volumes it names, or at a wanted token's file or audience.

Exit codes: 0 done, 2 cluster or usage error, 3 with --fail-on-drift when any pod drifted.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click

from webhook.errors import UserError
from webhook.mutate import mutate_pod, serviceaccount_name
from webhook.options import settings_from_options, settings_options
from webhook.settings import CoreSettings
from webhook.vocabulary import (
    MAPPING_TYPES,
    RESERVED_VOLUME_PREFIX,
    ServiceAccountInfo,
    TokenSpec,
    clean_path,
)

EXIT_ERROR = 2
EXIT_DRIFT = 3
RESTARTABLE = {"Deployment", "StatefulSet", "DaemonSet"}


@dataclass(frozen=True)
class Difference:
    token: str  # the wanted token's name, or the file of an extra one
    kind: str  # missing | extra | audience | expiration | path
    detail: str


@dataclass
class OwnerDrift:
    namespace: str
    kind: str  # Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod, ...
    name: str
    fix: str
    pods: dict[str, list[Difference]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Mounted:
    file: str
    audience: str
    expiration: int
    volume: str


def mounted_tokens(pod: Mapping[str, Any]) -> list[_Mounted]:
    """Every projected token file a pod's containers see (kube-api-access volumes aside)."""
    spec = pod.get("spec") or {}
    sources: dict[str, list[Mapping[str, Any]]] = {}
    for volume in spec.get("volumes") or ():
        name = volume.get("name") if isinstance(volume, MAPPING_TYPES) else None
        projected = volume.get("projected") if isinstance(name, str) else None
        if not isinstance(name, str) or not isinstance(projected, MAPPING_TYPES):
            continue
        if name.startswith(RESERVED_VOLUME_PREFIX):
            continue
        tokens = [s.get("serviceAccountToken") for s in projected.get("sources") or () if isinstance(s, dict)]
        sources[name] = [t for t in tokens if isinstance(t, MAPPING_TYPES)]
    found: dict[str, _Mounted] = {}
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or ():
            for mount in container.get("volumeMounts") or ():
                for token in sources.get(mount.get("name"), ()):
                    file = clean_path(f"{mount.get('mountPath')}/{token.get('path')}")
                    found.setdefault(
                        file,
                        _Mounted(
                            file,
                            token.get("audience") or "",
                            token.get("expirationSeconds") or 3600,
                            mount["name"],
                        ),
                    )
    return list(found.values())


def differences(
    pod: Mapping[str, Any], serviceaccount: ServiceAccountInfo | None, settings: CoreSettings
) -> list[Difference]:
    """How the pod's tokens differ from what the core would give it now; [] when they agree."""
    outcome = mutate_pod(pod, serviceaccount, settings) if serviceaccount is not None else None
    wanted: tuple[TokenSpec, ...] = outcome.tokens if outcome is not None else ()
    ours = {t.volume_name for t in wanted} | {"aws-iam-token"}
    have = mounted_tokens(pod)
    by_file = {m.file: m for m in have}
    matched: set[str] = set()
    out: list[Difference] = []
    for token in wanted:
        current = by_file.get(token.file_path)
        if current is None:
            same = [m for m in have if m.audience == token.audience and m.file not in matched]
            if same:
                matched.add(same[0].file)
                out.append(Difference(token.name, "path", f"at {same[0].file}, wanted {token.file_path}"))
            else:
                out.append(Difference(token.name, "missing", f"{token.file_path} ({token.audience!r})"))
            continue
        matched.add(current.file)
        if current.audience != token.audience:
            out.append(Difference(token.name, "audience", f"{current.audience!r}, wanted {token.audience!r}"))
        if current.expiration != token.expiration_seconds:
            out.append(
                Difference(
                    token.name, "expiration", f"{current.expiration}, wanted {token.expiration_seconds}"
                )
            )
    for mounted in have:
        if mounted.file not in matched and (mounted.volume in ours or mounted.volume.startswith("ptw-")):
            out.append(Difference(mounted.file, "extra", f"audience {mounted.audience!r}, no longer wanted"))
    return out


def owner_of(pod: Mapping[str, Any], lookup_owner: Any) -> tuple[str, str]:
    """(kind, name) of the pod's top controller: a ReplicaSet resolves to its Deployment, a Job to its
    CronJob. `lookup_owner(kind, namespace, name)` returns that object's controller (kind, name) or None."""
    meta = pod.get("metadata") or {}
    namespace = meta.get("namespace") or "default"
    kind, name = "Pod", meta.get("name") or "?"
    refs = [r for r in meta.get("ownerReferences") or () if r.get("controller")]
    if refs:
        kind, name = refs[0].get("kind") or kind, refs[0].get("name") or name
        if kind in ("ReplicaSet", "Job"):
            parent = lookup_owner(kind, namespace, name)
            if parent is not None:
                kind, name = parent
    return kind, name


def fix_for(namespace: str, kind: str, name: str) -> str:
    if kind in RESTARTABLE:
        return f"kubectl rollout restart {kind.lower()}/{name} -n {namespace}"
    if kind == "Pod":
        return f"re-create pod {name} (kubectl delete pod {name} -n {namespace}, then apply it again)"
    if kind == "CronJob":
        return f"the next run of cronjob/{name} gets the new tokens (-n {namespace})"
    return (
        f"kubectl delete pods -n {namespace} owned by {kind.lower()}/{name}; its controller re-creates them"
    )


def drift_report(
    pods: Iterable[Mapping[str, Any]],
    serviceaccounts: Mapping[tuple[str, str], ServiceAccountInfo],
    settings: CoreSettings,
    lookup_owner: Any,
) -> list[OwnerDrift]:
    owners: dict[tuple[str, str, str], OwnerDrift] = {}
    for pod in pods:
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp") or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        namespace = meta.get("namespace") or "default"
        serviceaccount = serviceaccounts.get((namespace, serviceaccount_name(pod)))
        found = differences(pod, serviceaccount, settings)
        if not found:
            continue
        kind, name = owner_of(pod, lookup_owner)
        key = (namespace, kind, name)
        if key not in owners:
            owners[key] = OwnerDrift(namespace, kind, name, fix_for(namespace, kind, name))
        owners[key].pods[meta.get("name") or "?"] = found
    return sorted(owners.values(), key=lambda o: (o.namespace, o.kind, o.name))


def _text(report: list[OwnerDrift]) -> str:
    if not report:
        return "no drift: every pod's tokens match its ServiceAccount\n"
    lines: list[str] = []
    for owner in report:
        lines.append(f"{owner.namespace} {owner.kind}/{owner.name}: {len(owner.pods)} pod(s) drifted")
        for pod_name, found in sorted(owner.pods.items()):
            for difference in found:
                lines.append(f"  {pod_name}: {difference.kind} {difference.token}: {difference.detail}")
        lines.append(f"  fix: {owner.fix}")
    return "\n".join(lines) + "\n"


def _json(report: list[OwnerDrift]) -> str:
    items = [
        {
            **asdict(owner),
            "pods": [{"name": p, "differences": [asdict(d) for d in ds]} for p, ds in owner.pods.items()],
        }
        for owner in report
    ]
    return json.dumps({"drifted": items}, indent=2) + "\n"


class _Cluster:
    """Reads pods, ServiceAccounts and owners through the official client (kubeconfig or in-cluster)."""

    def __init__(self, kubeconfig: Path | None, context: str | None) -> None:
        from kubernetes import client

        from webhook.serviceaccounts import api_client

        self.api = api_client(kubeconfig, context)
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.batch = client.BatchV1Api(self.api)

    def _list(self, kind: str, namespace: str | None) -> list[dict[str, Any]]:
        if namespace:
            response = getattr(self.core, f"list_namespaced_{kind}")(namespace, _preload_content=False)
        else:
            response = getattr(self.core, f"list_{kind}_for_all_namespaces")(_preload_content=False)
        items = json.loads(response.data).get("items") or []
        return [i for i in items if isinstance(i, dict)]

    def pods(self, namespace: str | None) -> list[dict[str, Any]]:
        return self._list("pod", namespace)

    def serviceaccounts(self, namespace: str | None) -> list[dict[str, Any]]:
        return self._list("service_account", namespace)

    def owner(self, kind: str, namespace: str, name: str) -> tuple[str, str] | None:
        from kubernetes.client.exceptions import ApiException

        read = {"ReplicaSet": self.apps.read_namespaced_replica_set, "Job": self.batch.read_namespaced_job}
        try:
            response: Any = read[kind](name, namespace, _preload_content=False)  # raw: parsed below
        except ApiException:
            return None  # gone or not readable: report the ReplicaSet/Job itself
        meta = json.loads(response.data).get("metadata") or {}
        refs = [r for r in meta.get("ownerReferences") or () if r.get("controller")]
        return (refs[0]["kind"], refs[0]["name"]) if refs else None


class ClusterUnreadable(UserError):
    """The cluster, or the kubeconfig naming it, cannot be read."""

    exit_code = EXIT_ERROR


@click.command("drift")
@click.option(
    "--kubeconfig", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Else in-cluster."
)
@click.option("--context", default=None, help="kubeconfig context.")
@click.option("-n", "--namespace", default=None, help="One namespace [all].")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--fail-on-drift", is_flag=True, help="Exit 3 when any pod drifted (cron jobs, CI).")
@settings_options(CoreSettings)
def drift_command(
    kubeconfig: Path | None,
    context: str | None,
    namespace: str | None,
    output: str,
    fail_on_drift: bool,
    **core: Any,
) -> None:
    """List running pods whose projected tokens differ from what their ServiceAccount gives today."""
    settings = settings_from_options(CoreSettings, core)
    from webhook.serviceaccounts import annotation_prefixes, slim

    try:
        cluster = _Cluster(kubeconfig, context)
        prefixes = annotation_prefixes(settings.annotation_prefix, settings.dialects, settings)
        accounts: dict[tuple[str, str], ServiceAccountInfo] = {}
        for obj in cluster.serviceaccounts(namespace):
            info = slim(obj, prefixes)
            if info is not None:
                accounts[(info.namespace, info.name)] = info
        report = drift_report(cluster.pods(namespace), accounts, settings, cluster.owner)
    except Exception as exc:  # the cluster's fault or the kubeconfig's: one line, no traceback
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ClusterUnreadable(f"cannot read the cluster: {message}") from None
    sys.stdout.write(_json(report) if output == "json" else _text(report))
    if fail_on_drift and report:
        click.echo(f"{sum(len(o.pods) for o in report)} pod(s) drifted", err=True)
        sys.exit(EXIT_DRIFT)
