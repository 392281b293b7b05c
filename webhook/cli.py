"""The `webhook` command: one group whose subcommands are imported only when they run."""

from __future__ import annotations

import importlib

import click

from webhook import __version__

# name -> "module:attribute"; each subcommand lives beside the code it drives. Lazy because serve's
# FastAPI/kubernetes imports would otherwise cost `webhook render` in CI a third of a second per call.
SUBCOMMANDS = {
    "argocd": "webhook.federation.commands:argocd_group",
    "certs": "webhook.serve:certs_group",
    "credential": "webhook.federation.commands:credential_command",
    "downstream": "webhook.federation.commands:downstream_group",
    "drift": "webhook.drift:drift_command",
    "kubeconfig": "webhook.federation.commands:kubeconfig_command",
    "manifests": "webhook.install:manifests_command",
    "oauth2-proxy": "webhook.federation.oauth2proxy_commands:oauth2_proxy_command",
    "oidc": "webhook.federation.commands:oidc_group",
    "render": "webhook.render:render",
    "serve": "webhook.serve:serve_command",
    "token": "webhook.federation.commands:token_group",
    "vault": "webhook.federation.vault_commands:vault_group",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *SUBCOMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in SUBCOMMANDS:
            return super().get_command(ctx, cmd_name)
        module, attribute = SUBCOMMANDS[cmd_name].split(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command) and command.name == cmd_name, SUBCOMMANDS[cmd_name]
        return command


@click.group(
    cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, prog_name="webhook")
def main() -> None:
    """Inject audience-bound projected service-account tokens into pods, and make them trusted elsewhere."""


class OwnProcess:
    """The root context's obj when the CLI runs as the `webhook` console script rather than inside another
    program (a test's CliRunner): a command may then skip housekeeping the process will never need."""


def run() -> None:
    """The `webhook` console script."""
    main(obj=OwnProcess())
