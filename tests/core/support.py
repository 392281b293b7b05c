"""Helpers for the core tests: run mutate_pod, apply its patch with jsonpatch, validate, check idempotency."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

import jsonpatch
import kubernetes_validate

from webhook.mutate import Outcome, mutate_pod
from webhook.settings import CoreSettings
from webhook.vocabulary import ServiceAccountInfo

KUBE_VERSION = "1.34"
DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")


def sa(annotations: Mapping[str, str] | None = None, name: str = "app", namespace: str = "default"):
    return ServiceAccountInfo(namespace=namespace, name=name, annotations=dict(annotations or {}))


def check_pod_rules(obj: Mapping[str, Any]) -> None:
    """The pod validation rules the OpenAPI schema does not carry (volumes, mounts, env, token sources)."""
    spec = obj["spec"]
    names = [v["name"] for v in spec.get("volumes") or []]
    assert len(names) == len(set(names)), f"duplicate volume names {names}"
    for volume in spec.get("volumes") or []:
        assert len(volume["name"]) <= 63 and DNS1123_LABEL.fullmatch(volume["name"]), volume["name"]
        sources = (volume.get("projected") or {}).get("sources") or []
        paths = [s["serviceAccountToken"]["path"] for s in sources if "serviceAccountToken" in s]
        assert len(paths) == len(set(paths)), f"duplicate token paths in {volume['name']}"
        for source in sources:
            token = source.get("serviceAccountToken")
            if token:
                assert 600 <= token.get("expirationSeconds", 3600) <= 2**32
                assert not token["path"].startswith("/") and ".." not in token["path"].split("/")
    containers = [*(spec.get("initContainers") or []), *spec["containers"]]
    for container in containers:
        paths = [m["mountPath"] for m in container.get("volumeMounts") or []]
        assert len(paths) == len(set(paths)), f"{container['name']}: duplicate mount paths {paths}"
        for mount in container.get("volumeMounts") or []:
            assert mount["name"] in names, f"{container['name']} mounts unknown volume {mount['name']}"
        for env in container.get("env") or []:
            assert ENV_NAME.fullmatch(env["name"]), env["name"]


def validate(obj: Mapping[str, Any]) -> None:
    """Validate against the real Kubernetes OpenAPI schema (strict: unknown fields fail) and pod rules."""
    if obj.get("kind") == "List":  # no schema for List itself: validate what it holds
        for item in obj["items"]:
            validate(item)
        return
    kubernetes_validate.validate(dict(obj), KUBE_VERSION, strict=True)
    if obj.get("kind") == "Pod":
        check_pod_rules(obj)


def run(
    obj: Mapping[str, Any],
    serviceaccount: ServiceAccountInfo | None,
    settings: CoreSettings | None = None,
    *,
    valid: bool = True,
) -> tuple[Outcome, dict[str, Any]]:
    """mutate_pod, then: the input is untouched, the patch applies with jsonpatch, the result validates, and
    a second pass over the result is empty."""
    settings = settings or CoreSettings()
    before = copy.deepcopy(obj)
    outcome = mutate_pod(obj, serviceaccount, settings)
    assert obj == before, "mutate_pod must not modify its input"
    if outcome.errors:
        assert outcome.patch == []
        return outcome, copy.deepcopy(dict(obj))
    result = jsonpatch.apply_patch(copy.deepcopy(dict(obj)), outcome.patch)
    if valid:
        validate(result)
    again = mutate_pod(result, serviceaccount, settings)
    assert again.patch == [], f"second pass not empty: {again.patch}"
    assert again.errors == []
    for warning in outcome.warnings:
        assert len(warning) < 160, warning
    return outcome, result


def volume(result: Mapping[str, Any], name: str) -> dict[str, Any]:
    for v in result["spec"].get("volumes") or []:
        if v["name"] == name:
            return v
    raise KeyError(name)
