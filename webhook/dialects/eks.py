"""The EKS dialect: a drop-in for the AWS EKS Pod Identity Webhook (IRSA).

Same inputs (`eks.amazonaws.com/*` annotations, the webhook's flags as settings) and the same resulting pod:
the `aws-iam-token` volume, its mount, and the AWS_* env vars with the EKS webhook's "already set" rules.
Like that webhook, unparsable values are ignored (we also warn); only an expiration the kube-apiserver would
reject is an error.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator

from webhook.dialects.base import Dialect, Flag
from webhook.vocabulary import (
    MAX_EXPIRATION_SECONDS,
    MIN_EXPIRATION_SECONDS,
    DialectResult,
    EnvGroup,
    Injection,
    ServiceAccountInfo,
    TokenSpec,
    clean_path,
    is_windows,
    mount_path_problem,
    windows_path,
)

NAME = "eks"
DOMAIN = "eks.amazonaws.com"
ROLE_ARN = f"{DOMAIN}/role-arn"
AUDIENCE = f"{DOMAIN}/audience"
REGIONAL_STS = f"{DOMAIN}/sts-regional-endpoints"
TOKEN_EXPIRATION = f"{DOMAIN}/token-expiration"
SKIP_CONTAINERS = f"{DOMAIN}/skip-containers"
# The EKS webhook's opt-out: its MutatingWebhookConfiguration's objectSelector sends no pod carrying this
# label (`DoesNotExist`, whatever the value, even "false"); its handler never reads it.
SKIP_LABEL = f"{DOMAIN}/skip-pod-identity-webhook"
VOLUME_NAME = "aws-iam-token"
TOKEN_FILE = "token"

STS_KEY = "AWS_STS_REGIONAL_ENDPOINTS"
REGION_KEYS = frozenset(("AWS_REGION", "AWS_DEFAULT_REGION"))
RESERVED_KEYS = frozenset(("AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"))


class EksSettings(BaseModel):
    """Mirrors the EKS Pod Identity Webhook's flags (--aws-default-region, --sts-regional-endpoint, ...)."""

    eks_region: str = Field("", description="EKS: set AWS_REGION and AWS_DEFAULT_REGION to this.")
    eks_sts_regional_endpoints: Annotated[bool, Flag(negatable=True)] = Field(
        False,
        description="EKS: set AWS_STS_REGIONAL_ENDPOINTS=regional unless the ServiceAccount says otherwise.",
    )
    eks_token_audience: str = Field("sts.amazonaws.com", description="EKS: default token audience.")
    eks_token_mount_path: str = Field(
        "/var/run/secrets/eks.amazonaws.com/serviceaccount", description="EKS: token directory."
    )
    eks_token_expiration: int = Field(
        86400,
        ge=MIN_EXPIRATION_SECONDS,
        le=MAX_EXPIRATION_SECONDS,
        description="EKS: default token lifetime.",
    )

    @field_validator("eks_token_mount_path")
    @classmethod
    def _eks_mount_path(cls, value: str) -> str:
        if reason := mount_path_problem(value):  # the annotations' own rule
            raise ValueError(f"mount path {value!r} {reason}")
        return value


_INT_RE = re.compile(r"[+-]?[0-9]+")
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}  # Go's strconv.ParseBool
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def _parse_bool(value: str) -> bool | None:
    return True if value in _TRUE else False if value in _FALSE else None


def _expiration(value: str, where: str, current: int, errors: list[str], warnings: list[str]) -> int:
    """EKS: an unparsable value keeps the previous one; below 600 s is raised to 600 s."""
    # Go's strconv.ParseInt(value, 10, 64) fails beyond int64 too: the EKS webhook then keeps the previous
    # value. Checked on the digits' count first: int() refuses more than 4,300 digits.
    digits = value.lstrip("+-").lstrip("0")
    if not _INT_RE.fullmatch(value) or len(digits) > 19 or not -(2**63) <= int(value) < 2**63:
        warnings.append(f"{TOKEN_EXPIRATION} on the {where}: {value[:16]!r} is no integer; using {current}")
        return current
    seconds = max(int(value), MIN_EXPIRATION_SECONDS)
    if seconds > MAX_EXPIRATION_SECONDS:
        errors.append(
            f"{TOKEN_EXPIRATION}={value!r} on the {where}: above {MAX_EXPIRATION_SECONDS}, "
            "which the kube-apiserver rejects; use at most 86400 (the EKS maximum)"
        )
    return seconds


