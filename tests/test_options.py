"""The flags of `webhook render` and `webhook serve` come from the settings models; the README names them."""

from __future__ import annotations

import click
import pytest

from tests.common import REPO
from webhook.options import flag_fields
from webhook.render import render
from webhook.serve import serve_command
from webhook.server import ServeSettings
from webhook.settings import CoreSettings
from webhook.vocabulary import MAX_EXPIRATION_SECONDS, MIN_EXPIRATION_SECONDS


@pytest.mark.parametrize(("command", "model"), [(render, CoreSettings), (serve_command, ServeSettings)])
def test_every_field_is_a_flag_with_its_description_and_default(
    command: click.Command, model: type[CoreSettings]
) -> None:
    options = {p.name: p for p in command.params if isinstance(p, click.Option)}
    for name, field in flag_fields(model):
        option = options[name]
        assert option.opts == ["--" + name.replace("_", "-")]
        assert option.default is None, f"{name}: a default here would hide WEBHOOK_* and --config"
        assert field.description and option.help and option.help.startswith(field.description), name
        default = field.get_default(call_default_factory=True)
        if default not in (None, "", False, []):
            shown = ",".join(default) if isinstance(default, list) else str(default)
            assert option.help.endswith(f"[{shown}]"), option.help
    generated = {name for name, _ in flag_fields(model)}
    others = {"config"} | (
        {"serviceaccount_files", "output", "fail_on_change", "namespace", "webhook_config"}
        | {"namespace_labels", "excluded_namespaces"}
        if command is render
        else set()
    )
    assert set(options) == generated | others


def test_env_only_settings_have_no_flag() -> None:
    names = {p.name for p in serve_command.params}
    for name in ("cert_reload_interval", "serviceaccounts_reload_interval", "bench_endpoint"):
        assert name in ServeSettings.model_fields and name not in names


def test_the_readme_names_every_setting() -> None:
    readme = (REPO / "README.md").read_text()
    flags = {name for name, _ in flag_fields(ServeSettings)}
    for name in ServeSettings.model_fields:
        written = "--" + name.replace("_", "-") if name in flags else "WEBHOOK_" + name.upper()
        assert f"`{written}" in readme, f"README.md does not mention {written}"


@pytest.mark.parametrize("name", ["default_expiration_seconds", "eks_token_expiration"])
def test_expiration_settings_take_the_core_bounds(name: str) -> None:
    CoreSettings(**{name: MIN_EXPIRATION_SECONDS})
    CoreSettings(**{name: MAX_EXPIRATION_SECONDS})
    for outside in (MIN_EXPIRATION_SECONDS - 1, MAX_EXPIRATION_SECONDS + 1):
        with pytest.raises(ValueError, match=name):
            CoreSettings(**{name: outside})
