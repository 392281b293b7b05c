"""Property-based fuzzing of /mutate over real HTTPS: generated reviews, then damaged ones.

Whatever arrives, the answer is a clear 400 JSON error (the review itself is unreadable) or a well-formed
AdmissionReview: uid echoed, a denial with code 400 and a message, or an allowance whose patch applies to the
object and, applied, yields a pod the next pass leaves alone. Never a 5xx, never a hang.
FUZZ_EXAMPLES scales the run (default 10,000); FUZZ_RANDOM=1 draws new examples instead of the fixed seed.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonpatch
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server.support import ServeProcess, review, start_serve_process

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10000"))
P = "projected-token.io/"
FIELDS = ["audience", "expiration-seconds", "mount-path", "path", "env"]
TOKEN_NAMES = ["", "db", "vault-2", "Bad_Name", "a" * 64, "x.y"]

text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
values = st.one_of(
    st.sampled_from(
        [
            "vault",
            "sts.amazonaws.com",
            "600",
            "3600",
            "599",
            "4294967297",
            "abc",
            "",
            "/var/run/secrets/tokens",
            "/data",
            "relative/dir",
            "token",
            "../up",
            "a/../b",
            "TOKEN_FILE",
            "1BAD",
            "false",
            "true",
            "app,side",
            "/var/run/secrets/kubernetes.io/serviceaccount",
            "C:\\x",
            "arn:aws:iam::111122223333:role/r",
        ]
    ),
    text,
)


@st.composite
def annotation_key(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(TOKEN_NAMES))
    field = draw(st.sampled_from([*FIELDS, "bogus"]))
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return P + draw(st.sampled_from(["inject", "skip-containers"]))
    if choice == 1:
        return "eks.amazonaws.com/" + draw(
            st.sampled_from(["role-arn", "audience", "token-expiration", "skip-containers"])
        )
    if choice == 2:
        return draw(text)
    return P + (f"{name}.{field}" if name else field)


names = st.sampled_from(["app", "sidecar", "init", "app", "debug"])
mount_paths = st.sampled_from(
    ["/var/run/secrets/tokens", "/data", "/var/run/secrets/tokens/", "/x", "/var/run/secrets"]
)
env_names = st.sampled_from(["TOKEN_FILE", "DB_TOKEN_FILE", "PATH", "AWS_ROLE_ARN", "X"])
volume_names = st.sampled_from(
    ["data", "ptw-var-run-secrets-tokens", "aws-iam-token", "kube-api-access-abcde", "v"]
)


env_entries = st.builds(
    lambda name, value: {"name": name, "value": value},
    env_names,
    st.sampled_from(["v", "", "/var/run/secrets/tokens/token"]),
)
mounts = st.builds(
    lambda name, path, ro: {"name": name, "mountPath": path, "readOnly": ro},
    volume_names,
    mount_paths,
    st.booleans(),
)
containers = st.fixed_dictionaries(
    {"name": names, "image": st.just("img")},
    optional={"env": st.lists(env_entries, max_size=3), "volumeMounts": st.lists(mounts, max_size=2)},
)
init_containers = st.fixed_dictionaries(
    {"name": names, "image": st.just("img")},
    optional={"restartPolicy": st.just("Always"), "volumeMounts": st.lists(mounts, max_size=2)},
)
volumes = st.sampled_from(
    [
        {"name": "data", "emptyDir": {}},
        {"name": "ptw-var-run-secrets-tokens", "emptyDir": {}},
        {"name": "v", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}},
        {"name": "kube-api-access-abcde", "projected": {"sources": []}},
    ]
)
specs = st.fixed_dictionaries(
    {"containers": st.lists(containers, max_size=3)},
    optional={
        "serviceAccountName": st.sampled_from(["vault", "default", "plain", "broken", "ghost"]),
        "initContainers": st.lists(init_containers, min_size=1, max_size=2),
        "volumes": st.lists(volumes, min_size=1, max_size=2),
        "nodeSelector": st.just({"kubernetes.io/os": "windows"}),
        "ephemeralContainers": st.lists(containers, min_size=1, max_size=1),
    },
)
metadatas = st.fixed_dictionaries(
    {},
    optional={
        "name": st.just("app"),
        "generateName": st.just("app-"),
        "annotations": st.dictionaries(annotation_key(), values, max_size=6),
    },
)
pods = st.builds(
    lambda metadata, spec: {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec},
    metadatas,
    specs,
)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=6,
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from paths(value, (*prefix, index))


@st.composite
def damaged(draw: st.DrawFn) -> dict[str, Any]:
    """A generated review with one to three subtrees replaced by random JSON or deleted."""
    body = review(draw(pods), namespace=draw(st.sampled_from(["default", "team-a", "kube-system", ""])))
    for _ in range(draw(st.integers(1, 3))):
        target = draw(st.sampled_from(list(paths(body))[1:]))
        parent = body
        for step in target[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[target[-1]]
        else:
            parent[target[-1]] = draw(json_values)
    return body


reviews = st.one_of(pods.map(review), damaged())


def check(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any] | None:
    response = client.post("/mutate?timeout=10s", json=body)
    assert response.status_code in (200, 400), (response.status_code, response.text)
    answer = response.json()
    if response.status_code == 400:
        assert isinstance(answer["error"], str) and answer["error"]
        return None
    result = answer["response"]
    assert answer["kind"] == "AdmissionReview"
    assert answer["apiVersion"] == body["apiVersion"]
    assert result["uid"] == body["request"]["uid"]
    warnings = result.get("warnings", [])
    assert all(isinstance(w, str) and 0 < len(w) <= 120 for w in warnings)
    assert sum(map(len, warnings)) <= 4096
    if not result["allowed"]:
        assert result["status"]["code"] == 400, result
        assert result["status"]["message"]
        assert "patch" not in result
        return None
    if "patch" not in result:
        assert "patchType" not in result
        return None
    assert result["patchType"] == "JSONPatch"
    ops = json.loads(base64.b64decode(result["patch"]))
    assert ops, "an empty patch must be left out"
    return jsonpatch.apply_patch(body["request"]["object"], ops)


@pytest.fixture(scope="module")
def serve_process(tmp_path_factory: pytest.TempPathFactory, sa_file: Path) -> Iterator[ServeProcess]:
    # A subprocess, so the server has its own interpreter (and core) while hypothesis generates.
    process = start_serve_process(tmp_path_factory.mktemp("fuzz"), "--serviceaccounts", str(sa_file))
    yield process
    process.stop()


@pytest.mark.timeout(max(600, EXAMPLES // 20))
def test_fuzzed_reviews_get_well_formed_answers(serve_process: ServeProcess) -> None:
    sent = []
    with serve_process.client() as client:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=not os.environ.get("FUZZ_RANDOM"),  # CI runs the same 10,000; FUZZ_RANDOM=1 explores
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(reviews)
        def fuzz(body: dict[str, Any]) -> None:
            sent.append(1)
            patched = check(client, body)
            if patched is not None:  # reinvocation: the mutated pod is left alone
                again = review(patched, namespace=body["request"].get("namespace"))
                again["request"]["kind"] = body["request"]["kind"]
                again["request"]["operation"] = body["request"]["operation"]
                assert check(client, again) is None, "a second pass changed the pod again"

        try:
            fuzz()
        finally:
            print(f"fuzz: {len(sent)} reviews sent")  # shown with the failure, or with -s
        text = client.get("/metrics").text
    assert len(sent) >= EXAMPLES, f"hypothesis generated only {len(sent)} reviews"
    assert 'outcome="error"' not in text
    assert (
        sum(
            float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith("webhook_admissions_total")
        )
        > 0
    )
