"""`webhook render`: the admission mutation, offline, over every pod template in a set of manifests.

Exit codes: 0 done, 1 a workload would be denied (all reasons on stderr), 2 unreadable input or bad usage,
3 with --fail-on-change when anything would be mutated.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from typing import Any

import click
import orjson

from webhook.decision import DEFAULT_NAMESPACE
from webhook.documents import (
    BOM,
    Document,
    load_serviceaccounts,
    objects,
    read_documents,
    serviceaccounts_in,
)
from webhook.errors import InputError, UsageError
from webhook.options import settings_from_options, settings_options
from webhook.rendering import RenderedDocument, RenderReport, render_documents
from webhook.selectors import Scope, ScopeError, parse_namespace_labels, scope_from_objects
from webhook.settings import CoreSettings
from webhook.shipped_scope import SHIPPED_SCOPE
from webhook.textdiff import unified_diff
from webhook.vocabulary import MAPPING_TYPES
from webhook.yamledit import line_break

EXIT_DENIED = 1
EXIT_INPUT = InputError.exit_code  # unreadable input
EXIT_CHANGED = 3


def _yaml_stream(report: RenderReport) -> str:
    """Every document's text, with "---" where a YAML document needs one to stay apart from the one before;
    concatenated JSON documents print back as they came. Only the stream's start keeps a byte order mark."""
    out: list[str] = []
    previous: Document | None = None
    for rendered in report.documents:
        text, doc = rendered.text, rendered.doc
        if out and text.startswith(BOM):
            text = text[1:]
        if out and not (doc.is_json and previous is not None and previous.is_json):
            newline = line_break(text)
            if text and not out[-1].endswith("\n"):
                out.append(newline)
            if doc.data is not None and not text.startswith("---"):
                out.append("---" + newline)
        out.append(text)
        previous = doc
    return "".join(out)


def _json(value: Any) -> str:
    """Indented JSON: orjson (json's indenting encoder is pure Python, far slower on big inputs), json for
    what orjson refuses (integers beyond 64 bits). YAML 1.1 timestamps print with str(), as json's default."""
    try:
        return orjson.dumps(
            value,
            default=str,
            option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME,
        ).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _json_output(report: RenderReport) -> str:
    objects = [r.doc.data for r in report.documents if r.doc.data is not None]
    value = objects[0] if len(objects) == 1 else {"apiVersion": "v1", "kind": "List", "items": objects}
    return _json(value) + "\n"


def _patch_output(report: RenderReport) -> str:
    entries = []
    for r in report.changed:
        data = r.doc.data  # a changed document is always a mapping: it holds a pod template
        meta = data.get("metadata") if isinstance(data.get("metadata"), MAPPING_TYPES) else {}
        entries.append(
            {
                "source": r.doc.source,
                "document": r.doc.index,
                "line": r.doc.line,
                "kind": str(data.get("kind") or ""),
                "namespace": str(meta.get("namespace") or "") or report.default_namespace,
                "name": str(meta.get("name") or ""),
                "patch": r.ops,
            }
        )
    return _json(entries) + "\n"


def _diff_output(report: RenderReport) -> str:
    by_source: dict[str, list[RenderedDocument]] = {}
    for rendered in report.documents:
        by_source.setdefault(rendered.doc.source, []).append(rendered)
    out: list[str] = []
    for source, documents in by_source.items():
        if not any(r.ops for r in documents):
            continue
        old, new = [r.doc.raw for r in documents], [r.text for r in documents]
        out.extend(unified_diff(old, new, f"a/{source}", f"b/{source}"))
    return "".join(out)


OUTPUTS = {"yaml": _yaml_stream, "json": _json_output, "patch": _patch_output, "diff": _diff_output}


