"""The gcp dialect: a drop-in for pfnet-research/gcp-workload-identity-federation-webhook.

Same inputs (the ServiceAccount's `cloud.google.com/workload-identity-provider` and `service-account-email`,
`audience`, `token-expiration`, `injection-mode`, `gcloud-run-as-user`; the Pod's `token-expiration` and
`skip-containers`; that webhook's flags as settings) and the same resulting pod: the `gcp-iam-token` volume
(mode 0440) at /var/run/secrets/sts.googleapis.com/serviceaccount, the external-account credential
configuration at /var/run/secrets/gcloud/config/federation.json (written by the `gcloud-setup` init container
into the `gcloud-config` emptyDir, or, with `injection-mode: direct`, projected from a pod annotation by a
downwardAPI volume), GOOGLE_APPLICATION_CREDENTIALS, CLOUDSDK_CONFIG, CLOUDSDK_COMPUTE_REGION and
CLOUDSDK_CORE_PROJECT, and the annotations it writes on the pod.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field, field_validator

from webhook.dialects.base import Dialect
from webhook.dialects.podpatch import PodEdit
from webhook.vocabulary import (
    MAX_EXPIRATION_SECONDS,
    DialectResult,
    EnvGroup,
    Extra,
    Injection,
    JsonPatchOp,
    ServiceAccountInfo,
    TokenSpec,
    is_dns1123_subdomain,
)

NAME = "gcp"
PROVIDER = "workload-identity-provider"
EMAIL = "service-account-email"
AUDIENCE = "audience"
EXPIRATION = "token-expiration"
RUN_AS_USER, MODE, SKIP_CONTAINERS, CREDENTIALS_JSON = (
    "gcloud-run-as-user",
    "injection-mode",
    "skip-containers",
    "external-credentials-json",
)
TOKEN_VOLUME = "gcp-iam-token"
TOKEN_MOUNT_PATH = "/var/run/secrets/sts.googleapis.com/serviceaccount"
TOKEN_FILE = "token"
CONFIG_VOLUME = "gcloud-config"  # gcloud mode: an emptyDir the init container writes
DIRECT_VOLUME = "external-credential-config"  # direct mode: a downwardAPI file of the pod annotation
CONFIG_MOUNT_PATH = "/var/run/secrets/gcloud/config"
CONFIG_FILE = "federation.json"
SETUP_CONTAINER = "gcloud-setup"
MIN_EXPIRATION = 3600  # that webhook's MinTokenExpration (1h): lower values are raised to it
_PROVIDER_RE = re.compile(r"^projects/.+/locations/.+/workloadIdentityPools/.+/providers/.+$")
_PROVIDER_FORMAT = (
    "projects/{ProjectNumber}/locations/{Location}/workloadIdentityPools/{PoolId}/providers/{ProviderId}"
)
_PROJECT_RE = re.compile(r"@(.*).iam.gserviceaccount.com")  # that webhook's, unescaped dots and all
_INT_RE = re.compile(r"[+-]?[0-9]+")
_GO_INT_RE = re.compile(r"[+-]?(0[xX][0-9a-fA-F_]+|0[oO]?[0-7_]*|0[bB][01_]+|[1-9][0-9_]*)")
# Go's time.ParseDuration units, in nanoseconds.
_UNITS = {
    "ns": 1,
    "us": 10**3,
    "µs": 10**3,
    "μs": 10**3,
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}
_DURATION_PART = re.compile(r"([0-9]*\.?[0-9]*)(ns|us|µs|μs|ms|s|m|h)")


def go_duration_seconds(text: str) -> int:
    """Whole seconds of a Go duration (`24h0m0s`, `1h30m`, `90s`, `-1.5h`), as int64(d.Seconds()) gives them;
    ValueError for what time.ParseDuration refuses."""
    rest, sign = text, 1
    if rest[:1] in ("+", "-"):
        sign, rest = (-1 if rest[0] == "-" else 1), rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise ValueError(f"invalid duration {text!r}")
    total, at = Decimal(0), 0
    while at < len(rest):
        part = _DURATION_PART.match(rest, at)
        if part is None or part.group(1) in ("", "."):
            raise ValueError(f"invalid duration {text!r}; write it as Go does, e.g. 24h0m0s, 90m or 3600s")
        total += Decimal(part.group(1)) * _UNITS[part.group(2)]
        at = part.end()
    nanoseconds = int(total)  # Go drops fractions of a nanosecond
    if nanoseconds >= 2**63:
        raise ValueError(f"invalid duration {text!r}: too long")
    return sign * int(Decimal(nanoseconds) / 10**9)


def go_int(text: str) -> int:
    """An integer as Go's strconv.ParseInt(s, 0, 64) reads a flag: 0440 is octal, 0x120 hexadecimal."""
    if not _GO_INT_RE.fullmatch(text) or "__" in text or text.endswith("_"):
        raise ValueError(f"{text!r} is not an integer")
    body = text.lstrip("+-").replace("_", "")
    sign = -1 if text.startswith("-") else 1
    if len(body) > 1 and body[0] == "0" and body[1] not in "xXoObB":
        return sign * int(body[1:], 8)
    return sign * int(body, 0)


