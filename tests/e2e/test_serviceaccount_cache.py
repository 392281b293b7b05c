"""The server's ServiceAccount watch cache against a real kube-apiserver (owner: server).

List, then watch: creations, annotation changes and deletions show up; only our annotations are kept; a
ServiceAccount the cache has not seen is found by a direct GET, a missing one is reported missing.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator

import pytest

from tests.common import serviceaccount
from tests.e2e.controlplane import ControlPlane
from tests.e2e.support import PREFIX, wait_for
from webhook.serviceaccounts import ClusterCache, annotation_prefixes

PREFIXES = annotation_prefixes(PREFIX, ["generic", "eks"])


@pytest.fixture
def cache(control_plane: ControlPlane) -> Iterator[ClusterCache]:
    cache = ClusterCache(control_plane.api_client(), PREFIXES, lookup_timeout=5, watch_timeout=30)
    thread = threading.Thread(target=cache.run, name="sa-watch-test", daemon=True)
    thread.start()
    assert cache.wait_synced(60), "the cache never listed ServiceAccounts"
    yield cache
    asyncio.run(cache.stop())


def apply(plane: ControlPlane, namespace: str, obj: dict) -> None:
    plane.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(obj))


def test_watch_follows_create_update_delete(control_plane: ControlPlane, namespace: str, cache: ClusterCache):
    annotations = {f"{PREFIX}/audience": "vault", "example.com/unrelated": "dropped"}
    apply(control_plane, namespace, serviceaccount("watched", annotations))
    first = wait_for("the new ServiceAccount in the cache", lambda: cache.get(namespace, "watched"))
    assert dict(first.annotations) == {f"{PREFIX}/audience": "vault"}
    assert first.resource_version

    apply(control_plane, namespace, serviceaccount("watched", {f"{PREFIX}/audience": "changed"}))
    wait_for(
        "the annotation change",
        lambda: (
            (sa := cache.get(namespace, "watched")) and sa.annotations.get(f"{PREFIX}/audience") == "changed"
        ),
    )

    control_plane.kubectl("delete", "serviceaccount", "watched", "-n", namespace)
    wait_for("the deletion", lambda: cache.get(namespace, "watched") is None or None)


def test_direct_get_on_a_miss(control_plane: ControlPlane, namespace: str) -> None:
    # A cache that listed once and never watches: anything created afterwards is a miss.
    cache = ClusterCache(control_plane.api_client(), PREFIXES, lookup_timeout=5)
    cache.relist()
    apply(control_plane, namespace, serviceaccount("late", {f"{PREFIX}/audience": "late"}))
    found = asyncio.run(cache.lookup(namespace, "late"))
    assert found.via == "direct"
    assert found.serviceaccount is not None
    assert dict(found.serviceaccount.annotations) == {f"{PREFIX}/audience": "late"}
    assert asyncio.run(cache.lookup(namespace, "late")).via == "cache"  # kept after the GET
    missing = asyncio.run(cache.lookup(namespace, "never-created"))
    assert missing.via == "missing" and missing.serviceaccount is None


def test_stale_cache_rereads_and_forgets_a_deleted_serviceaccount(
    control_plane: ControlPlane, namespace: str
):
    cache = ClusterCache(control_plane.api_client(), PREFIXES, lookup_timeout=5, max_stale=0)
    apply(control_plane, namespace, serviceaccount("gone-soon", {f"{PREFIX}/audience": "x"}))
    cache.relist()
    assert cache.get(namespace, "gone-soon") is not None
    control_plane.kubectl("delete", "serviceaccount", "gone-soon", "-n", namespace)
    cache._broken_since = 0.0  # as if the watch had been failing since long ago (no watch runs here)
    missing = asyncio.run(cache.lookup(namespace, "gone-soon"))
    assert missing.via == "missing" and cache.get(namespace, "gone-soon") is None
