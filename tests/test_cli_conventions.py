"""What a new user meets first at the command line: empty input, bad settings, a missing kubeconfig, a
missing extra, shell completion. Through the console script, as CI and shells run it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.common import REPO, WEBHOOK_BIN
from webhook.cli import main
from webhook.dialects import KNOWN_DIALECTS
from webhook.errors import UserError
from webhook.extras import MissingExtra, missing_extra

PYDANTIC_WORDING = ("Input should be", "Value error,", "validation error", "type=", "pydantic")


def webhook(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WEBHOOK_")}
    return subprocess.run(
        [str(WEBHOOK_BIN), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **(env or {})},
        cwd=REPO,
    )


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.lower().startswith("error:")]


@pytest.mark.parametrize("stdin", ["", "\n", "---\n# only a comment\n---\n"])
def test_render_of_empty_input_exits_2_saying_no_documents(stdin: str) -> None:
    result = webhook("render", "-", stdin=stdin)
    assert result.returncode == 2 and result.stdout == ""
    assert error_lines(result) == ["error: stdin: no documents"]


def test_render_of_an_empty_directory_names_it(tmp_path: Path) -> None:
    result = webhook("render", str(tmp_path))
    assert result.returncode == 2 and error_lines(result) == [f"error: {tmp_path}: no documents"]


def test_render_of_objects_without_pods_still_passes() -> None:
    result = webhook("render", "-", stdin="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    assert result.returncode == 0 and "kind: ConfigMap" in result.stdout


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (
            ["render", "--default-expiration-seconds", "5"],
            {},
            "Error: --default-expiration-seconds 5: must be at least 600",
        ),
        (
            ["render"],
            {"WEBHOOK_DEFAULT_EXPIRATION_SECONDS": "5"},
            "Error: WEBHOOK_DEFAULT_EXPIRATION_SECONDS='5' (from the environment): must be at least 600",
        ),
        (
            ["render"],
            {"WEBHOOK_DIALECTS": "generic,nope"},
            "Error: WEBHOOK_DIALECTS='generic,nope' (from the environment): unknown dialect(s) ['nope']; "
            f"known: {', '.join(KNOWN_DIALECTS)}",
        ),
        (
            ["render", "--default-mount-path", "relative/dir"],
            {},
            "Error: --default-mount-path relative/dir: mount path 'relative/dir' is not an absolute path; "
            "start it with /",
        ),
        (
            ["serve"],
            {"WEBHOOK_PORT": "https"},
            "Error: WEBHOOK_PORT='https' (from the environment): must be a whole number",
        ),
        (
            ["serve"],
            {"WEBHOOK_LOG_LEVEL": "loud"},
            "Error: WEBHOOK_LOG_LEVEL='loud' (from the environment): must be one of 'debug', 'info', "
            "'warning' or 'error'",
        ),
    ],
)
def test_bad_settings_are_told_in_our_words_naming_flag_or_env_var(
    args: list[str], env: dict[str, str], expected: str
) -> None:
    result = webhook(*args, stdin="kind: ConfigMap\n", env=env)
    assert result.returncode == 2
    assert error_lines(result) == [expected]
    assert not any(words in result.stderr for words in PYDANTIC_WORDING), result.stderr


def test_bad_config_file_settings_name_the_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "render.yaml"
    config.write_text("default-expiration-seconds: 7\nno-such-setting: 1\n")
    result = webhook("render", "--config", str(config), stdin="kind: ConfigMap\n")
    assert result.returncode == 2
    assert error_lines(result) == [
        f"Error: --config {config}: default-expiration-seconds: 7: must be at least 600; "
        f"--config {config}: no-such-setting: 1: is not a setting"
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["drift"],
        ["token", "request", "--serviceaccount", "a/b", "--audience", "x"],
        ["token", "review", "a.b.c"],
        ["oidc", "jwks", "--from-cluster"],
        ["serve", "--self-signed", "--certs-dir", "{tmp}/certs"],
    ],
)
def test_a_missing_kubeconfig_says_no_such_file(tmp_path: Path, args: list[str]) -> None:
    missing = tmp_path / "nope"
    argv = [a.format(tmp=tmp_path) for a in args] + ["--kubeconfig", str(missing)]
    result = webhook(*argv)
    assert result.returncode != 0
    assert error_lines(result) == [f"Error: --kubeconfig {missing}: no such file"]


def test_no_default_kubeconfig_is_said_plainly(tmp_path: Path) -> None:
    result = webhook("oidc", "jwks", "--from-cluster", env={"HOME": str(tmp_path), "KUBECONFIG": ""})
    assert error_lines(result) == [
        "Error: no kubeconfig: ~/.kube/config does not exist; pass --kubeconfig FILE"
    ]


def test_a_module_of_a_missing_extra_names_the_extra() -> None:
    error = missing_extra(
        ModuleNotFoundError("No module named 'kubernetes'", name="kubernetes.client"), "x y"
    )
    assert isinstance(error, MissingExtra) and isinstance(error, UserError)
    assert str(error) == (
        "`x y` needs kubernetes, which is not installed: pip install 'projected-token-webhook[cluster]' "
        "(or [server], which includes it)"
    )
    fastapi = missing_extra(ModuleNotFoundError(name="fastapi"), "webhook serve")
    assert fastapi is not None and fastapi.extra == "server"
    assert missing_extra(ModuleNotFoundError(name="nosuchmodule"), "x") is None, "a bug stays a traceback"


def test_shell_completion_as_the_readme_documents_it() -> None:
    readme = (REPO / "README.md").read_text()
    assert 'eval "$(_WEBHOOK_COMPLETE=bash_source webhook)"' in readme
    script = webhook(env={"_WEBHOOK_COMPLETE": "bash_source"})
    assert script.returncode == 0 and "complete -o nosort -F _webhook_completion webhook" in script.stdout
    words = webhook(
        env={"_WEBHOOK_COMPLETE": "bash_complete", "COMP_WORDS": "webhook kubeconfig -o ", "COMP_CWORD": "3"}
    )
    assert words.stdout.split() == ["plain,yaml", "plain,json"]


def test_version_is_the_package_version() -> None:
    import webhook as package

    result = CliRunner().invoke(main, ["--version"])
    assert result.output == f"webhook, version {package.__version__}\n"