@click.command("render")
@click.argument("inputs", nargs=-1, metavar="[FILE|DIR|-]...")
@click.option(
    "--serviceaccounts",
    "-s",
    "serviceaccount_files",
    multiple=True,
    metavar="FILE",
    help="ServiceAccounts to use (YAML/JSON, repeatable); they win over ServiceAccounts in the input.",
)
@click.option(
    "--output",
    "-o",
    type=click.Choice(sorted(OUTPUTS)),
    default="yaml",
    show_default=True,
    help="yaml: all documents, untouched ones byte for byte; json; patch: JSON Patch per changed "
    "document; diff: unified diff.",
)
@click.option(
    "--fail-on-change",
    "--check",
    "fail_on_change",
    is_flag=True,
    help="Exit 3 when any pod template would be mutated (CI drift check).",
)
@click.option(
    "--namespace",
    "-n",
    "namespace",
    default=DEFAULT_NAMESPACE,
    show_default=True,
    metavar="NS",
    help="Namespace of documents that have none (as kubectl apply -n).",
)
@click.option(
    "--webhook-config",
    "webhook_config",
    metavar="FILE",
    help="The MutatingWebhookConfiguration whose selectors decide which pods reach the webhook (e.g. "
    "kubectl get mutatingwebhookconfiguration NAME -o yaml, or a built install) [the shipped one].",
)
@click.option(
    "--namespace-labels",
    "namespace_labels",
    multiple=True,
    metavar="NS=KEY=VALUE,...",
    help="Labels of namespaces for the namespaceSelector (repeatable); Namespace documents in the input "
    "count too.",
)
@click.option(
    "--excluded-namespaces",
    "excluded_namespaces",
    default=None,
    metavar="NS,...",
    help="The server's --excluded-namespaces [as in the --webhook-config install, else the shipped one].",
)
@settings_options(CoreSettings)
def render(
    inputs: tuple[str, ...],
    serviceaccount_files: tuple[str, ...],
    output: str,
    fail_on_change: bool,
    namespace: str,
    webhook_config: str | None,
    namespace_labels: tuple[str, ...],
    excluded_namespaces: str | None,
    **options: Any,
) -> None:
    """Apply the webhook's mutation to every pod template in FILEs, DIRs or stdin (-), offline.

    Pod templates are found in Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController,
    Job, CronJob, PodTemplate and List documents; ServiceAccounts come from the input and --serviceaccounts.
    """
    settings = settings_from_options(CoreSettings, options)
    if not inputs:
        if sys.stdin.isatty():
            raise UsageError("give manifest files or directories, or - to read stdin")
        inputs = ("-",)
    try:
        docs = read_documents(inputs)
        if not any(isinstance(doc.data, MAPPING_TYPES) for doc in docs):
            # An empty CI glob or an empty pipe: silence would look like a pass.
            names = ", ".join("stdin" if name == "-" else name for name in inputs)
            raise InputError(names, 0, "no documents")
        serviceaccounts = serviceaccounts_in(docs, namespace)
        serviceaccounts.update(load_serviceaccounts(serviceaccount_files, namespace))
        scope = _scope(docs, webhook_config, namespace_labels, excluded_namespaces, namespace)
    except (InputError, ScopeError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_INPUT)

    # Only yaml and diff print the documents' text: json prints the data, patch the ops.
    report = render_documents(
        docs,
        serviceaccounts,
        settings,
        edit=output in ("yaml", "diff"),
        scope=scope,
        default_namespace=namespace,
    )
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if report.errors:
        for error in report.errors:
            click.echo(f"error: {error}", err=True)
        click.echo(f"{len(report.errors)} error(s): these workloads would be denied", err=True)
        sys.exit(EXIT_DENIED)
    sys.stdout.write(OUTPUTS[output](report))
    if fail_on_change and report.changed_templates:
        click.echo(
            f"{report.changed_templates} of {report.templates} pod template(s) would be mutated", err=True
        )
        sys.exit(EXIT_CHANGED)
    sys.exit(0)


def _scope(
    docs: list[Document],
    webhook_config: str | None,
    namespace_labels: tuple[str, ...],
    excluded_namespaces: str | None,
    default_namespace: str,
) -> Scope:
    """The install's scope: --webhook-config's (or the shipped) selectors and --excluded-namespaces, with
    the labels of the input's Namespace documents and of --namespace-labels."""
    if webhook_config is not None:
        scope = scope_from_objects(objects(read_documents([webhook_config])), webhook_config)
    else:
        scope = SHIPPED_SCOPE
    if excluded_namespaces is not None:
        scope = replace(
            scope,
            excluded_namespaces=frozenset(n.strip() for n in excluded_namespaces.split(",") if n.strip()),
        )
    labels: dict[str, dict[str, str]] = {}
    for obj in objects(docs):
        if obj.get("kind") != "Namespace":
            continue
        metadata = obj.get("metadata")
        name = metadata.get("name") if isinstance(metadata, MAPPING_TYPES) else None
        found = metadata.get("labels") if isinstance(metadata, MAPPING_TYPES) else None
        if isinstance(name, str) and isinstance(found, MAPPING_TYPES):
            labels.setdefault(name, {}).update({str(k): str(v) for k, v in found.items()})
    for text in namespace_labels:
        for name, found in parse_namespace_labels(text).items():
            labels.setdefault(name, {}).update(found)
    return replace(scope, namespace_labels=labels)
