"""ServiceAccount sources: the static file (reload on change) and the cluster cache's own logic.

The cluster cache's list/watch against a real kube-apiserver lives in tests/e2e; here its event handling,
slimming and the bounded direct GET are exercised against real sockets (a port that refuses, one that hangs).
"""

from __future__ import annotations

import asyncio
import http.server
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from tests.common import json_documents_handler, serviceaccount
from tests.server.support import SERVICEACCOUNTS, pod, review, start_server
from webhook.certs import CertPaths
from webhook.metrics import Metrics
from webhook.serviceaccounts import (
    ClusterCache,
    SourceUnavailable,
    StaticFileSource,
    annotation_prefixes,
    slim,
)

PREFIXES = annotation_prefixes("projected-token.io", ["generic", "eks"])


def sa(name: str, namespace: str | None = "default", rv: str = "1", **annotations: str) -> dict:
    """A ServiceAccount as a list or watch returns it, with fields slim() must drop."""
    obj = serviceaccount(
        name, annotations or None, namespace=namespace, resourceVersion=rv, uid="u-" + name, labels={"a": "b"}
    )
    return {**obj, "secrets": [{"name": "s"}]}


def test_slim_keeps_only_what_the_dialects_read() -> None:
    obj = sa(
        "app",
        "ns",
        "42",
        **{
            "projected-token.io/audience": "vault",
            "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/r",
            "kubectl.kubernetes.io/last-applied-configuration": "{...big...}",
        },
    )
    info = slim(obj, PREFIXES)
    assert info is not None
    assert (info.namespace, info.name, info.resource_version) == ("ns", "app", "42")
    assert dict(info.annotations) == {
        "projected-token.io/audience": "vault",
        "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/r",
    }
    generic_only = slim(obj, annotation_prefixes("projected-token.io", ["generic"]))
    assert generic_only is not None and list(generic_only.annotations) == ["projected-token.io/audience"]
    # No annotations of ours: every such ServiceAccount shares one empty mapping (the cache stays small).
    a, b = slim(sa("a"), PREFIXES), slim(sa("b", **{"other.io/x": "y"}), PREFIXES)
    assert a is not None and b is not None and a.annotations is b.annotations
    assert slim(sa("c", namespace=None), PREFIXES).namespace == "default"  # type: ignore[union-attr]
    assert slim({"metadata": {}}, PREFIXES) is None


def offline_cache(port: int = 9, lookup_timeout: float = 0.5, metrics: Metrics | None = None) -> ClusterCache:
    configuration = k8s.Configuration()
    configuration.host = f"http://127.0.0.1:{port}"
    return ClusterCache(k8s.ApiClient(configuration), PREFIXES, lookup_timeout=lookup_timeout, hooks=metrics)


def test_watch_events_update_the_store() -> None:
    cache = offline_cache()
    store: dict = {}
    rv = cache.apply_page(store, {"metadata": {"resourceVersion": "10"}, "items": [sa("a"), sa("b", "x")]})
    assert rv == "10" and set(store) == {("default", "a"), ("x", "b")}
    cache._store = store
    cache.apply_event({"type": "ADDED", "raw_object": sa("c", rv="11")})
    cache.apply_event(
        {"type": "MODIFIED", "raw_object": sa("a", rv="12", **{"projected-token.io/audience": "new"})}
    )
    cache.apply_event({"type": "DELETED", "raw_object": sa("b", "x", rv="13")})
    cache.apply_event({"type": "BOOKMARK", "raw_object": {"metadata": {"resourceVersion": "20"}}})
    assert set(store) == {("default", "a"), ("default", "c")}
    assert store[("default", "a")].annotations == {"projected-token.io/audience": "new"}
    assert cache._resource_version == "20"
    with pytest.raises(ApiException) as gone:
        cache.apply_event(
            {"type": "ERROR", "raw_object": {"kind": "Status", "code": 410, "message": "too old"}}
        )
    assert gone.value.status == 410


