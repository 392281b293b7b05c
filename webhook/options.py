"""Click options for the core settings, shared by `webhook render` and `webhook serve`.

Usage:

    @click.command()
    @core_settings_options
    def cmd(**kwargs):
        settings = settings_from_options(CoreSettings, kwargs)   # pops the core keys out of kwargs

Every option defaults to None ("not given") so env vars (WEBHOOK_*) and the --config file still apply.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from webhook.errors import UsageError
from webhook.settings import CoreSettings, load_settings

F = TypeVar("F", bound=Callable[..., Any])
S = TypeVar("S", bound=CoreSettings)

CORE_OPTION_NAMES = (
    "config",
    "annotation_prefix",
    "dialects",
    "default_expiration_seconds",
    "default_mount_path",
    "eks_region",
    "eks_sts_regional_endpoints",
    "eks_token_audience",
    "eks_token_mount_path",
    "eks_token_expiration",
)

_OPTIONS = (
    click.option(
        "--config",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="YAML file of settings (keys as the long flags, without --). Flags and WEBHOOK_* env vars win.",
    ),
    click.option(
        "--annotation-prefix", default=None, help="Prefix of the generic annotations [projected-token.io]."
    ),
    click.option(
        "--dialects", default=None, help="Comma-separated dialects to enable: generic, eks [generic]."
    ),
    click.option(
        "--default-expiration-seconds", type=int, default=None, help="Generic token lifetime default [3600]."
    ),
    click.option(
        "--default-mount-path",
        default=None,
        help="Generic token directory default [/var/run/secrets/tokens].",
    ),
    click.option("--eks-region", default=None, help="EKS: set AWS_REGION and AWS_DEFAULT_REGION to this."),
    click.option(
        "--eks-sts-regional-endpoints/--no-eks-sts-regional-endpoints",
        default=None,
        help="EKS: set AWS_STS_REGIONAL_ENDPOINTS=regional unless the ServiceAccount says otherwise.",
    ),
    click.option(
        "--eks-token-audience", default=None, help="EKS: default token audience [sts.amazonaws.com]."
    ),
    click.option(
        "--eks-token-mount-path",
        default=None,
        help="EKS: token directory [/var/run/secrets/eks.amazonaws.com/serviceaccount].",
    ),
    click.option(
        "--eks-token-expiration", type=int, default=None, help="EKS: default token lifetime [86400]."
    ),
)


def core_settings_options(func: F) -> F:
    """Add the core settings flags (see CORE_OPTION_NAMES) to a click command."""
    for option in reversed(_OPTIONS):
        func = option(func)
    return func


def settings_from_options(cls: type[S], kwargs: dict[str, Any], **extra: Any) -> S:
    """Pop the core option values out of kwargs and build settings; bad values end in a one-line error.

    `extra` carries the caller's own settings fields (e.g. the server's), with None meaning "not given".
    """
    flags = {name: kwargs.pop(name, None) for name in CORE_OPTION_NAMES}
    config = flags.pop("config")
    try:
        return load_settings(cls, config_file=config, **flags, **extra)  # or ConfigFileError, a UsageError
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}" for err in exc.errors()
        )
        raise UsageError(f"invalid settings: {problems}") from None
