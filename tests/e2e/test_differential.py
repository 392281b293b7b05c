"""Issue 11's proof that `webhook render` is what the cluster does: generated cases through both shells.

The live server answers through the e2e kube-apiserver (so selectors and defaulting are the apiserver's own);
render reads the same text. Same pod or same denial text, case by case; see diff_harness for the method.

Fixed seed and DIFF_EXAMPLES (default 500) in CI. By hand: `DIFF_RANDOM=1 DIFF_EXAMPLES=2000 make test-diff`
(or DIFF_SEED=N to replay one run). DIFF_REPORT=FILE writes every divergent case (text and both results).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from tests.e2e.controlplane import ControlPlane
from tests.e2e.diff_cases import CLI_NAMESPACES, NAMESPACES, Case, cases
from tests.e2e.diff_harness import Batch, Stats, Verdict, run_all
from tests.e2e.support import token_sources
from tests.e2e.webhookserver import WebhookServer

pytestmark = pytest.mark.e2e
FIXED_SEED = 20261111
BATCH_SIZE = 125
PER_EXAMPLE = 50
# The test is only worth something if most cases reach a comparison and the webhook acts on many of them.
MAX_DROPPED_SHARE = 0.25
MIN_MUTATED_SHARE = 0.2


def generate(count: int, run_seed: int, run: str) -> list[Case]:
    """`count` cases drawn by hypothesis from one seed (generation only: the comparison runs in batches).

    Drawn PER_EXAMPLE at a time: hypothesis's cost is mostly per example, and bigger lists repeat less."""
    drawn: list[Case] = []
    numbers = itertools.count()

    @seed(run_seed)
    @settings(
        max_examples=-(-count // PER_EXAMPLE),
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(cases(run, numbers), min_size=PER_EXAMPLE, max_size=PER_EXAMPLE))
    def collect(some: list[Case]) -> None:
        drawn.extend(some)

    collect()
    return drawn[:count]


def batched(drawn: list[Case]) -> list[Batch]:
    """Batches of cases sharing a `-n`: a case without metadata.namespace gets one of CLI_NAMESPACES (kubectl
    refuses `-n` for a document naming another namespace, so cases with a namespace get none)."""
    groups: dict[str | None, list[Case]] = {}
    for case in drawn:
        cli = CLI_NAMESPACES[case.index % len(CLI_NAMESPACES)] if case.namespace is None else None
        case.cli_namespace = cli
        groups.setdefault(cli, []).append(case)
    return [
        Batch(group[i : i + BATCH_SIZE], cli)
        for cli, group in groups.items()
        for i in range(0, len(group), BATCH_SIZE)
    ]


@pytest.fixture(scope="module")
def diff_namespaces(control_plane: ControlPlane) -> Iterator[None]:
    """The namespaces the cases use, labelled as NAMESPACES says, each with its `default` ServiceAccount."""
    for name, labels in NAMESPACES.items():
        meta: dict = {"name": name, "labels": labels}
        control_plane.kubectl(
            "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": meta})
        )
        if control_plane.has_controller_manager:
            control_plane.kubectl(
                "wait", "--for=create", "serviceaccount/default", "-n", name, "--timeout=60s"
            )
        else:
            control_plane.kubectl("create", "serviceaccount", "default", "-n", name, check=False)
    yield
    # Leave kube-system and default; the others go (their ServiceAccounts with them).
    for name in NAMESPACES:
        if name.startswith("diff-"):
            control_plane.kubectl(
                "delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False
            )


def _report(stats: Stats, divergent: list[Verdict], path: Path) -> None:
    with path.open("w") as out:
        out.write(stats.summary() + "\n\n")
        for verdict in divergent:
            case = verdict.case
            where = f"namespace {case.namespace}, -n {case.cli_namespace}"
            about = f"{case.kind}, {where}, malformed: {case.malformed or '-'}"
            out.write(f"===== case {case.index} ({about})\n")
            out.write(f"{verdict.reason}\n{verdict.detail}\n--- render input (repr keeps CR/BOM visible)\n")
            out.write(case.render_file().replace("\r", "\\r").replace("\ufeff", "\\ufeff") + "\n")


def test_render_equals_the_cluster(
    control_plane: ControlPlane, webhook: WebhookServer, diff_namespaces: None, tmp_path: Path
) -> None:
    count = int(os.environ.get("DIFF_EXAMPLES", "500"))
    if os.environ.get("DIFF_SEED"):
        run_seed = int(os.environ["DIFF_SEED"])
    elif os.environ.get("DIFF_RANDOM"):
        run_seed = random.SystemRandom().randrange(2**32)
    else:
        run_seed = FIXED_SEED
    print(
        f"differential: seed {run_seed}, {count} cases (replay: DIFF_SEED={run_seed} DIFF_EXAMPLES={count})"
    )
    # A webhook that times out must show as a failure, not as a pod the apiserver let through unmutated.
    webhook.register(failurePolicy="Fail")
    config = tmp_path / "mutatingwebhookconfiguration.yaml"
    config.write_text(
        control_plane.kubectl("get", "mutatingwebhookconfiguration", webhook.name, "-o", "yaml").stdout
    )

    drawn = generate(count, run_seed, run=f"d{secrets.token_hex(2)}")
    batches = batched(drawn)
    try:
        stats = run_all(control_plane, batches, tmp_path / "work", webhook.settings_args, config)
    finally:
        webhook.register()
    divergent = [v for v in stats.verdicts if v.status == "divergent"]
    report = Path(os.environ.get("DIFF_REPORT") or tmp_path / "differential-report.txt")
    _report(stats, divergent, report)
    print(stats.summary())
    print(f"report: {report}")

    assert len(stats.verdicts) == len(drawn) == count
    compared = [v for v in stats.verdicts if v.status != "dropped"]
    assert len(stats.verdicts) - len(compared) <= MAX_DROPPED_SHARE * len(stats.verdicts), stats.summary()
    mutated = sum(1 for v in compared if v.server_pod is not None and token_sources(v.server_pod))
    assert mutated >= MIN_MUTATED_SHARE * len(compared), (
        f"only {mutated} pods were mutated:\n{stats.summary()}"
    )
    shown = "\n\n".join(f"case {v.case.index} ({v.case.kind}): {v.reason}\n{v.detail}" for v in divergent[:8])
    assert not divergent, f"{len(divergent)} divergent case(s); all in {report}\n{stats.summary()}\n\n{shown}"
