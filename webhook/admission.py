"""AdmissionReview v1 in and out: parse and validate a review, build allow / patch / deny responses.

Pure data handling, no I/O: the server decides, this module speaks the kube-apiserver's wire format.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_BODY_BYTES = 3 * 1024 * 1024  # the kube-apiserver's own request body limit
API_VERSIONS = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")
# The apiserver truncates each warning at 120 characters and drops all of them past 4096 in total.
WARNING_MAX_CHARS = 120
WARNINGS_MAX_TOTAL = 4096
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class ReviewError(ValueError):
    """The request is not an AdmissionReview we can answer; `status` is the HTTP status to send."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class AdmissionRequest:
    api_version: str
    uid: str
    kind: str
    group: str
    sub_resource: str
    operation: str
    namespace: str
    name: str
    dry_run: bool
    object: Any

    @property
    def is_pod(self) -> bool:
        return self.kind == "Pod" and self.group == "" and not self.sub_resource


def _type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


def parse_review(body: bytes) -> AdmissionRequest:
    """Decode an AdmissionReview; raise ReviewError (400) naming the first thing that is wrong."""
    try:
        review = json.loads(body, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ReviewError(f"body is not valid JSON: {exc}") from None
    if not isinstance(review, dict):
        raise ReviewError(f"AdmissionReview must be a JSON object, got {_type_name(review)}")
    api_version = review.get("apiVersion")
    if api_version not in API_VERSIONS:
        raise ReviewError(f"apiVersion must be admission.k8s.io/v1, got {api_version!r}")
    if review.get("kind") != "AdmissionReview":
        raise ReviewError(f"kind must be AdmissionReview, got {review.get('kind')!r}")
    request = review.get("request")
    if not isinstance(request, dict):
        raise ReviewError("AdmissionReview has no request object")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        raise ReviewError("request.uid is missing or not a non-empty string")
    kind = request.get("kind")
    kind = kind if isinstance(kind, dict) else {}
    return AdmissionRequest(
        api_version=api_version,
        uid=uid,
        kind=_str(kind.get("kind")),
        group=_str(kind.get("group")),
        sub_resource=_str(request.get("subResource")),
        operation=_str(request.get("operation")),
        namespace=_str(request.get("namespace")),
        name=_str(request.get("name")),
        dry_run=request.get("dryRun") is True,
        object=request.get("object"),
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python accepts NaN/Infinity; the apiserver never sends them


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _check_list_of_objects(where: str, value: Any, problems: list[str], names: bool = True) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(f"{where} must be an array, got {_type_name(value)}")
        return []
    items = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            problems.append(f"{where}[{i}] must be an object, got {_type_name(item)}")
            continue
        if names and not isinstance(item.get("name"), str):
            problems.append(f"{where}[{i}].name must be a string")
            continue
        items.append(item)
    return items


def _check_string_map(where: str, value: Any, problems: list[str]) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        problems.append(f"{where} must be an object, got {_type_name(value)}")
        return
    bad = [k for k, v in value.items() if not isinstance(v, str)]
    if bad:
        problems.append(f"{where}[{bad[0]!r}] must be a string, got {_type_name(value[bad[0]])}")


def pod_shape_problems(pod: Any) -> list[str]:
    """Type errors in the parts of a pod the mutation reads: such a pod is denied, never a crash."""
    if not isinstance(pod, dict):
        return [f"request.object must be a Pod object, got {_type_name(pod)}"]
    problems: list[str] = []
    metadata = pod.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        problems.append(f"metadata must be an object, got {_type_name(metadata)}")
    elif metadata:
        _check_string_map("metadata.annotations", metadata.get("annotations"), problems)
        _check_string_map("metadata.labels", metadata.get("labels"), problems)
        for key in ("name", "generateName", "namespace"):
            if metadata.get(key) is not None and not isinstance(metadata.get(key), str):
                problems.append(f"metadata.{key} must be a string")
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        problems.append(f"spec must be an object, got {_type_name(spec)}")
        return problems
    for key in ("serviceAccountName", "serviceAccount"):
        if spec.get(key) is not None and not isinstance(spec.get(key), str):
            problems.append(f"spec.{key} must be a string")
    _check_string_map("spec.nodeSelector", spec.get("nodeSelector"), problems)
    os_ = spec.get("os")
    if os_ is not None and not (isinstance(os_, dict) and isinstance(os_.get("name", ""), str)):
        problems.append("spec.os must be an object with a string name")
    for volume in _check_list_of_objects("spec.volumes", spec.get("volumes"), problems):
        projected = volume.get("projected")
        if projected is None:
            continue
        where = f"spec.volumes[{volume['name']!r}].projected"
        if not isinstance(projected, dict):
            problems.append(f"{where} must be an object")
            continue
        for source in _check_list_of_objects(f"{where}.sources", projected.get("sources"), problems, False):
            token = source.get("serviceAccountToken")
            if token is not None and not isinstance(token, dict):
                problems.append(f"{where}.sources[].serviceAccountToken must be an object")
    if spec.get("containers") is None:
        problems.append("spec.containers is missing")
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in _check_list_of_objects(f"spec.{field}", spec.get(field), problems):
            where = f"spec.{field}[{container['name']!r}]"
            for env in _check_list_of_objects(f"{where}.env", container.get("env"), problems):
                if "value" in env and env["value"] is not None and not isinstance(env["value"], str):
                    problems.append(f"{where}.env[{env['name']!r}].value must be a string")
            for mount in _check_list_of_objects(
                f"{where}.volumeMounts", container.get("volumeMounts"), problems
            ):
                if not isinstance(mount.get("mountPath"), str):
                    problems.append(f"{where}.volumeMounts[{mount['name']!r}].mountPath must be a string")
            if container.get("restartPolicy") is not None and not isinstance(container["restartPolicy"], str):
                problems.append(f"{where}.restartPolicy must be a string")
    return problems


def trim_warnings(warnings: Iterable[str]) -> list[str]:
    """Keep warnings within what the apiserver passes on: one line each, <= 120 chars, <= 4096 in total."""
    out: list[str] = []
    total = 0
    for warning in dict.fromkeys(warnings):  # drop exact duplicates, keep order
        text = _CONTROL.sub(" ", str(warning)).strip()
        if not text:
            continue
        if len(text) > WARNING_MAX_CHARS:
            text = text[: WARNING_MAX_CHARS - 3].rstrip() + "..."
        if total + len(text) > WARNINGS_MAX_TOTAL:
            break
        out.append(text)
        total += len(text)
    return out


def encode_patch(patch: Sequence[Mapping[str, Any]]) -> str:
    return base64.b64encode(json.dumps(list(patch), separators=(",", ":")).encode()).decode()


def _review(request: AdmissionRequest, response: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": request.api_version, "kind": "AdmissionReview", "response": response}


def allow(
    request: AdmissionRequest,
    patch: Sequence[Mapping[str, Any]] = (),
    warnings: Iterable[str] = (),
) -> dict[str, Any]:
    """An allowing review; the JSONPatch (base64) is attached only when it has operations."""
    response: dict[str, Any] = {"uid": request.uid, "allowed": True}
    if patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = encode_patch(patch)
    trimmed = trim_warnings(warnings)
    if trimmed:
        response["warnings"] = trimmed
    return _review(request, response)


def deny(request: AdmissionRequest, problems: Sequence[str], warnings: Iterable[str] = ()) -> dict[str, Any]:
    """A denial naming every problem (status.message joins them with '; ')."""
    message = "; ".join(p.strip() for p in problems if p.strip()) or "denied"
    response: dict[str, Any] = {
        "uid": request.uid,
        "allowed": False,
        "status": {
            "status": "Failure",
            "code": 400,
            "reason": "BadRequest",
            "message": message,
        },
    }
    trimmed = trim_warnings(warnings)
    if trimmed:
        response["warnings"] = trimmed
    return _review(request, response)


def dumps(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
