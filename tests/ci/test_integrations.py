"""The CI integrations of `webhook render`: the pre-commit hooks, the GitHub Action and the GitLab CI job.

Each command line is taken from its file as the CI system would take it (the hook's entry plus the file
names, the action's step script with its inputs as environment variables, the GitLab job's script with its
variables) and run against the fixtures here with this checkout's `webhook`; exit codes and output are
render's own.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

import webhook
from tests.common import REPO, WEBHOOK_BIN

FIXTURES = Path(__file__).parent / "fixtures"
CLEAN, MUTATED, DENIED, EKS = (FIXTURES / name for name in ("clean", "mutated", "denied", "eks"))
SCOPED = FIXTURES / "scoped-webhook-config.yaml"
# Runners put the installed console script on PATH; here it is this venv's.
PATH = f"{WEBHOOK_BIN.parent}{os.pathsep}{os.environ['PATH']}"


def added(diff: str, line: str) -> bool:
    """`line` is among the diff's added lines, at any indentation."""
    return any(d.startswith("+") and d[1:].strip() == line for d in diff.splitlines())


# --------------------------------------------------------------------------------------------- pre-commit


def _hooks() -> dict[str, dict[str, Any]]:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    return {hook["id"]: hook for hook in hooks}


def run_hook(hook_id: str, *files: Path, args: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """As pre-commit runs a hook: its entry, then the config's args, then the file names."""
    entry = shlex.split(_hooks()[hook_id]["entry"])
    assert entry[0] == "webhook", "the console script the hook's package installs"
    argv = [str(WEBHOOK_BIN), *entry[1:], *args, *(str(f) for f in files)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def test_hooks_are_well_formed() -> None:
    hooks = _hooks()
    assert set(hooks) == {"webhook-render", "webhook-render-check"}
    for hook in hooks.values():
        assert {"id", "name", "entry", "language"} <= set(hook)
        assert hook["language"] == "python" and hook["types_or"] == ["yaml", "json"]
        assert hook["require_serial"] is True  # one render sees all files, ServiceAccounts included
    # language: python installs this repository: the hook's `webhook` is its console script.
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["webhook"] == "webhook.cli:run"


def test_render_hook_passes_clean_and_mutated_manifests_and_fails_denied_ones() -> None:
    clean = run_hook("webhook-render", *CLEAN.iterdir())
    assert (clean.returncode, clean.stdout) == (0, ""), clean.stderr
    mutated = run_hook("webhook-render", *sorted(MUTATED.iterdir()))
    assert mutated.returncode == 0, mutated.stderr
    assert mutated.stdout.startswith("--- a/") and added(mutated.stdout, "audience: vault")
    denied = run_hook("webhook-render", *DENIED.iterdir())
    assert denied.returncode == 1
    assert "expiration-seconds='60'" in denied.stderr and "1 error(s)" in denied.stderr


def test_check_hook_fails_on_any_change_with_the_diff() -> None:
    assert run_hook("webhook-render-check", *CLEAN.iterdir()).returncode == 0
    mutated = run_hook("webhook-render-check", *sorted(MUTATED.iterdir()))
    assert mutated.returncode == 3
    assert added(mutated.stdout, "path: oidc-token")
    assert "1 of 1 pod template(s) would be mutated" in mutated.stderr
    assert run_hook("webhook-render-check", *DENIED.iterdir()).returncode == 1


def test_hook_args_from_the_config_reach_render() -> None:
    """`args:` in .pre-commit-config.yaml come before the file names, as pre-commit passes them."""
    plain = run_hook("webhook-render-check", *EKS.iterdir())
    assert plain.returncode == 0
    eks = run_hook("webhook-render-check", *EKS.iterdir(), args=("--dialects", "generic,eks"))
    assert eks.returncode == 3 and "AWS_ROLE_ARN" in eks.stdout
    apart = run_hook(
        "webhook-render-check",
        MUTATED / "app.yaml",
        args=("--serviceaccounts", str(MUTATED / "serviceaccounts.yaml")),
    )
    assert apart.returncode == 3


# ---------------------------------------------------------------------------------------- GitHub Action

ACTION = yaml.safe_load((REPO / "action.yml").read_text())
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def test_action_is_a_composite_with_the_inputs_ci_users_need() -> None:
    assert ACTION["runs"]["using"] == "composite"
    inputs = ACTION["inputs"]
    for name in ("paths", "serviceaccounts", "webhook-config", "namespace", "dialects", "fail-on-change"):
        assert inputs[name]["description"], name
    assert inputs["paths"]["required"] is True
    assert inputs["fail-on-change"]["default"] == "false" and inputs["output"]["default"] == "diff"
    used = set()
    for step in ACTION["runs"]["steps"]:
        text = yaml.safe_dump(step)
        used |= {m.group(1) for m in EXPRESSION.finditer(text)}
        # Expressions never inside a script: inputs reach it as environment variables only.
        assert not EXPRESSION.search(step.get("run", "")), step.get("name")
        if "run" in step:
            assert step["shell"] == "bash"
    assert {f"inputs.{name}" for name in inputs} <= used
    assert used <= {f"inputs.{name}" for name in inputs}


def _render_step() -> dict[str, Any]:
    [step] = [s for s in ACTION["runs"]["steps"] if s.get("id") == "render"]
    return step


def run_action(tmp_path: Path, **given: str) -> tuple[subprocess.CompletedProcess[str], dict[str, str], str]:
    """The render step as the runner runs it: `${{ inputs.X }}` in its env filled from `given` or the
    input's default, the script in `bash --noprofile --norc -eo pipefail`, with GITHUB_OUTPUT,
    GITHUB_STEP_SUMMARY and RUNNER_TEMP. Returns the run, the step's outputs and the step summary."""
    inputs = ACTION["inputs"]
    assert set(given) <= set(inputs), set(given) - set(inputs)

    def value(match: re.Match[str]) -> str:
        name = match.group(1).removeprefix("inputs.")
        return given.get(name, inputs[name].get("default", ""))

    tmp_path.mkdir(parents=True, exist_ok=True)
    step = _render_step()
    env = {key: EXPRESSION.sub(value, str(text)) for key, text in step["env"].items()}
    script = tmp_path / "step.sh"
    script.write_text(step["run"])
    files = {name: tmp_path / name for name in ("output", "summary")}
    for path in files.values():
        path.write_text("")
    (tmp_path / "temp").mkdir()
    env |= {
        "PATH": PATH,
        "GITHUB_OUTPUT": str(files["output"]),
        "GITHUB_STEP_SUMMARY": str(files["summary"]),
        "RUNNER_TEMP": str(tmp_path / "temp"),
    }
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        env=env,
        cwd=FIXTURES,
        capture_output=True,
        text=True,
        timeout=120,
    )
    outputs = dict(line.split("=", 1) for line in files["output"].read_text().splitlines())
    return done, outputs, files["summary"].read_text()


def test_action_passes_a_clean_tree(tmp_path: Path) -> None:
    done, outputs, summary = run_action(tmp_path, paths="clean", **{"fail-on-change": "true"})
    assert done.returncode == 0, done.stderr
    assert outputs["exit-code"] == "0" and Path(outputs["output-file"]).read_text() == ""
    assert summary == ""


def test_action_fails_on_change_with_the_diff_in_the_summary(tmp_path: Path) -> None:
    done, outputs, summary = run_action(
        tmp_path,
        paths="mutated/app.yaml",
        serviceaccounts="mutated/serviceaccounts.yaml",
        **{"fail-on-change": "true"},
    )
    assert done.returncode == 3
    assert outputs["exit-code"] == "3"
    diff = Path(outputs["output-file"]).read_text()
    assert diff.startswith("--- a/mutated/app.yaml") and added(diff, "audience: vault")
    assert done.stdout == diff  # printed in the log too
    assert summary.startswith("### webhook render (exit 3)\n```diff\n--- a/mutated/app.yaml")
    assert summary.endswith("```\n")


def test_action_without_fail_on_change_passes_a_mutation(tmp_path: Path) -> None:
    done, outputs, _ = run_action(tmp_path, paths="mutated")
    assert done.returncode == 0 and outputs["exit-code"] == "0"


def test_action_fails_a_denied_workload(tmp_path: Path) -> None:
    done, outputs, _ = run_action(tmp_path, paths="clean\ndenied")  # new-line separated
    assert done.returncode == 1 and outputs["exit-code"] == "1"
    assert "expiration-seconds='60'" in done.stderr


def test_action_webhook_config_namespace_and_dialects_reach_render(tmp_path: Path) -> None:
    out_of_scope, _, _ = run_action(
        tmp_path / "scope",
        paths="mutated",
        **{
            "webhook-config": SCOPED.name,
            "fail-on-change": "true",
            "args": "--namespace-labels team-a=tokens=off",
        },
    )
    assert out_of_scope.returncode == 0, out_of_scope.stderr
    assert "outside the namespaceSelector (tokens NotIn [off])" in out_of_scope.stderr
    eks, _, _ = run_action(
        tmp_path / "eks", paths="eks", dialects="generic,eks", **{"fail-on-change": "true"}
    )
    assert eks.returncode == 3 and "AWS_ROLE_ARN" in eks.stdout
    (tmp_path / "ns").mkdir()
    moved = tmp_path / "ns" / "app.yaml"  # the Deployment without its namespace: -n decides
    moved.write_text((MUTATED / "app.yaml").read_text().replace("  namespace: team-a\n", ""))
    other, _, _ = run_action(
        tmp_path / "ns-default",
        paths=str(moved),
        serviceaccounts="mutated/serviceaccounts.yaml",
        **{"fail-on-change": "true"},
    )
    assert other.returncode == 0 and "ServiceAccount default/app is not in the input" in other.stderr
    same, _, _ = run_action(
        tmp_path / "ns-team-a",
        paths=str(moved),
        serviceaccounts="mutated/serviceaccounts.yaml",
        namespace="team-a",
        **{"fail-on-change": "true"},
    )
    assert same.returncode == 3


@pytest.mark.parametrize(("output", "start"), [("patch", "["), ("yaml", "# A Deployment"), ("json", "{")])
def test_action_output_formats(tmp_path: Path, output: str, start: str) -> None:
    done, outputs, summary = run_action(tmp_path, paths="mutated", output=output)
    assert done.returncode == 0, done.stderr
    assert outputs["output-file"].endswith(f".{output}")
    assert done.stdout.lstrip().startswith(start)
    assert f"```{output}\n" in summary


def test_action_refuses_a_bad_fail_on_change_value(tmp_path: Path) -> None:
    done, _, _ = run_action(tmp_path, paths="clean", **{"fail-on-change": "yes"})
    assert done.returncode == 2 and "fail-on-change must be true or false" in done.stdout


def test_action_paths_are_not_globbed(tmp_path: Path) -> None:
    done, _, _ = run_action(tmp_path, paths="*/app.yaml")
    assert done.returncode == 2 and "*/app.yaml" in done.stderr


# -------------------------------------------------------------------------------------------- GitLab CI

GITLAB = yaml.safe_load((REPO / "ci" / "gitlab" / "render.gitlab-ci.yml").read_text())
JOB = GITLAB[".projected-token-webhook-render"]


def run_gitlab(checkout: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """The job's script as the runner runs it (bash -e, the job's variables overridden by the extending
    job's) in `checkout`."""
    env = {**{k: str(v) for k, v in JOB["variables"].items()}, **variables, "PATH": PATH}
    script = checkout.parent / "script.sh"
    script.write_text("\n".join(JOB["script"]))
    return subprocess.run(
        ["bash", "-eo", "pipefail", str(script)],
        env=env,
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_gitlab_job_installs_this_release_and_keeps_the_output() -> None:
    assert JOB["variables"]["PTW_VERSION"] == webhook.__version__
    assert any("projected-token-webhook==${PTW_VERSION}" in line for line in JOB["before_script"])
    assert JOB["artifacts"]["when"] == "always" and JOB["artifacts"]["paths"] == ["webhook-render.*"]


def test_gitlab_job_exit_codes(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    shutil.copytree(FIXTURES, checkout)
    assert run_gitlab(checkout, PTW_PATHS="clean", PTW_FAIL_ON_CHANGE="true").returncode == 0
    changed = run_gitlab(
        checkout,
        PTW_PATHS="mutated/app.yaml",
        PTW_SERVICEACCOUNTS="mutated/serviceaccounts.yaml",
        PTW_FAIL_ON_CHANGE="true",
    )
    assert changed.returncode == 3 and added(changed.stdout, "audience: vault")
    assert (checkout / "webhook-render.diff").read_text() == changed.stdout  # the artifact
    assert run_gitlab(checkout, PTW_PATHS="denied").returncode == 1
    eks = run_gitlab(checkout, PTW_PATHS="eks", PTW_DIALECTS="generic,eks", PTW_FAIL_ON_CHANGE="true")
    assert eks.returncode == 3
    scoped = run_gitlab(
        checkout,
        PTW_PATHS="mutated",
        PTW_WEBHOOK_CONFIG=SCOPED.name,
        PTW_ARGS="--namespace-labels team-a=tokens=off",
        PTW_FAIL_ON_CHANGE="true",
    )
    assert scoped.returncode == 0 and "outside the namespaceSelector" in scoped.stderr
    assert run_gitlab(checkout, PTW_PATHS="clean", PTW_FAIL_ON_CHANGE="1").returncode == 2
