"""The review logic: one parsed AdmissionReview in, its answer out (ServiceAccount lookup, the core's
mutation, metrics and the decision log). The HTTP app around it is webhook/app.py.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from webhook import admission, logs
from webhook.admission import AdmissionRequest
from webhook.metrics import Metrics
from webhook.serve_settings import ServeSettings
from webhook.serviceaccounts import Source, SourceUnavailable

log = logging.getLogger("webhook.server")


class Webhook:
    """Decides on reviews: the ServiceAccount lookup and the core's mutation, with metrics and logs."""

    def __init__(self, settings: ServeSettings, source: Source, metrics: Metrics) -> None:
        from webhook import mutate  # the core: imported here so a broken core fails at startup, loudly

        self.settings = settings
        self.source = source
        self.metrics = metrics
        self._mutate = mutate
        self._excluded = frozenset(settings.excluded_namespaces)

    async def review(self, request: AdmissionRequest) -> dict[str, Any]:
        """Answer one parsed review; raises SourceUnavailable when the ServiceAccount cannot be looked up."""
        started = time.perf_counter()
        pod = request.object
        metadata = pod.get("metadata") if isinstance(pod, dict) else None
        metadata = metadata if isinstance(metadata, dict) else {}
        namespace = request.namespace or _str(metadata.get("namespace")) or "default"
        pod_name = request.name or _str(metadata.get("name")) or _str(metadata.get("generateName"))
        sa_name = ""
        outcome = "error"  # until decided: an unexpected exception is counted as an error
        dialects: tuple[str, ...] = ()
        reason: str | None = None
        level = logging.INFO
        try:
            if not (request.is_pod and request.operation == "CREATE"):
                outcome, reason = (
                    "skipped",
                    f"not a pod CREATE ({request.kind or '?'} {request.operation or '?'})",
                )
                return admission.allow(request)
            if namespace in self._excluded:
                outcome, reason = "skipped", "excluded namespace"
                return admission.allow(request)
            problems = admission.pod_shape_problems(pod)
            if problems:
                outcome, reason = "denied", "; ".join(problems)
                return admission.deny(request, [f"malformed pod: {p}" for p in problems])
            sa_name = self._mutate.serviceaccount_name(pod)
            try:
                found = await self.source.lookup(namespace, sa_name)
            except SourceUnavailable as exc:
                outcome, reason, level = "error", str(exc), logging.ERROR
                raise
            if found.serviceaccount is None:
                outcome = "skipped"
                reason = f"ServiceAccount {namespace}/{sa_name} not found; pod not mutated"
                return admission.allow(request, warnings=[reason])
            try:
                result = self._mutate.mutate_pod(pod, found.serviceaccount, self.settings)
            except Exception:
                outcome, reason, level = "error", "the mutation failed unexpectedly", logging.ERROR
                log.exception("mutation failed", extra={"uid": request.uid, "namespace": namespace})
                raise
            dialects = tuple(result.dialects)
            if result.errors:
                outcome, reason = "denied", "; ".join(result.errors)
                return admission.deny(request, result.errors, warnings=result.warnings)
            if result.patch:
                outcome = "mutated"
                return admission.allow(request, result.patch, result.warnings)
            outcome = "skipped" if result.skipped else "unchanged"
            reason = result.skipped
            return admission.allow(request, warnings=result.warnings)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.record(outcome, dialects, elapsed)
            logs.decision(
                uid=request.uid,
                namespace=namespace,
                pod=pod_name,
                serviceaccount=sa_name,
                outcome=outcome,
                duration_ms=elapsed * 1000,
                dry_run=request.dry_run,
                dialects=dialects,
                reason=reason,
                level=level,
            )


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""
