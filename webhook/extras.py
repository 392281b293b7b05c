"""Which optional dependency group (pip extra) provides a module, for the message a command gives without it.

`pip install projected-token-webhook` is the core (render, drift of files, the generators); the Kubernetes
client and the server come with extras (pyproject.toml, [project.optional-dependencies]). Imports nothing.
"""

from __future__ import annotations

from webhook.errors import UserError

DISTRIBUTION = "projected-token-webhook"

# top-level module -> the extra that installs it
PROVIDED_BY = {
    "kubernetes": "cluster",
    "fastapi": "server",
    "starlette": "server",
    "uvicorn": "server",
    "httptools": "server",
    "prometheus_client": "server",
}


class MissingExtra(UserError):
    """A command needs a module that only an extra installs."""

    def __init__(self, command: str, module: str, extra: str) -> None:
        also = " (or [server], which includes it)" if extra == "cluster" else ""
        super().__init__(
            f"`{command}` needs {module}, which is not installed: pip install '{DISTRIBUTION}[{extra}]'{also}"
        )
        self.extra = extra
        self.distribution = DISTRIBUTION


def missing_extra(exc: ModuleNotFoundError, command: str) -> MissingExtra | None:
    """The MissingExtra behind an import failure, or None when no extra provides the module (a bug)."""
    module = (exc.name or "").partition(".")[0]
    extra = PROVIDED_BY.get(module)
    return MissingExtra(command, module, extra) if extra else None