class GcpSettings(BaseModel):
    """That webhook's flags (--annotation-prefix, --token-expiration, ...), prefixed with gcp-."""

    gcp_annotation_prefix: str = Field("cloud.google.com", description="GCP: prefix of the annotations read.")
    gcp_token_audience: str = Field("sts.googleapis.com", description="GCP: default token audience.")
    gcp_token_expiration: str = Field("24h0m0s", description="GCP: default token lifetime, a Go duration.")
    gcp_default_region: str = Field("", description="GCP: set CLOUDSDK_COMPUTE_REGION to this.")
    gcp_gcloud_image: str = Field(
        "google/cloud-sdk:slim", description="GCP: image of the gcloud-setup container."
    )
    gcp_token_default_mode: str = Field(
        "0440", description="GCP: defaultMode of the token volume (Go integer syntax: 0440 is octal)."
    )
    gcp_setup_container_resources: str = Field(
        "", description='GCP: resources of gcloud-setup as JSON, e.g. {"requests":{"cpu":"100m"}}.'
    )

    @field_validator("gcp_annotation_prefix")
    @classmethod
    def _gcp_prefix(cls, value: str) -> str:
        if not is_dns1123_subdomain(value.rstrip("/")):
            raise ValueError(f"annotation prefix {value!r} is not a DNS subdomain such as cloud.google.com")
        return value.rstrip("/")

    @field_validator("gcp_token_expiration")
    @classmethod
    def _gcp_expiration(cls, value: str) -> str:
        if go_duration_seconds(value) > MAX_EXPIRATION_SECONDS:
            raise ValueError(
                f"{value!r} is above {MAX_EXPIRATION_SECONDS}s, which the kube-apiserver rejects"
            )
        return value

    @field_validator("gcp_token_default_mode", mode="before")
    @classmethod
    def _gcp_mode(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # a YAML number is the mode's value; quote '0440' for octal
        if isinstance(value, str) and not 0 <= go_int(value) <= 0o777:
            raise ValueError(f"mode {value!r} is outside 0-0777")
        return value

    @field_validator("gcp_setup_container_resources")
    @classmethod
    def _gcp_resources(cls, value: str) -> str:
        if value:
            try:
                parsed = json.loads(value)
            except ValueError as exc:
                raise ValueError(f"not JSON: {exc}") from None
            if not isinstance(parsed, dict) or set(parsed) - {"limits", "requests", "claims"}:
                raise ValueError('give a resources object such as {"requests":{"cpu":"100m"}}')
        return value


def _key(settings: GcpSettings, name: str) -> str:
    return f"{settings.gcp_annotation_prefix}/{name}"


def _int(value: str, key: str, errors: list[str]) -> int | None:
    digits = value.lstrip("+-").lstrip("0")
    if not _INT_RE.fullmatch(value) or len(digits) > 19 or not -(2**63) <= int(value) < 2**63:
        errors.append(f"{key}={value[:32]!r} must be positive integer string")
        return None
    return int(value)


def credentials_json(provider: str, email: str) -> str:
    """The external-account credential configuration, as that webhook renders it (Go's json.Marshal)."""
    config = {
        "type": "external_account",
        "audience": f"//iam.googleapis.com/{provider}",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": "https://sts.googleapis.com/v1/token",
        "service_account_impersonation_url": (
            f"https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{email}:generateAccessToken"
        ),
        "credential_source": {"file": f"{TOKEN_MOUNT_PATH}/{TOKEN_FILE}", "format": {"type": "text"}},
    }
    return (
        json.dumps(config, separators=(",", ":"))
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


def resolve(
    pod: Mapping[str, Any], serviceaccount: ServiceAccountInfo | None, settings: GcpSettings
) -> DialectResult:
    if serviceaccount is None:
        return DialectResult(skipped=f"no ServiceAccount to read {_key(settings, PROVIDER)} from")
    sa = serviceaccount.annotations
    errors: list[str] = []
    provider, email = sa.get(_key(settings, PROVIDER)), sa.get(_key(settings, EMAIL))
    if provider is None and email is None:
        return DialectResult(skipped=f"ServiceAccount has no {_key(settings, PROVIDER)}")
    expiration = go_duration_seconds(settings.gcp_token_expiration)
    if (value := sa.get(_key(settings, EXPIRATION))) is not None:
        parsed = _int(value, _key(settings, EXPIRATION), errors)
        expiration = expiration if parsed is None else parsed
    run_as_user = None
    if (value := sa.get(_key(settings, RUN_AS_USER))) is not None:
        run_as_user = _int(value, _key(settings, RUN_AS_USER), errors)
    mode = "gcloud"
    if (value := sa.get(_key(settings, MODE))) is not None:
        mode = value.lower()
        if mode not in ("direct", "gcloud"):
            errors.append(f"{_key(settings, MODE)}={value[:32]!r}: mode must be 'direct', 'gcloud' or unset")
    if provider is None or email is None:
        errors.append(f"{_key(settings, PROVIDER)}, {_key(settings, EMAIL)} must set at a time")
    elif not _PROVIDER_RE.search(provider):
        errors.append(f"{_key(settings, PROVIDER)} must be form of {_PROVIDER_FORMAT}")
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    if (value := annotations.get(_key(settings, EXPIRATION))) is not None:
        parsed = _int(value, f"{_key(settings, EXPIRATION)} on the Pod", errors)
        expiration = expiration if parsed is None else parsed
    if errors or provider is None or email is None:
        return DialectResult(errors=tuple(errors))
    expiration = max(expiration, MIN_EXPIRATION)
    if expiration > MAX_EXPIRATION_SECONDS:
        return DialectResult(
            errors=(
                f"{_key(settings, EXPIRATION)}={expiration}: above {MAX_EXPIRATION_SECONDS}, which the "
                "kube-apiserver rejects; use at most that",
            )
        )
    audience = sa.get(_key(settings, AUDIENCE), settings.gcp_token_audience)
    match = _PROJECT_RE.search(email)
    project = match.group(1) if match else ""

    token = TokenSpec(
        name=TOKEN_VOLUME,
        audience=audience,
        expiration_seconds=expiration,
        mount_path=TOKEN_MOUNT_PATH,
        path=TOKEN_FILE,
        env="",
        dialect=NAME,
        volume_name=TOKEN_VOLUME,
        mount_path_source=f"the gcp dialect ({TOKEN_MOUNT_PATH})",
        field_keys=(
            ("audience", f"{_key(settings, AUDIENCE)} on the ServiceAccount"),
            ("expiration", _key(settings, EXPIRATION)),
            ("path", "the gcp dialect's file name"),
            ("mount-path", "the gcp dialect's mount path"),
        ),
    )
    replaced = [("GOOGLE_APPLICATION_CREDENTIALS", f"{CONFIG_MOUNT_PATH}/{CONFIG_FILE}")]
    if mode == "gcloud":
        replaced.append(("CLOUDSDK_CONFIG", CONFIG_MOUNT_PATH))
    if_absent = [("CLOUDSDK_COMPUTE_REGION", settings.gcp_default_region), ("CLOUDSDK_CORE_PROJECT", project)]
    env = [(name, value) for name, value in [*replaced, *if_absent] if value]
    written = {
        _key(settings, PROVIDER): provider,
        _key(settings, EMAIL): email,
        _key(settings, AUDIENCE): audience,
        _key(settings, EXPIRATION): str(expiration),
    }
    if mode == "direct":
        written[_key(settings, CREDENTIALS_JSON)] = credentials_json(provider, email)
    skips = frozenset(
        (
            SETUP_CONTAINER,
            *(n.strip() for n in str(annotations.get(_key(settings, SKIP_CONTAINERS), "")).split(",")),
        )
    )
    finish = _Finish(settings, mode, dict(replaced), skips, written, provider, email, project, run_as_user)
    injection = Injection(
        dialect=NAME,
        tokens=(token,),
        env=tuple(EnvGroup(((name, value),), frozenset((name,))) for name, value in env),
        skip_containers=skips,
        trust_existing_by_name=True,
        finish=finish,
    )
    return DialectResult(injection=injection)


class _Finish:
    """The config volume and its mounts, the replaced env values, the pod annotations, gcloud-setup."""

    def __init__(
        self,
        settings: GcpSettings,
        mode: str,
        replaced: dict[str, str],
        skips: frozenset[str],
        written: dict[str, str],
        provider: str,
        email: str,
        project: str,
        run_as_user: int | None,
    ) -> None:
        self.settings, self.mode, self.replaced, self.skips, self.written = (
            settings,
            mode,
            replaced,
            skips,
            written,
        )
        self.provider, self.email, self.project, self.run_as_user = provider, email, project, run_as_user

    def __call__(self, pod: Mapping[str, Any], patch: list[JsonPatchOp]) -> Extra:
        edit = PodEdit(pod, patch)
        errors: list[str] = []
        warnings: list[str] = []
        config_volume = DIRECT_VOLUME if self.mode == "direct" else CONFIG_VOLUME
        mode = go_int(self.settings.gcp_token_default_mode)
        if not edit.amend_new_volume(
            TOKEN_VOLUME, lambda volume: volume["projected"].update(defaultMode=mode)
        ):
            own = next(v for v in edit.spec.get("volumes") or [] if v.get("name") == TOKEN_VOLUME)
            if (own.get("projected") or {}).get("defaultMode") != mode:  # not ours from a first pass
                warnings.append(
                    f"volume {TOKEN_VOLUME!r} is the pod's own: kept (the GCP webhook replaces it)"
                )
        volumes = edit.get("spec", "volumes") or []
        if not any(v.get("name") == config_volume for v in volumes):
            edit.append(self._config_volume(mode), "spec", "volumes")
        mount: dict[str, Any] = {"name": config_volume, "mountPath": CONFIG_MOUNT_PATH}
        if self.mode == "direct":
            mount["readOnly"] = True
        for field in ("initContainers", "containers"):
            for index, container in enumerate(edit.spec.get(field) or []):
                if container.get("name") in self.skips:
                    continue
                mounts = container.get("volumeMounts") or []
                here = [m for m in mounts if m.get("mountPath", "").rstrip("/") == CONFIG_MOUNT_PATH]
                if any(m.get("name") != config_volume for m in here):
                    errors.append(
                        f"container {container.get('name')!r} already mounts volume "
                        f"{here[0].get('name')!r} at {CONFIG_MOUNT_PATH}, where the gcp dialect puts "
                        f"federation.json: move that mount or list the container in "
                        f"{_key(self.settings, SKIP_CONTAINERS)}"
                    )
                    continue
                if not any(m.get("name") == config_volume for m in mounts):
                    edit.append(mount, "spec", field, index, "volumeMounts")
                for position, env in enumerate(container.get("env") or []):
                    wanted = self.replaced.get(env.get("name"))
                    if wanted is not None and env.get("value") != wanted and "valueFrom" not in env:
                        edit.set_member("value", wanted, "spec", field, index, "env", position)
                        warnings.append(
                            f"container {container.get('name')!r}: {env['name']} set to {wanted}, as there"
                        )
        have = edit.get("metadata", "annotations")
        changed = {k: v for k, v in self.written.items() if not isinstance(have, Mapping) or have.get(k) != v}
        if changed and not isinstance(have, Mapping):
            edit.set_member(
                "annotations", changed, "metadata"
            )  # one op: none addresses inside another's value
        else:
            for key, value in changed.items():
                edit.set_member(key, value, "metadata", "annotations")
        if self.mode == "gcloud":
            setup = self._setup()
            existing = [c for c in edit.spec.get("initContainers") or [] if c.get("name") == SETUP_CONTAINER]
            if not existing:
                edit.insert(0, setup, "spec", "initContainers")
            elif not _same_setup(existing[0], setup):
                errors.append(
                    f"init container {SETUP_CONTAINER!r} is the pod's own and differs from the one the gcp "
                    "dialect adds (the GCP webhook replaces it): rename or remove it"
                )
        return Extra(ops=tuple(edit.ops), errors=tuple(errors), warnings=tuple(warnings))

    def _config_volume(self, mode: int) -> dict[str, Any]:
        if self.mode == "gcloud":
            return {"name": CONFIG_VOLUME, "emptyDir": {}}
        key = _key(self.settings, CREDENTIALS_JSON)
        item = {
            "path": CONFIG_FILE,
            "fieldRef": {"apiVersion": "v1", "fieldPath": f"metadata.annotations['{key}']"},
        }
        return {"name": DIRECT_VOLUME, "downwardAPI": {"items": [item], "defaultMode": mode}}

    def _setup(self) -> dict[str, Any]:
        env = [
            {"name": "GCP_WORKLOAD_IDENTITY_PROVIDER", "value": self.provider},
            {"name": "GCP_SERVICE_ACCOUNT", "value": self.email},
            {"name": "CLOUDSDK_CONFIG", "value": CONFIG_MOUNT_PATH},
        ]
        if self.project:
            env.append({"name": "CLOUDSDK_CORE_PROJECT", "value": self.project})
        script = (
            "gcloud iam workload-identity-pools create-cred-config \\\n"
            "  $(GCP_WORKLOAD_IDENTITY_PROVIDER) \\\n"
            "  --service-account=$(GCP_SERVICE_ACCOUNT) \\\n"
            f"  --output-file=$(CLOUDSDK_CONFIG)/{CONFIG_FILE} \\\n"
            f"  --credential-source-file={TOKEN_MOUNT_PATH}/{TOKEN_FILE}\n"
            f"gcloud auth login --cred-file=$(CLOUDSDK_CONFIG)/{CONFIG_FILE}\n"
        )
        security: dict[str, Any] = {"capabilities": {"drop": ["ALL"]}}
        if self.run_as_user is not None:
            security["runAsUser"] = self.run_as_user
        security["allowPrivilegeEscalation"] = False
        setup: dict[str, Any] = {
            "name": SETUP_CONTAINER,
            "image": self.settings.gcp_gcloud_image,
            "command": ["sh", "-c", script],
            "env": env,
        }
        if self.settings.gcp_setup_container_resources:
            setup["resources"] = json.loads(self.settings.gcp_setup_container_resources)
        setup["volumeMounts"] = [
            {"name": TOKEN_VOLUME, "readOnly": True, "mountPath": TOKEN_MOUNT_PATH},
            {"name": CONFIG_VOLUME, "mountPath": CONFIG_MOUNT_PATH},
        ]
        setup["securityContext"] = security
        return setup


def _same_setup(existing: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Our gcloud-setup from a first pass: what we set, whatever the apiserver added since (defaults, the
    ServiceAccount plugin's kube-api-access mount on reinvocation)."""
    for key, value in wanted.items():
        have = existing.get(key)
        if key == "volumeMounts":
            if not isinstance(have, list) or any(m not in have for m in value):
                return False
        elif have != value:
            return False
    return True


DIALECT = Dialect(
    name=NAME,
    summary="pfnet-research/gcp-workload-identity-federation-webhook (cloud.google.com/ annotations)",
    resolve=resolve,
    annotation_prefixes=lambda settings: (
        ((settings.gcp_annotation_prefix if settings is not None else "cloud.google.com") + "/"),
    ),
    settings=GcpSettings,
)
