"""`webhook render`: the admission mutation, offline, over every pod template in a set of manifests.

Exit codes: 0 done, 1 a workload would be denied (all reasons on stderr), 2 unreadable input or bad usage,
3 with --fail-on-change when anything would be mutated.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import click
import orjson

from webhook.cli import OwnProcess
from webhook.documents import Document, InputError, load_serviceaccounts, read_documents, serviceaccounts_in
from webhook.mutate import mutate_pod, serviceaccount_name
from webhook.options import core_settings_options, settings_from_options
from webhook.settings import CoreSettings
from webhook.textdiff import unified_diff
from webhook.vocabulary import MAPPING_TYPES, ServiceAccountInfo
from webhook.workloads import pod_templates
from webhook.yamledit import apply_ops, edit_documents

EXIT_DENIED = 1
EXIT_INPUT = 2
EXIT_CHANGED = 3


@dataclass(slots=True)
class RenderedDocument:
    doc: Document
    ops: list[dict[str, Any]]  # against the whole document
    text: str  # the document's new text (== doc.raw when unchanged)


@dataclass
class RenderReport:
    documents: list[RenderedDocument]
    errors: list[str]
    warnings: list[str]
    notes: list[str]
    templates: int = 0
    changed_templates: int = 0

    @property
    def changed(self) -> list[RenderedDocument]:
        return [r for r in self.documents if r.ops]


def render_documents(
    docs: Iterable[Document],
    serviceaccounts: Mapping[tuple[str, str], ServiceAccountInfo],
    settings: CoreSettings,
    *,
    edit: bool = True,
) -> RenderReport:
    """Mutate every pod template; unless a template would be denied, the ops are applied to the documents'
    data and, with `edit`, changed documents get new text. Pure apart from the documents' data."""
    report = RenderReport([], [], [], [])
    for doc in docs:
        rendered = RenderedDocument(doc, [], doc.raw)
        report.documents.append(rendered)
        for template in pod_templates(doc.data):
            report.templates += 1
            sa_name = serviceaccount_name(template.template)
            serviceaccount = serviceaccounts.get((template.namespace, sa_name))
            if serviceaccount is None:
                report.notes.append(
                    f"{doc.source}:{doc.line}: {template.describe()}: ServiceAccount "
                    f"{template.namespace}/{sa_name} is not in the input or --serviceaccounts; left unchanged"
                )
                continue
            outcome = mutate_pod(template.template, serviceaccount, settings)
            if outcome.errors or outcome.warnings:
                where = f"{doc.source}:{doc.line}: {template.describe()}"
                report.errors.extend(f"{where}: {error}" for error in outcome.errors)
                report.warnings.extend(f"{where}: {warning}" for warning in outcome.warnings)
            if outcome.patch:
                report.changed_templates += 1
                rendered.ops.extend({**op, "path": template.pointer + op["path"]} for op in outcome.patch)
    if report.errors:
        return report
    # Stage by stage over all documents, as edit_documents does: faster than one document at a time.
    changed = report.changed
    edits = [(r.doc, r.ops, apply_ops(r.doc.data, r.ops)) for r in changed]
    if edit:
        for rendered, text in zip(changed, edit_documents(edits), strict=True):
            rendered.text = text
    return report


def _yaml_stream(report: RenderReport) -> str:
    out: list[str] = []
    for rendered in report.documents:
        text = rendered.text
        if out and not text.startswith("---") and rendered.doc.data is not None:
            if not out[-1].endswith("\n"):
                out.append("\n")
            out.append("---\n")
        elif out and text and not out[-1].endswith("\n"):
            out.append("\n")
        out.append(text)
    return "".join(out)


def _json(value: Any) -> str:
    """Indented JSON: orjson (json's indenting encoder is pure Python, ~35x slower on big inputs), json for
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
                "namespace": str(meta.get("namespace") or "") or "default",
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
    for source, rendered in by_source.items():
        if not any(r.ops for r in rendered):
            continue
        old, new = [r.doc.raw for r in rendered], [r.text for r in rendered]
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
@core_settings_options
def render(
    inputs: tuple[str, ...],
    serviceaccount_files: tuple[str, ...],
    output: str,
    fail_on_change: bool,
    **options: Any,
) -> None:
    """Apply the webhook's mutation to every pod template in FILEs, DIRs or stdin (-), offline.

    Pod templates are found in Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController,
    Job, CronJob, PodTemplate and List documents; ServiceAccounts come from the input and --serviceaccounts.
    """
    if _own_process():
        # A short-lived process holding every document: the cyclic GC would rescan them all again and again.
        gc.disable()
    settings = settings_from_options(CoreSettings, options)
    if not inputs:
        if sys.stdin.isatty():
            raise click.UsageError("give manifest files or directories, or - to read stdin")
        inputs = ("-",)
    try:
        docs = read_documents(inputs)
        serviceaccounts = serviceaccounts_in(docs)
        serviceaccounts.update(load_serviceaccounts(serviceaccount_files))
    except InputError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_INPUT)

    # Only yaml and diff print the documents' text: json prints the data, patch the ops.
    report = render_documents(docs, serviceaccounts, settings, edit=output in ("yaml", "diff"))
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if report.errors:
        for error in report.errors:
            click.echo(f"error: {error}", err=True)
        click.echo(f"{len(report.errors)} error(s): these workloads would be denied", err=True)
        _exit(EXIT_DENIED)
    sys.stdout.write(OUTPUTS[output](report))
    if fail_on_change and report.changed_templates:
        click.echo(
            f"{report.changed_templates} of {report.templates} pod template(s) would be mutated", err=True
        )
        _exit(EXIT_CHANGED)
    _exit(0)


def _own_process() -> bool:
    return isinstance(click.get_current_context().find_root().obj, OwnProcess)


def _exit(code: int) -> NoReturn:
    """Flush and exit; in the console script's own process, without the interpreter's teardown: freeing
    every document object one by one would add ~5% to a big render."""
    sys.stdout.flush()
    sys.stderr.flush()
    if _own_process():
        os._exit(code)
    sys.exit(code)
