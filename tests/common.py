"""Objects and helpers every test folder uses: paths, the `webhook` console script, Pod and ServiceAccount
builders, and readers of a pod's containers."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# Third-party manifests beside the worktree (never copied into the repo); tests skip when it is absent.
FIXTURES = REPO / ".." / "shared" / "fixtures"
# The console script of the venv running the tests: the same entry point users run.
WEBHOOK_BIN = Path(sys.executable).with_name("webhook")


def pod(
    *containers: Mapping[str, Any],
    name: str | None = "p",
    namespace: str | None = "default",
    serviceaccount: str | None = "app",
    annotations: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    generate_name: str | None = None,
    init: Sequence[Mapping[str, Any]] = (),
    **spec: Any,
) -> dict[str, Any]:
    """A Pod as the kube-apiserver sends it to a webhook (serviceAccountName filled in); a None field is left
    out, as in a pod a ReplicaSet creates (generateName, no name, no namespace)."""
    meta: dict[str, Any] = {}
    if generate_name is not None:
        meta["generateName"] = generate_name
    if name is not None:
        meta["name"] = name
    if namespace is not None:
        meta["namespace"] = namespace
    if annotations is not None:
        meta["annotations"] = dict(annotations)
    if labels is not None:
        meta["labels"] = dict(labels)
    body: dict[str, Any] = {}
    if serviceaccount is not None:
        body["serviceAccountName"] = serviceaccount
    body["containers"] = [dict(c) for c in containers] or [{"name": "app", "image": "busybox"}]
    body.update(spec)
    if init:
        body["initContainers"] = [dict(c) for c in init]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": body}


def serviceaccount(
    name: str, annotations: Mapping[str, str] | None = None, *, namespace: str | None = None, **metadata: Any
) -> dict[str, Any]:
    """A ServiceAccount object; extra keyword arguments are further metadata fields."""
    meta: dict[str, Any] = {"name": name, **metadata}
    if namespace is not None:
        meta["namespace"] = namespace
    if annotations is not None:
        meta["annotations"] = dict(annotations)
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}


def containers(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A pod's init containers, then its containers."""
    spec = obj["spec"]
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def container(obj: Mapping[str, Any], name: str) -> dict[str, Any]:
    for c in containers(obj):
        if c["name"] == name:
            return c
    raise KeyError(name)


def env_of(obj: Mapping[str, Any], name: str) -> list[tuple[str, str]]:
    """(name, value) of container `name`'s env, in order (duplicates kept: a test may look for them)."""
    return [(e["name"], e.get("value")) for e in container(obj, name).get("env") or []]


def mounts_of(obj: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    return list(container(obj, name).get("volumeMounts") or [])


def json_documents_handler(
    documents: Mapping[str, object], missing: bytes, seen: list[tuple[str, str | None]] | None = None
) -> type[BaseHTTPRequestHandler]:
    """A quiet request handler for loopback stand-ins (an issuer, a bucket, an apiserver): GET answers
    documents[path] as JSON with 200, else `missing` with 404; `seen` collects (path, Authorization)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if seen is not None:
                seen.append((self.path, self.headers.get("Authorization")))
            doc = documents.get(self.path)
            body = json.dumps(doc).encode() if doc is not None else missing
            self.send_response(200 if doc is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler
