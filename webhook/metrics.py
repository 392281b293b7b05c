"""Prometheus metrics of the admission server; one registry per app so tests can run several apps."""

from __future__ import annotations

import platform
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, ProcessCollector
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from webhook import __version__

OUTCOMES = ("mutated", "unchanged", "skipped", "denied", "error")
# A review takes well under a millisecond when the cache answers; a direct GET can take up to its deadline.
LATENCY_BUCKETS = (0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # webhook_build_info, 1 with the build's labels: joins version changes to every other graph.
        Info("webhook_build", "The running webhook's version and Python.", registry=r).info(
            {
                "version": __version__,
                "python_version": platform.python_version(),
                "python_implementation": platform.python_implementation(),
            }
        )
        # process_cpu_seconds_total, process_resident_memory_bytes, ... (Linux only; empty elsewhere).
        ProcessCollector(registry=r)
        self.admissions = Counter(
            "webhook_admissions",
            "Admission reviews answered, by outcome and by the dialects that contributed tokens.",
            ["outcome", "dialect"],
            registry=r,
        )
        self.latency = Histogram(
            "webhook_admission_duration_seconds",
            "Time from a parsed review to its response, ServiceAccount lookup included.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.bad_requests = Counter(
            "webhook_bad_requests",
            "Requests rejected before a review could be read, by HTTP status.",
            ["code"],
            registry=r,
        )
        self.cache_size = Gauge(
            "webhook_serviceaccount_cache_size", "ServiceAccounts held in the cache.", registry=r
        )
        self.cache_misses = Counter(
            "webhook_serviceaccount_cache_misses", "Lookups the cache could not answer.", registry=r
        )
        self.direct_lookups = Counter(
            "webhook_serviceaccount_direct_lookups",
            "Direct GETs of a ServiceAccount after a cache miss, by result (found, not_found, error).",
            ["result"],
            registry=r,
        )
        self.source_synced = Gauge(
            "webhook_serviceaccount_source_synced", "1 once the ServiceAccount source has synced.", registry=r
        )
        self.relists = Counter(
            "webhook_serviceaccount_relists", "Full relists of the watch cache.", registry=r
        )
        self.cert_expiry = Gauge(
            "webhook_certificate_expiry_seconds", "Seconds until the serving certificate expires.", registry=r
        )
        self.cert_reloads = Counter(
            "webhook_certificate_reloads",
            "Serving certificate reloads, by result (ok, error).",
            ["result"],
            registry=r,
        )
        self.draining = Gauge("webhook_draining", "1 while the server drains before exiting.", registry=r)
        self.client_disconnects = Counter(
            "webhook_client_disconnects",
            "Requests whose client closed the connection before the body was complete.",
            registry=r,
        )
        self.connections = Gauge("webhook_connections", "TLS connections open.", registry=r)
        self.connection_limits = Counter(
            "webhook_connection_limits",
            "Connections closed or refused by a limit (header_bytes, headers, request_timeout, "
            "first_byte_timeout, max_connections, max_connections_idle_closed, invalid_http, upgrade).",
            ["limit"],
            registry=r,
        )

    def bind_cache_size(self, size: Callable[[], int]) -> None:
        self.cache_size.set_function(lambda: float(size()))

    def bind_synced(self, synced: Callable[[], bool]) -> None:
        self.source_synced.set_function(lambda: 1.0 if synced() else 0.0)

    def bind_cert_expiry(self, seconds_left: Callable[[], float]) -> None:
        self.cert_expiry.set_function(seconds_left)

    # The ServiceAccount sources' hooks (webhook.serviceaccounts.Hooks).
    def cache_miss(self) -> None:
        self.cache_misses.inc()

    def direct_lookup(self, result: str) -> None:
        self.direct_lookups.labels(result).inc()

    def relisted(self) -> None:
        self.relists.inc()

    def record(self, outcome: str, dialects: tuple[str, ...], seconds: float) -> None:
        self.admissions.labels(outcome, "+".join(dialects) if dialects else "none").inc()
        self.latency.observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