def skip_containers(pod: Mapping[str, Any]) -> frozenset[str]:
    """The pod's `skip-containers` annotation, read as one CSV record like the EKS webhook does."""
    value = ((pod.get("metadata") or {}).get("annotations") or {}).get(SKIP_CONTAINERS)
    if not isinstance(value, str):
        return frozenset()
    try:
        record = next(csv.reader([value]), [])
    except csv.Error:
        return frozenset()
    return frozenset(name.strip() for name in record if name.strip())


def opted_out(
    pod: Mapping[str, Any], serviceaccount: ServiceAccountInfo | None, settings: EksSettings
) -> str | None:
    """A pod labelled SKIP_LABEL never reaches the webhook (the eks overlay's objectSelector): no dialect."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    if isinstance(labels, Mapping) and SKIP_LABEL in labels:
        return f"labelled {SKIP_LABEL}"
    return None


def resolve(
    pod: Mapping[str, Any], serviceaccount: ServiceAccountInfo | None, settings: EksSettings
) -> DialectResult:
    if serviceaccount is None:
        return DialectResult(skipped="no ServiceAccount to read eks.amazonaws.com/role-arn from")
    sa = serviceaccount.annotations
    role = sa.get(ROLE_ARN) or ""
    if not role:
        return DialectResult(skipped=f"ServiceAccount has no {ROLE_ARN}")
    errors: list[str] = []
    warnings: list[str] = []

    audience = sa.get(AUDIENCE, settings.eks_token_audience)
    regional = settings.eks_sts_regional_endpoints
    if (value := sa.get(REGIONAL_STS)) is not None:
        parsed = _parse_bool(value)
        if parsed is None:
            warnings.append(f"{REGIONAL_STS} on the ServiceAccount: {value[:16]!r} is not a boolean; ignored")
        else:
            regional = parsed
    expiration = settings.eks_token_expiration
    if (value := sa.get(TOKEN_EXPIRATION)) is not None:
        expiration = _expiration(value, "ServiceAccount", expiration, errors, warnings)
    pod_annotations = (pod.get("metadata") or {}).get("annotations") or {}
    if (value := pod_annotations.get(TOKEN_EXPIRATION)) is not None:
        expiration = _expiration(str(value), "Pod", expiration, errors, warnings)
    if errors:
        return DialectResult(errors=tuple(errors), warnings=tuple(warnings))

    mount_path = clean_path(settings.eks_token_mount_path)
    token = TokenSpec(
        name=VOLUME_NAME,
        audience=audience,
        expiration_seconds=expiration,
        mount_path=mount_path,
        path=TOKEN_FILE,
        env="AWS_WEB_IDENTITY_TOKEN_FILE",
        dialect=NAME,
        volume_name=VOLUME_NAME,
        mount_path_source="--eks-token-mount-path",
        field_keys=(
            ("audience", f"{AUDIENCE} on the ServiceAccount"),
            ("expiration", TOKEN_EXPIRATION),
            ("path", "--eks-token-mount-path"),
            ("mount-path", "--eks-token-mount-path"),
        ),
    )
    # The EKS webhook looks at the node selectors only (not spec.os) to pick Windows paths.
    token_file = token.file_path
    if is_windows(pod, beta_selector=True, os_field=False):
        token_file = windows_path(token_file)
    env: list[EnvGroup] = []
    if regional:
        env.append(EnvGroup(((STS_KEY, "regional"),), frozenset((STS_KEY,))))
    if settings.eks_region:
        region = settings.eks_region
        env.append(EnvGroup((("AWS_DEFAULT_REGION", region), ("AWS_REGION", region)), REGION_KEYS))
    env.append(EnvGroup((("AWS_ROLE_ARN", role), ("AWS_WEB_IDENTITY_TOKEN_FILE", token_file)), RESERVED_KEYS))
    injection = Injection(
        dialect=NAME,
        tokens=(token,),
        env=tuple(env),
        skip_containers=skip_containers(pod),
        hands_off_when_env=(RESERVED_KEYS, REGION_KEYS, frozenset((STS_KEY,))),
        trust_existing_by_name=True,
    )
    return DialectResult(injection=injection, warnings=tuple(warnings))


DIALECT = Dialect(
    name=NAME,
    summary="the EKS Pod Identity Webhook (eks.amazonaws.com/role-arn)",
    resolve=resolve,
    annotation_prefixes=lambda settings: (f"{DOMAIN}/",),
    settings=EksSettings,
    opted_out=opted_out,
    opt_out_selector=({"key": SKIP_LABEL, "operator": "DoesNotExist"},),
)
