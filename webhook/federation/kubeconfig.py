"""A kubeconfig for the downstream cluster whose user reads the mounted token through an exec plugin."""

from __future__ import annotations

import base64
from typing import Any

from webhook.federation.common import InputError, check_https_url
from webhook.federation.credential import EXEC_API_VERSION, bash_credential_script
from webhook.vocabulary import DNS1123_LABEL_RE

EXEC_FORMS = ("webhook", "bash")


def exec_config(token_file: str, form: str = "webhook", command: str = "webhook") -> dict[str, Any]:
    """The users[].user.exec stanza: `webhook credential` (with expiry) or a bash one-liner (without)."""
    if not token_file:
        raise InputError("--token-file must not be empty")
    if form == "webhook":
        cmd, args = command, ["credential", "--token-file", token_file]
        hint = "needs the `webhook` command (pip install projected-token-webhook), or use --exec bash"
    elif form == "bash":
        cmd, args = "bash", ["-c", bash_credential_script(token_file)]
        hint = "needs bash (or regenerate with --exec webhook)"
    else:
        raise InputError(f"--exec {form!r} unknown; choose one of {', '.join(EXEC_FORMS)}")
    return {
        "apiVersion": EXEC_API_VERSION,
        "command": cmd,
        "args": args,
        "installHint": hint,
        "interactiveMode": "Never",
        "provideClusterInfo": False,
    }


def kubeconfig(
    *,
    server: str,
    ca_pem: str,
    token_file: str,
    namespace: str | None = None,
    form: str = "webhook",
    name: str = "downstream",
    command: str = "webhook",
) -> dict[str, Any]:
    check_https_url(server, "--server")
    if not DNS1123_LABEL_RE.fullmatch(name):
        raise InputError(f"--name {name!r} must be a DNS-1123 label (lowercase letters, digits, '-')")
    if namespace is not None and not DNS1123_LABEL_RE.fullmatch(namespace):
        raise InputError(f"--namespace {namespace!r} is not a valid namespace name")
    context: dict[str, Any] = {"cluster": name, "user": name}
    if namespace:
        context["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_pem.encode()).decode(),
                },
            }
        ],
        "contexts": [{"name": name, "context": context}],
        "current-context": name,
        "preferences": {},
        "users": [{"name": name, "user": {"exec": exec_config(token_file, form, command)}}],
    }
