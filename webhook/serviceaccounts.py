"""Where the server's ServiceAccounts come from: a static file (offline) or a watch cache of the cluster.

Both answer `lookup(namespace, name)` without blocking the event loop and say when they are `synced`.
The cluster cache keeps only what the dialects read (name, namespace, resourceVersion, annotations under our
prefixes) so 100,000 ServiceAccounts stay small, and on a miss asks the apiserver directly with a short
deadline: a pod often arrives right after its ServiceAccount.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import random
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from webhook.dialects import annotation_prefixes as annotation_prefixes  # the shells import it here
from webhook.documents import load_serviceaccounts
from webhook.errors import UserError
from webhook.vocabulary import ServiceAccountInfo, serviceaccount_view

log = logging.getLogger("webhook.serviceaccounts")

Key = tuple[str, str]


class SourceUnavailable(RuntimeError):
    """The ServiceAccount could not be looked up (apiserver unreachable, deadline passed)."""


@dataclass(frozen=True, slots=True)
class Lookup:
    serviceaccount: ServiceAccountInfo | None
    via: str  # "cache", "direct" or "missing"


class Hooks(Protocol):
    def cache_miss(self) -> None: ...
    def direct_lookup(self, result: str) -> None: ...
    def relisted(self) -> None: ...


class _NoHooks:
    def cache_miss(self) -> None:
        pass

    def direct_lookup(self, result: str) -> None:
        pass

    def relisted(self) -> None:
        pass


class Source(Protocol):
    @property
    def synced(self) -> bool: ...
    def __len__(self) -> int: ...
    async def lookup(self, namespace: str, name: str) -> Lookup: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


def slim(obj: Mapping[str, Any], prefixes: tuple[str, ...]) -> ServiceAccountInfo | None:
    """Reduce a ServiceAccount (JSON dict) to what the dialects read; None if it has no name."""
    return serviceaccount_view(obj, prefixes, intern=sys.intern)


# --------------------------------------------------------------------------------------------- static file


class StaticFileSource:
    """ServiceAccounts from YAML/JSON documents in a file, reloaded when its content changes."""

    def __init__(
        self,
        path: Path,
        poll_interval: float = 1.0,
        hooks: Hooks | None = None,
    ) -> None:
        self.path = path
        self._poll_interval = poll_interval
        self._hooks = hooks or _NoHooks()
        self._store: dict[Key, ServiceAccountInfo] = {}
        self._signature: bytes | None = None
        self._synced = False
        self._task: asyncio.Task[None] | None = None
        self.reload()  # fail fast on a bad file: the caller turns the error into a one-line message

    @property
    def synced(self) -> bool:
        return self._synced

    def __len__(self) -> int:
        return len(self._store)

    def reload(self) -> bool:
        """Load the file if its content changed; True if it was (re)loaded. Errors propagate."""
        content = self.path.read_bytes()
        if content == self._signature:
            return False
        store = load_serviceaccounts([self.path])
        self._store = dict(store)
        self._signature = content
        self._synced = True
        return True

    async def lookup(self, namespace: str, name: str) -> Lookup:
        sa = self._store.get((namespace, name))
        if sa is None:
            self._hooks.cache_miss()
            return Lookup(None, "missing")
        return Lookup(sa, "cache")

    async def start(self) -> None:
        self._task = asyncio.create_task(self._watch_file(), name="serviceaccounts-file")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _watch_file(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self._poll_interval)
            try:
                if await asyncio.to_thread(self.reload):
                    log.info("reloaded ServiceAccounts", extra={"path": str(self.path), "count": len(self)})
                failing = False
            except Exception as exc:  # keep serving the last good content
                if not failing:
                    log.error(
                        "cannot reload ServiceAccounts; keeping the previous ones",
                        extra={
                            "path": str(self.path),
                            "error": str(exc).splitlines()[0] if str(exc) else repr(exc),
                        },
                    )
                failing = True


# ------------------------------------------------------------------------------------------- cluster cache


def api_client(kubeconfig: Path | None = None, context: str | None = None) -> Any:
    """An ApiClient from a kubeconfig file, else from the in-cluster service account."""
    from kubernetes import client, config

    if kubeconfig is not None:
        if not kubeconfig.exists():  # the client would say "Invalid kube-config file"
            raise UserError(f"--kubeconfig {kubeconfig}: no such file")
        return config.new_client_from_config(config_file=str(kubeconfig), context=context)
    configuration = client.Configuration()
    config.load_incluster_config(client_configuration=configuration)
    return client.ApiClient(configuration)


class ServiceAccountAPI:
    """The two ServiceAccount requests the cache makes (list/watch all, read one), sent through the official
    ApiClient's own request path (auth, TLS, proxy, exec credentials), returning the raw response.

    Not CoreV1Api: importing it builds ~250 pydantic model modules (~21 MiB of RSS) that the cache never
    uses, since it parses the JSON itself. Non-2xx answers raise ApiException, as CoreV1Api's do.
    """

    def __init__(self, api: Any) -> None:
        self._api = api

    def _get(self, path: str, query: list[tuple[str, Any]], timeout: Any) -> Any:
        from kubernetes.client.exceptions import ApiException

        request = self._api.param_serialize(
            method="GET",
            resource_path=path,
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        response = self._api.call_api(*request, _request_timeout=timeout)
        if not 200 <= response.status <= 299:
            response.read()
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        return response.response

    def list_service_account_for_all_namespaces(
        self,
        *,
        limit: int | None = None,
        _continue: str | None = None,
        resource_version: str | None = None,
        allow_watch_bookmarks: bool | None = None,
        timeout_seconds: int | None = None,
        watch: bool | None = None,
        _preload_content: bool = False,
        _request_timeout: Any = None,
    ) -> Any:
        """`watch` and `_preload_content` are what kubernetes.watch.Watch passes (it finds them by name)."""
        names = {
            "limit": limit,
            "continue": _continue,
            "resourceVersion": resource_version,
            "allowWatchBookmarks": allow_watch_bookmarks,
            "timeoutSeconds": timeout_seconds,
            "watch": watch,
        }
        query = [(key, value) for key, value in names.items() if value is not None]
        return self._get("/api/v1/serviceaccounts", query, _request_timeout)

    def read_namespaced_service_account(
        self, name: str, namespace: str, *, _preload_content: bool = False, _request_timeout: Any = None
    ) -> Any:
        path = f"/api/v1/namespaces/{quote(namespace, safe='')}/serviceaccounts/{quote(name, safe='')}"
        return self._get(path, [], _request_timeout)


class ClusterCache:
    """A watch cache of every ServiceAccount in the cluster (list, then watch; relist on errors and 410).

    The watch loop runs in a daemon thread (the official client is synchronous); lookups read the store
    from the event loop (dict reads are atomic) and on a miss do a direct GET in a small thread pool.
    """

    def __init__(
        self,
        api: Any,
        prefixes: tuple[str, ...],
        *,
        hooks: Hooks | None = None,
        lookup_timeout: float = 2.0,
        page_size: int = 500,
        watch_timeout: int = 300,
        max_backoff: float = 30.0,
        max_stale: float = 60.0,
    ) -> None:
        self._core = ServiceAccountAPI(api)
        self._prefixes = prefixes
        self._hooks = hooks or _NoHooks()
        self.lookup_timeout = lookup_timeout
        self._page_size = page_size
        self._watch_timeout = watch_timeout
        self._max_backoff = max_backoff
        # Once list/watch has failed for max_stale seconds, cached entries are re-read with a direct GET.
        self.max_stale = max_stale
        self._broken_since: float | None = None
        self._store: dict[Key, ServiceAccountInfo] = {}
        self._resource_version = ""
        self._synced = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._watch: Any = None
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sa-lookup")
        self._inflight: dict[Key, asyncio.Future[Lookup]] = {}

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    def __len__(self) -> int:
        return len(self._store)

    def get(self, namespace: str, name: str) -> ServiceAccountInfo | None:
        return self._store.get((namespace, name))

    @property
    def stale(self) -> bool:
        """True while list/watch has been failing for longer than max_stale: the store may hide deletions."""
        broken = self._broken_since
        return broken is not None and time.monotonic() - broken > self.max_stale

    # -- lifecycle

    async def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="serviceaccount-watch", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stopping.set()
        watch = self._watch
        if watch is not None:
            watch.stop()
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 2.0)

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    # -- the list/watch loop (thread)

    def run(self) -> None:
        backoff = 0.5
        need_list = True
        while not self._stopping.is_set():
            try:
                if need_list:
                    self.relist()
                    need_list = False
                self.watch_once()
                backoff = 0.5  # a watch that ended normally (server timeout): resume from the last version
            except Exception as exc:
                if self._stopping.is_set():
                    return
                status = getattr(exc, "status", None)
                need_list = True  # on 410 Gone and on any error, rebuild from a fresh list
                if self._broken_since is None and status != 410:
                    self._broken_since = time.monotonic()
                if status == 410:
                    log.info("watch expired (410 Gone); relisting ServiceAccounts")
                    continue
                log.warning(
                    "ServiceAccount list/watch failed; relisting after backoff",
                    extra={"error": _one_line(exc), "backoff_s": round(backoff, 2)},
                )
                self._stopping.wait(backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, self._max_backoff)

    def relist(self) -> None:
        """List every ServiceAccount page by page, then swap the store (deletions missed meanwhile vanish)."""
        store: dict[Key, ServiceAccountInfo] = {}
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "limit": self._page_size,
                "_preload_content": False,
                "_request_timeout": 60,
            }
            if token:
                kwargs["_continue"] = token
            # _preload_content=False: the raw urllib3 response, parsed here (no model objects).
            resp: Any = self._core.list_service_account_for_all_namespaces(**kwargs)
            page = json.loads(resp.data)
            resource_version = self.apply_page(store, page)
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                break
        self._store = store
        self._resource_version = resource_version
        del page, store
        self._broken_since = None
        # Long-lived from here on: keep the cyclic GC from walking 100,000 entries in a request's path.
        gc.collect()
        gc.freeze()
        self._synced.set()
        self._hooks.relisted()
        log.info(
            "listed ServiceAccounts", extra={"count": len(self._store), "resource_version": resource_version}
        )

    def apply_page(self, store: dict[Key, ServiceAccountInfo], page: Mapping[str, Any]) -> str:
        """Add one list page's items to `store`; return the list's resourceVersion."""
        for item in page.get("items") or ():
            sa = slim(item, self._prefixes)
            if sa is not None:
                store[(sa.namespace, sa.name)] = sa
        return str((page.get("metadata") or {}).get("resourceVersion") or "")

    def watch_once(self) -> None:
        """Follow one watch from the last resourceVersion until the server ends it; raise on errors."""
        from kubernetes import watch

        # return_type "object": events stay plain dicts (no model types to find or build).
        self._watch = w = watch.Watch(return_type="object")
        try:
            for event in w.stream(
                self._core.list_service_account_for_all_namespaces,
                resource_version=self._resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=max(1, round(self._watch_timeout * (0.9 + 0.2 * random.random()))),
                _request_timeout=self._watch_timeout + 60,
            ):
                if self._stopping.is_set():
                    return
                self.apply_event(event)
        finally:
            self._watch = None

    def apply_event(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        # The client keeps the undecoded object in raw_object; the slim copy is made from that.
        obj = event.get("raw_object")
        if not isinstance(obj, Mapping):
            obj = event.get("object")
        if not isinstance(obj, Mapping):
            return
        metadata = obj.get("metadata") or {}
        if kind == "ERROR":
            from kubernetes.client.rest import ApiException

            raise ApiException(status=obj.get("code"), reason=obj.get("message") or "watch error")
        if metadata.get("resourceVersion"):
            self._resource_version = str(metadata["resourceVersion"])
        if kind == "BOOKMARK":
            return
        sa = slim(obj, self._prefixes)
        if sa is None:
            return
        if kind == "DELETED":
            self._store.pop((sa.namespace, sa.name), None)
        elif kind in ("ADDED", "MODIFIED"):
            self._store[(sa.namespace, sa.name)] = sa

    # -- lookups (event loop)

    async def lookup(self, namespace: str, name: str) -> Lookup:
        sa = self._store.get((namespace, name))
        stale = self.stale
        if sa is not None and not stale:
            return Lookup(sa, "cache")
        self._hooks.cache_miss()
        key = (namespace, name)
        pending = self._inflight.get(key)
        if pending is None:  # one GET per missing name, however many pods wait for it
            pending = asyncio.ensure_future(self._direct(namespace, name, refresh=stale))
            self._inflight[key] = pending
            pending.add_done_callback(lambda _: self._inflight.pop(key, None))
        return await asyncio.shield(pending)

    async def _direct(self, namespace: str, name: str, refresh: bool = False) -> Lookup:
        loop = asyncio.get_running_loop()
        try:
            sa = await asyncio.wait_for(
                loop.run_in_executor(self._executor, self._get, namespace, name), self.lookup_timeout + 0.25
            )
        except Exception as exc:
            self._hooks.direct_lookup("error")
            raise SourceUnavailable(
                f"ServiceAccount {namespace}/{name}: lookup failed: {_one_line(exc)}"
            ) from exc
        self._hooks.direct_lookup("found" if sa else "not_found")
        key = (namespace, name)
        if sa is None:
            if refresh:
                self._store.pop(key, None)  # deleted while the watch was down
            return Lookup(None, "missing")
        if refresh or key not in self._store:
            self._store[key] = sa
        return Lookup(sa, "direct")

    def _get(self, namespace: str, name: str) -> ServiceAccountInfo | None:
        from kubernetes.client.rest import ApiException

        try:
            resp: Any = self._core.read_namespaced_service_account(
                name, namespace, _preload_content=False, _request_timeout=self.lookup_timeout
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return slim(json.loads(resp.data), self._prefixes)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
