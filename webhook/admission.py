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

import orjson

from webhook.compactjson import encode
from webhook.jsonwalk import DEEPER, HAS_FLOAT, walk

MAX_BODY_BYTES = 3 * 1024 * 1024  # the kube-apiserver's own request body limit
API_VERSIONS = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")
# The apiserver truncates each warning at 120 characters and drops all of them past 4096 in total.
WARNING_MAX_CHARS = 120
WARNINGS_MAX_TOTAL = 4096
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
# A Pod nests about 15 levels (its managedFields twice that); Python's json gives up near 1,000.
MAX_DEPTH = 100
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class ReviewError(ValueError):
    """The request is not an AdmissionReview we can answer; `status` is the HTTP status to send."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ sets each field through object.__setattr__
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
    review = _decode(body)
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


def _decode(body: bytes) -> Any:
    """The review's JSON through orjson (about half the stdlib's cost, with the walk), or exactly as the
    stdlib reads it whenever the two could differ: orjson refuses what the stdlib accepts or says it another
    way (any error), or reads a float (or an integer past 64 bits, as a float)."""
    try:
        review = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _decode_exactly(body)
    found = walk(review, MAX_DEPTH)
    if found == DEEPER:
        raise ReviewError(f"body is not valid JSON: nested deeper than {MAX_DEPTH} levels")
    if found == HAS_FLOAT:
        return _decode_exactly(body)
    return review


def _decode_exactly(body: bytes) -> Any:
    try:
        text = body.decode()  # JSON between systems is UTF-8 (RFC 8259); this also refuses encoded surrogates
    except UnicodeDecodeError as exc:
        raise ReviewError(f"body is not valid JSON: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        if text.startswith("\ufeff"):  # as json.loads says it
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        review = _DECODER.decode(text)
    except RecursionError:
        raise ReviewError(f"body is not valid JSON: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise ReviewError(f"body is not valid JSON: {exc}") from None
    # The apiserver never sends either; both would fail later, in the core or in the answer (HTTP 500).
    if text.count("{") + text.count("[") > MAX_DEPTH and _deeper_than(review, MAX_DEPTH):
        raise ReviewError(f"body is not valid JSON: nested deeper than {MAX_DEPTH} levels")
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(review):
        raise ReviewError("body is not valid JSON: a string holds a lone UTF-16 surrogate (\\ud800-\\udfff)")
    return review


def _deeper_than(document: Any, limit: int) -> bool:
    stack = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _has_lone_surrogate(document: Any) -> bool:
    try:
        json.dumps(document, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    return False


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python accepts NaN/Infinity; the apiserver never sends them


# Built once: json.loads and json.dumps with options build a new decoder or encoder on every call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_PATCH_ENCODER = json.JSONEncoder(separators=(",", ":"))
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


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
    operations = list(patch)
    raw = encode(operations, ascii_only=True)
    if raw is None:
        raw = _PATCH_ENCODER.encode(operations).encode()
    return base64.b64encode(raw).decode()


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


# A denial's status.message: the apiserver puts it in the user's error and in events; thousands of problems
# (20,000 bad keys) must not make a megabyte answer. Each problem is cut to PROBLEM_MAX_CHARS (its middle
# dropped: a 5,000-digit value), and whole problems are kept while the message stays within
# MESSAGE_MAX_CHARS, then "... and N more".
MESSAGE_MAX_CHARS = 4096
PROBLEM_MAX_CHARS = 1024


def denial_message(problems: Iterable[str]) -> str:
    """The problems joined with '; ', bounded as said at MESSAGE_MAX_CHARS."""
    parts = [p.strip() for p in problems if p.strip()]
    kept: list[str] = []
    total = 0
    for index, part in enumerate(parts):
        if len(part) > PROBLEM_MAX_CHARS:  # cut in the middle: the head names the field, the tail the fix
            part = part[: PROBLEM_MAX_CHARS * 3 // 4] + " ... " + part[-(PROBLEM_MAX_CHARS // 4 - 5) :]
        more = len(parts) - index - 1
        tail = len(f"; ... and {more} more problem(s)") if more else 0
        if kept and total + 2 + len(part) + tail > MESSAGE_MAX_CHARS:
            kept.append(f"... and {len(parts) - index} more problem(s)")
            break
        kept.append(part)
        total += len(part) + (2 if total else 0)
    return "; ".join(kept) or "denied"


def deny(request: AdmissionRequest, problems: Sequence[str], warnings: Iterable[str] = ()) -> dict[str, Any]:
    """A denial naming every problem (status.message joins them with '; ', within MESSAGE_MAX_CHARS)."""
    message = denial_message(problems)
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
    raw = encode(document, ascii_only=False)
    return raw if raw is not None else _ENCODER.encode(document).encode()