def test_the_cluster_cache_loads_no_generated_api_or_model_modules() -> None:
    """CoreV1Api's import builds ~250 pydantic model modules (~21 MiB RSS) the cache never uses."""
    probe = (
        "import sys\n"
        "from kubernetes import client, watch\n"
        "from webhook.serviceaccounts import ClusterCache\n"
        "c = client.Configuration(); c.host = 'https://127.0.0.1:9'\n"
        "ClusterCache(client.ApiClient(c), ('projected-token.io/',))\n"
        "generated = ('kubernetes.client.api.', 'kubernetes.client.models.')\n"
        "print(sorted(m for m in sys.modules if m.startswith(generated)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert loaded.stdout.strip() == "[]", loaded.stdout[:300]


def test_list_and_read_go_through_the_api_client_and_raise_on_errors() -> None:
    """A real HTTP server on loopback stands in for the apiserver: paths, query, auth header, errors."""
    seen: list[tuple[str, str | None]] = []
    documents = {
        "/api/v1/serviceaccounts?limit=2": {"metadata": {"resourceVersion": "7"}, "items": [sa("a")]},
        "/api/v1/namespaces/ns%201/serviceaccounts/a": sa("a", "ns 1"),
    }
    not_found = b'{"kind":"Status","code":404,"reason":"NotFound"}'
    handler = json_documents_handler(documents, not_found, seen)
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        configuration = k8s.Configuration()
        configuration.host = f"http://127.0.0.1:{httpd.server_address[1]}"
        configuration.api_key = {"BearerToken": "Bearer t0ken"}
        cache = ClusterCache(k8s.ApiClient(configuration), PREFIXES, page_size=2)
        try:
            cache.relist()
            assert cache.synced and cache._resource_version == "7" and len(cache) == 1
            assert cache._get("ns 1", "a") is not None
            assert cache._get("ns 1", "missing") is None  # 404: not found, not an error
        finally:
            httpd.shutdown()
            thread.join(5)
            cache._executor.shutdown()
    assert seen == [
        ("/api/v1/serviceaccounts?limit=2", "Bearer t0ken"),
        ("/api/v1/namespaces/ns%201/serviceaccounts/a", "Bearer t0ken"),
        ("/api/v1/namespaces/ns%201/serviceaccounts/missing", "Bearer t0ken"),
    ]


@pytest.fixture
def hanging_port() -> Iterator[int]:
    """A port that accepts connections and never answers: an apiserver that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    listener.close()


def test_direct_lookup_has_a_deadline_and_never_blocks_the_loop(hanging_port: int) -> None:
    cache = offline_cache(hanging_port, lookup_timeout=0.5)

    async def scenario() -> tuple[float, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        started = time.monotonic()
        with pytest.raises(SourceUnavailable, match="default/app"):
            # Three pods waiting for the same missing ServiceAccount share one GET.
            await asyncio.gather(*(cache.lookup("default", "app") for _ in range(3)))
        elapsed = time.monotonic() - started
        task.cancel()
        return elapsed, ticks

    elapsed, ticks = asyncio.run(scenario())
    assert elapsed < 2.0
    assert ticks > 20, "the event loop stalled during the lookup"


def test_direct_lookup_refused_is_unavailable_quickly() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connections are refused
    cache = offline_cache(port)
    with pytest.raises(SourceUnavailable):
        asyncio.run(cache.lookup("default", "app"))


def test_unsynced_cluster_source_is_not_ready_and_lookups_fail_with_503(
    cert_bundle: CertPaths, hanging_port: int
) -> None:
    metrics = Metrics()
    cache = offline_cache(hanging_port, lookup_timeout=0.3, metrics=metrics)
    cache.start = _no_start  # type: ignore[method-assign]  # no list/watch: the source never syncs
    server = start_server(
        cert_bundle.cert, cert_bundle.key, cert_bundle.ca_cert, None, source=cache, metrics=metrics
    )
    try:
        with server.client() as c:
            assert c.get("/readyz").status_code == 503
            assert "not synced" in c.get("/readyz").json()["error"]
            response = c.post("/mutate", json=review(pod("vault")))
            assert response.status_code == 503
            assert "default/vault" in response.json()["error"]
            cache._store[("default", "vault")] = slim(  # what a watch event would add
                sa("vault", **{"projected-token.io/audience": "vault"}), PREFIXES
            )
            assert "patch" in c.post("/mutate", json=review(pod("vault"))).json()["response"]
            metrics = c.get("/metrics").text
        assert 'webhook_serviceaccount_direct_lookups_total{result="error"} 1.0' in metrics
        assert "webhook_serviceaccount_cache_misses_total 1.0" in metrics
        assert 'webhook_admissions_total{dialect="none",outcome="error"} 1.0' in metrics
    finally:
        server.stop()


async def _no_start() -> None:
    return None


def test_static_file_reloads_on_change_and_keeps_the_last_good_content(tmp_path: Path) -> None:
    path = tmp_path / "sa.yaml"
    path.write_text(SERVICEACCOUNTS)

    async def scenario() -> None:
        source = StaticFileSource(path, poll_interval=0.05)
        assert source.synced and len(source) == 4
        await source.start()
        try:
            assert (await source.lookup("default", "vault")).via == "cache"
            assert (await source.lookup("default", "newcomer")).serviceaccount is None
            path.write_text(
                SERVICEACCOUNTS + "---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: newcomer}\n"
            )
            for _ in range(100):
                if len(source) == 5:
                    break
                await asyncio.sleep(0.05)
            assert (await source.lookup("default", "newcomer")).serviceaccount is not None
            path.write_text("kind: [unclosed")
            await asyncio.sleep(0.3)
            assert len(source) == 5  # broken file: the previous content keeps serving
        finally:
            await source.stop()

    asyncio.run(scenario())


def test_static_file_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        StaticFileSource(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [")
    with pytest.raises(Exception, match=r"bad\.yaml"):
        StaticFileSource(bad)


def test_list_watch_loop_survives_an_unreachable_apiserver_and_stops_promptly(hanging_port: int) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        refused = s.getsockname()[1]
    for port in (refused, hanging_port):
        cache = offline_cache(port)
        cache._max_backoff = 0.2

        async def scenario(cache: ClusterCache = cache) -> float:
            await cache.start()
            await asyncio.sleep(1.0)
            assert not cache.synced and len(cache) == 0
            assert cache._thread is not None and cache._thread.is_alive()  # retrying, not dead
            started = time.monotonic()
            await cache.stop()
            return time.monotonic() - started

        assert asyncio.run(scenario()) < 3.0


def test_a_long_broken_watch_stops_serving_cached_entries() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        refused = s.getsockname()[1]
    cache = offline_cache(refused, lookup_timeout=0.3)
    cache._max_backoff = 0.2
    cached = slim(sa("app", **{"projected-token.io/audience": "old"}), PREFIXES)

    async def scenario() -> None:
        await cache.start()
        try:
            for _ in range(100):  # the first list fails: the cache counts as broken from then on
                if cache._broken_since is not None:
                    break
                await asyncio.sleep(0.02)
            cache._store[("default", "app")] = cached  # what an earlier, healthy list had seen
            assert (await cache.lookup("default", "app")).via == "cache"  # broken, not yet for long
            cache.max_stale = 0.0
            assert cache.stale
            with pytest.raises(SourceUnavailable):  # no stale answer: re-read, and the apiserver is gone
                await cache.lookup("default", "app")
        finally:
            await cache.stop()

    asyncio.run(scenario())
