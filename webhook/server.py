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
    """Answers reviews: lookup -> decide (the core, webhook.decision) -> respond -> log, with metrics."""

    def __init__(self, settings: ServeSettings, source: Source, metrics: Metrics) -> None:
        from webhook import decision  # the core: imported here so a broken core fails at startup, loudly

        self.settings = settings
        self.source = source
        self.metrics = metrics
        self._decision = decision
        self._excluded = frozenset(settings.excluded_namespaces)

    async def review(self, request: AdmissionRequest) -> dict[str, Any]:
        """Answer one parsed review; raises SourceUnavailable when the ServiceAccount cannot be looked up."""
        started = time.perf_counter()
        core = self._decision
        pod = request.object
        metadata = pod.get("metadata") if isinstance(pod, dict) else None
        metadata = metadata if isinstance(metadata, dict) else {}
        pod_name = request.name or _str(metadata.get("name")) or _str(metadata.get("generateName"))
        namespace = request.namespace or _str(metadata.get("namespace")) or core.DEFAULT_NAMESPACE
        sa_name = ""
        outcome = "error"  # until decided: an unexpected exception is counted as an error
        dialects: tuple[str, ...] = ()
        reason: str | None = None
        level = logging.INFO
        try:
            if not (request.is_pod and request.operation == "CREATE"):
                outcome = core.SKIPPED
                reason = f"not a pod CREATE ({request.kind or '?'} {request.operation or '?'})"
                return admission.allow(request)
            subject = core.subject_of(pod, request.namespace, excluded_namespaces=self._excluded)
            namespace, sa_name = subject.namespace, subject.serviceaccount
            found = None
            if subject.needs_serviceaccount:
                try:
                    found = (await self.source.lookup(namespace, sa_name)).serviceaccount
                except SourceUnavailable as exc:
                    outcome, reason, level = "error", str(exc), logging.ERROR
                    raise
            try:
                decided = core.decide(pod, subject, found, self.settings)
            except Exception:
                outcome, reason, level = "error", "the mutation failed unexpectedly", logging.ERROR
                log.exception("mutation failed", extra={"uid": request.uid, "namespace": namespace})
                raise
            outcome, reason, dialects = decided.outcome, decided.reason, decided.dialects
            if decided.outcome == core.DENIED:
                return admission.deny(request, decided.errors, warnings=decided.warnings)
            return admission.allow(request, decided.ops, decided.warnings)
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
