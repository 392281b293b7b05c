"""The `webhook` command: one group, subcommands registered from the modules that own them."""

from __future__ import annotations

import click

from webhook import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="webhook")
def main() -> None:
    """Inject audience-bound projected service-account tokens into pods, and make them trusted elsewhere."""


# Each subcommand lives beside the code it drives; register it here (one line per command or group).
from webhook.install import manifests_command  # noqa: E402

main.add_command(manifests_command)
from webhook.serve import certs_group, serve_command  # noqa: E402

main.add_command(serve_command)
main.add_command(certs_group)
from webhook.render import render  # noqa: E402

main.add_command(render)
from webhook.federation import commands as federation  # noqa: E402

for _command in federation.COMMANDS:
    main.add_command(_command)
