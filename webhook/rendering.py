"""The render pass: the admission decision (webhook.decision, as the server makes it) on every pod template
of a set of documents, and the documents edited accordingly. Pure apart from the documents' data; the
`webhook render` command (webhook.render) reads the input and prints the result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from webhook.decision import DEFAULT_NAMESPACE, DEFAULT_SERVICEACCOUNT, SKIPPED, decide, subject_of
from webhook.documents import Document
from webhook.selectors import Scope
from webhook.settings import CoreSettings
from webhook.vocabulary import ServiceAccountInfo, is_map
from webhook.workloads import pod_templates
from webhook.yamledit import apply_ops, edit_documents


class RenderedDocument:
    def __init__(self, doc: Document, ops: list[dict[str, Any]], text: str) -> None:
        self.doc = doc
        self.ops = ops  # against the whole document
        self.text = text  # the document's new text (== doc.raw when unchanged)


class RenderReport:
    def __init__(self, default_namespace: str = DEFAULT_NAMESPACE) -> None:
        self.documents: list[RenderedDocument] = []
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.notes: list[str] = []
        self.templates = 0
        self.changed_templates = 0
        self.default_namespace = default_namespace

    @property
    def changed(self) -> list[RenderedDocument]:
        return [r for r in self.documents if r.ops]


def render_documents(
    docs: Iterable[Document],
    serviceaccounts: Mapping[tuple[str, str], ServiceAccountInfo],
    settings: CoreSettings,
    *,
    edit: bool = True,
    scope: Scope | None = None,
    default_namespace: str = DEFAULT_NAMESPACE,
) -> RenderReport:
    """Decide (webhook.decision, as the server does) on every pod template within `scope` (None: every
    template reaches the webhook); unless a template would be denied, the ops are applied to the documents'
    data and, with `edit`, changed documents get new text. Pure apart from the documents' data."""
    report = RenderReport(default_namespace)
    excluded = scope.excluded_namespaces if scope is not None else frozenset()
    for doc in docs:
        rendered = RenderedDocument(doc, [], doc.raw)
        report.documents.append(rendered)
        for template in pod_templates(doc.data, default_namespace=default_namespace):
            report.templates += 1
            pod = template.template
            subject = subject_of(pod, template.namespace, excluded_namespaces=excluded)
            if template.bad_namespace:  # the apiserver refuses such an object before any webhook
                where = f"{doc.source}:{doc.line}: {template.describe()}"
                report.errors.append(f"{where}: malformed object: metadata.namespace must be a string")
                continue
            if scope is not None:  # the apiserver's selectors come first, then the server's own rules
                why = scope.excludes(subject.namespace, _labels(pod))
                if why is None and subject.excluded:
                    why = f"namespace {subject.namespace} is in --excluded-namespaces of {scope.origin}"
                if why is not None:
                    report.notes.append(
                        f"{doc.source}:{doc.line}: {template.describe()}: {why}; left unchanged"
                    )
                    continue
            if subject.problems:
                where = f"{doc.source}:{doc.line}: {template.describe()}"
                report.errors.extend(f"{where}: {problem}" for problem in subject.problems)
                continue
            serviceaccount = serviceaccounts.get((subject.namespace, subject.serviceaccount))
            decided = decide(pod, subject, serviceaccount, settings)
            if (
                serviceaccount is None
                and decided.outcome == SKIPPED
                and subject.serviceaccount != DEFAULT_SERVICEACCOUNT
            ):
                key = f"{subject.namespace}/{subject.serviceaccount}"
                report.notes.append(
                    f"{doc.source}:{doc.line}: {template.describe()}: ServiceAccount {key} is not in the "
                    "input or --serviceaccounts; left unchanged"
                )
                continue
            if decided.errors or decided.warnings:
                where = f"{doc.source}:{doc.line}: {template.describe()}"
                report.errors.extend(f"{where}: {error}" for error in decided.errors)
                report.warnings.extend(f"{where}: {warning}" for warning in decided.warnings)
            if decided.ops:
                report.changed_templates += 1
                rendered.ops.extend({**op, "path": template.pointer + op["path"]} for op in decided.ops)
    if report.errors:
        return report
    # Stage by stage over all documents, as edit_documents does: faster than one document at a time.
    changed = report.changed
    edits = [(r.doc, r.ops, apply_ops(r.doc.data, r.ops)) for r in changed]
    if edit:
        for rendered, text in zip(changed, edit_documents(edits, report.notes), strict=True):
            rendered.text = text
    return report


def _labels(pod: Mapping[str, Any]) -> Mapping[str, str]:
    """The pod's labels for the objectSelector; wrongly typed ones count as none (the shape check says so)."""
    metadata = pod.get("metadata")
    labels = metadata.get("labels") if is_map(metadata) else None
    if not is_map(labels):
        return {}
    for value in labels.values():
        if not isinstance(value, str):
            return {}
    return labels
