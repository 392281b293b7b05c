"""The azure dialect: a drop-in for Azure Workload Identity's mutating webhook (azure-workload-identity,
`pkg/webhook`).

Same inputs (the pod label `azure.workload.identity/use: "true"`, the `azure.workload.identity/*`
annotations, that webhook's flags and config as settings) and the same resulting pod: the
`azure-identity-token` volume at /var/run/secrets/azure/tokens, its read-only mount, AZURE_CLIENT_ID,
AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE and AZURE_AUTHORITY_HOST (each only when the container lacks it
and its value is not empty), and on request the IMDS proxy's init container and sidecar. Where that webhook
refuses a pod (an expiration outside 3600-86400 or not a number, a bad proxy port, the proxy with
hostNetwork) the pod is denied with a message naming the annotation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator, model_validator

from webhook.dialects.base import Dialect, Flag
from webhook.dialects.podpatch import PodEdit
from webhook.vocabulary import (
    MAPPING_TYPES,
    DialectResult,
    EnvGroup,
    Extra,
    Injection,
    JsonPatchOp,
    ServiceAccountInfo,
    TokenSpec,
)

NAME = "azure"
DOMAIN = "azure.workload.identity"
USE_LABEL = f"{DOMAIN}/use"
CLIENT_ID = f"{DOMAIN}/client-id"
TENANT_ID = f"{DOMAIN}/tenant-id"
EXPIRATION = f"{DOMAIN}/service-account-token-expiration"
SKIP_CONTAINERS = f"{DOMAIN}/skip-containers"
INJECT_PROXY = f"{DOMAIN}/inject-proxy-sidecar"
PROXY_PORT = f"{DOMAIN}/proxy-sidecar-port"

VOLUME_NAME = "azure-identity-token"
TOKEN_FILE = "azure-identity-token"
MOUNT_PATH = "/var/run/secrets/azure/tokens"
CA_FILE = "ca-cert/ca.crt"  # inside the token volume, beside the token (custom token endpoint)
DEFAULT_AUDIENCE = "api://AzureADTokenExchange"
MIN_EXPIRATION, MAX_EXPIRATION, DEFAULT_EXPIRATION = 3600, 86400, 3600
DEFAULT_PROXY_PORT = 8000
PROXY_INIT_NAME = "azwi-proxy-init"
PROXY_NAME = "azwi-proxy"
PROXY_REGISTRY = "mcr.microsoft.com/oss/azure/workload-identity"
PROXY_VERSION = "v1.1.0"

# github.com/Azure/go-autorest's azure.EnvironmentFromName: the name, upper-cased -> ActiveDirectoryEndpoint.
AUTHORITY_HOSTS = {
    "AZURECLOUD": "https://login.microsoftonline.com/",
    "AZUREPUBLICCLOUD": "https://login.microsoftonline.com/",
    "AZURECHINACLOUD": "https://login.chinacloudapi.cn/",
    "AZUREGERMANCLOUD": "https://login.microsoftonline.de/",
    "AZUREUSGOVERNMENT": "https://login.microsoftonline.us/",
    "AZUREUSGOVERNMENTCLOUD": "https://login.microsoftonline.us/",
}
_INT_RE = re.compile(r"[+-]?[0-9]+")
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}  # Go's strconv.ParseBool
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}
# Kubernetes' qualified-name rule (the webhook checks the custom token endpoint's annotation key with it).
_QUALIFIED_NAME = re.compile(
    r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
)
_LOG_LEVELS = ("", "info", "debug", "trace", "all")


class AzureSettings(BaseModel):
    """That webhook's flags (--audience, --log-level, --custom-token-endpoint-*) and its config env vars
    (AZURE_TENANT_ID, AZURE_ENVIRONMENT, PROXY_IMAGE, ...), prefixed with azure-."""

    azure_tenant_id: str = Field(
        "", description="Azure: AZURE_TENANT_ID unless the ServiceAccount names one (required)."
    )
    azure_environment: str = Field(
        "AzurePublicCloud",
        description="Azure: cloud whose login endpoint is AZURE_AUTHORITY_HOST (AZURE_ENVIRONMENT).",
    )
    azure_authority_host: str = Field(
        "", description="Azure: AZURE_AUTHORITY_HOST instead of the environment's."
    )
    azure_audience: str = Field(DEFAULT_AUDIENCE, description="Azure: token audience (--audience).")
    azure_proxy_image: str = Field(
        f"{PROXY_REGISTRY}/proxy:{PROXY_VERSION}",
        description="Azure: image of the azwi-proxy sidecar (PROXY_IMAGE).",
    )
    azure_proxy_init_image: str = Field(
        f"{PROXY_REGISTRY}/proxy-init:{PROXY_VERSION}",
        description="Azure: image of the azwi-proxy-init container (PROXY_INIT_IMAGE).",
    )
    azure_log_level: str = Field(
        "", description="Azure: --log-level the proxy runs at: '', info, debug, trace, all."
    )
    azure_native_sidecar: Annotated[bool, Flag(negatable=True)] = Field(
        True, description="Azure: the proxy as a native sidecar (that webhook's choice on Kubernetes 1.32+)."
    )
    azure_custom_token_endpoint_annotation_suffix: str = Field(
        "",
        description="Azure: pods with azure.workload.identity/use-<suffix>=true use the custom endpoint.",
    )
    azure_custom_token_endpoint_audience: str = Field(
        "", description="Azure: token audience for pods using the custom token endpoint."
    )
    azure_kubernetes_token_proxy: str = Field(
        "", description="Azure: AZURE_KUBERNETES_TOKEN_PROXY for the custom token endpoint."
    )
    azure_kubernetes_sni_name: str = Field(
        "", description="Azure: AZURE_KUBERNETES_SNI_NAME for the custom token endpoint."
    )
    azure_kubernetes_ca_configmap_name: str = Field(
        "",
        description="Azure: ConfigMap whose ca.crt the token volume carries for the custom token endpoint.",
    )
    azure_kubernetes_ca_data: str = Field(
        "", description="Azure: AZURE_KUBERNETES_CA_DATA for the custom token endpoint."
    )

    @field_validator("azure_environment")
    @classmethod
    def _azure_environment(cls, value: str) -> str:
        if value.upper() not in AUTHORITY_HOSTS:
            known = "AzurePublicCloud, AzureChinaCloud, AzureUSGovernmentCloud, AzureGermanCloud"
            raise ValueError(f"unknown Azure environment {value!r}; one of {known}")
        return value

    @field_validator("azure_log_level")
    @classmethod
    def _azure_log_level(cls, value: str) -> str:
        if value not in _LOG_LEVELS:
            raise ValueError(f"log level {value!r}: one of '', info, debug, trace, all")
        return value

    @model_validator(mode="after")
    def _azure_required(self) -> AzureSettings:
        # Checked only when the dialect is on: its settings exist (with defaults) whatever --dialects says.
        if NAME not in (getattr(self, "dialects", None) or ()):
            return self
        if not self.azure_tenant_id:
            raise ValueError("the azure dialect needs --azure-tenant-id (that webhook's AZURE_TENANT_ID)")
        suffix = self.azure_custom_token_endpoint_annotation_suffix
        audience = self.azure_custom_token_endpoint_audience
        if bool(suffix) != bool(audience):
            raise ValueError(
                "--azure-custom-token-endpoint-annotation-suffix and --azure-custom-token-endpoint-audience "
                "go together: set both or neither"
            )
        if audience and audience.lower() == DEFAULT_AUDIENCE.lower():
            raise ValueError(
                f"--azure-custom-token-endpoint-audience cannot be the default audience {DEFAULT_AUDIENCE}"
            )
        if suffix:
            key = f"{DOMAIN}/use-{suffix}".lower()
            name = key.rpartition("/")[2]
            if not _QUALIFIED_NAME.fullmatch(key) or len(name) > 63:
                raise ValueError(
                    f"custom token endpoint annotation key {key!r} is not a valid annotation key"
                )
        return self


def authority_host(settings: AzureSettings) -> str:
    return settings.azure_authority_host or AUTHORITY_HOSTS[settings.azure_environment.upper()]


def _expiration(value: str, where: str, errors: list[str]) -> int:
    digits = value.lstrip("+-").lstrip("0")
    if not _INT_RE.fullmatch(value) or len(digits) > 19 or not -(2**63) <= int(value) < 2**63:
        errors.append(
            f"{EXPIRATION}={value[:32]!r} on the {where} is not an integer; give seconds between "
            f"{MIN_EXPIRATION} and {MAX_EXPIRATION}"
        )
        return DEFAULT_EXPIRATION
    seconds = int(value)
    if not MIN_EXPIRATION <= seconds <= MAX_EXPIRATION:
        errors.append(
            f"{EXPIRATION}={value!r} on the {where}: token expiration {seconds} not valid, expected a value "
            f"between {MIN_EXPIRATION} and {MAX_EXPIRATION}"
        )
    return seconds


def _proxy_port(annotations: Mapping[str, Any], errors: list[str]) -> int:
    value = annotations.get(PROXY_PORT)
    if value is None:
        return DEFAULT_PROXY_PORT
    if not _INT_RE.fullmatch(value) or len(value) > 12 or not 1 <= int(value) <= 65535:
        errors.append(f"{PROXY_PORT}={value[:32]!r}: failed to parse proxy sidecar port; give a port 1-65535")
        return DEFAULT_PROXY_PORT
    return int(value)


def skip_containers(annotations: Mapping[str, Any]) -> frozenset[str]:
    """The pod's `skip-containers`: names separated by `;`, as that webhook reads it."""
    value = annotations.get(SKIP_CONTAINERS)
    if not isinstance(value, str) or not value:
        return frozenset()
    return frozenset(name.strip() for name in value.split(";"))


def resolve(
    pod: Mapping[str, Any], serviceaccount: ServiceAccountInfo | None, settings: AzureSettings
) -> DialectResult:
    metadata = pod.get("metadata") or {}
    labels = metadata.get("labels") or {}
    # That webhook's objectSelector sends only pods labelled so (its handler never looks): render agrees.
    if not isinstance(labels, MAPPING_TYPES) or labels.get(USE_LABEL) != "true":
        return DialectResult(skipped=f"no {USE_LABEL}=true label")
    if serviceaccount is None:
        return DialectResult(skipped=f"no ServiceAccount to read {CLIENT_ID} from")
    annotations = metadata.get("annotations") or {}
    sa = serviceaccount.annotations
    errors: list[str] = []
    warnings: list[str] = []

    proxy = False
    port = DEFAULT_PROXY_PORT
    if (value := annotations.get(INJECT_PROXY)) is not None:
        # That webhook injects on the key alone, even for "false"; its docs say the default is false.
        proxy = value in _TRUE
        if value not in _TRUE | _FALSE:
            warnings.append(f"{INJECT_PROXY}={value[:16]!r} is not a boolean; no proxy injected")
    if proxy:
        if (pod.get("spec") or {}).get("hostNetwork") is True:
            errors.append(
                f"{INJECT_PROXY}: hostNetwork is set to true, cannot inject proxy sidecar (it would change "
                "the node's network); remove the annotation or hostNetwork"
            )
        port = _proxy_port(annotations, errors)

    expiration = DEFAULT_EXPIRATION
    if value := annotations.get(EXPIRATION):  # the pod's wins; an empty value counts as unset
        expiration = _expiration(value, "Pod", errors)
    elif value := sa.get(EXPIRATION):
        expiration = _expiration(value, "ServiceAccount", errors)
    if errors:
        return DialectResult(errors=tuple(errors), warnings=tuple(warnings))

    client_id = sa.get(CLIENT_ID, "")
    if not client_id:
        warnings.append(f"ServiceAccount has no {CLIENT_ID}: AZURE_CLIENT_ID is not set")
    tenant_id = sa.get(TENANT_ID, settings.azure_tenant_id)  # present but empty: no AZURE_TENANT_ID
    suffix = settings.azure_custom_token_endpoint_annotation_suffix
    custom = bool(suffix) and str(annotations.get(f"{DOMAIN}/use-{suffix}", "")).lower() == "true"
    audience = settings.azure_custom_token_endpoint_audience if custom else settings.azure_audience

    token = TokenSpec(
        name=VOLUME_NAME,
        audience=audience,
        expiration_seconds=expiration,
        mount_path=MOUNT_PATH,
        path=TOKEN_FILE,
        env="AZURE_FEDERATED_TOKEN_FILE",
        dialect=NAME,
        volume_name=VOLUME_NAME,
        mount_path_source=f"the azure dialect ({MOUNT_PATH})",
        field_keys=(
            ("audience", "--azure-audience"),
            ("expiration", EXPIRATION),
            ("path", "the azure dialect's file name"),
            ("mount-path", "the azure dialect's mount path"),
        ),
    )
    values = [
        ("AZURE_CLIENT_ID", client_id),
        ("AZURE_TENANT_ID", tenant_id),
        ("AZURE_FEDERATED_TOKEN_FILE", token.file_path),
        ("AZURE_AUTHORITY_HOST", authority_host(settings)),
    ]
    if custom:
        values += [
            ("AZURE_KUBERNETES_TOKEN_PROXY", settings.azure_kubernetes_token_proxy),
            ("AZURE_KUBERNETES_SNI_NAME", settings.azure_kubernetes_sni_name),
            ("AZURE_KUBERNETES_CA_FILE", f"{MOUNT_PATH}/{CA_FILE}"),
            ("AZURE_KUBERNETES_CA_DATA", settings.azure_kubernetes_ca_data),
        ]
    env = [(name, value) for name, value in values if value]  # empty values are never added, as there
    skips = skip_containers(annotations)
    ca_configmap = settings.azure_kubernetes_ca_configmap_name if custom else ""
    finish = None
    if proxy or ca_configmap:
        finish = _Finish(settings, env, skips, port if proxy else 0, ca_configmap)
    injection = Injection(
        dialect=NAME,
        tokens=(token,),
        env=tuple(EnvGroup(((name, value),), frozenset((name,))) for name, value in env),
        skip_containers=skips,
        trust_existing_by_name=True,  # a mount or volume of our name counts as ours, as there
        finish=finish,
    )
    return DialectResult(injection=injection, warnings=tuple(warnings))


class _Finish:
    """The proxy's containers (which get the env and mount like every other) and the CA in the volume."""

    def __init__(
        self, settings: AzureSettings, env: list[tuple[str, str]], skips: frozenset[str], port: int, ca: str
    ) -> None:
        self.settings = settings
        self.env = env
        self.skips = skips
        self.port = port
        self.ca = ca

    def __call__(self, pod: Mapping[str, Any], patch: list[JsonPatchOp]) -> Extra:
        edit = PodEdit(pod, patch)
        if self.ca:
            self._ca(edit)
        if self.port:
            self._proxy(edit)
        return Extra(ops=tuple(edit.ops))

    def _ca(self, edit: PodEdit) -> None:
        # Only into the volume this patch adds: a volume of that name already there is the pod's own.
        source = {
            "configMap": {"name": self.ca, "items": [{"key": "ca.crt", "path": CA_FILE}], "optional": False}
        }
        edit.amend_new_volume(VOLUME_NAME, lambda volume: volume["projected"]["sources"].append(source))

    def _dressed(self, container: dict[str, Any]) -> dict[str, Any]:
        """The container as that webhook's later pass over every container leaves it."""
        if container["name"] in self.skips:
            return container
        have = {e["name"] for e in container.get("env", [])}
        env = [*container.get("env", []), *({"name": n, "value": v} for n, v in self.env if n not in have)]
        mount = {"name": VOLUME_NAME, "readOnly": True, "mountPath": MOUNT_PATH}
        out = {**container, "env": env, "volumeMounts": [mount]}
        return {k: out[k] for k in _CONTAINER_ORDER if k in out}

    def _proxy(self, edit: PodEdit) -> None:
        settings, port = self.settings, self.port
        level = settings.azure_log_level or "warning"  # unset: that webhook's logger enables warnings only
        init = edit.spec.get("initContainers") or []
        if not any(c.get("name") == PROXY_INIT_NAME for c in init):
            proxy_init = {
                "name": PROXY_INIT_NAME,
                "image": settings.azure_proxy_init_image,
                "env": [{"name": "PROXY_PORT", "value": str(port)}],
                "imagePullPolicy": "IfNotPresent",
                "securityContext": {
                    "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
                    "privileged": True,
                    "runAsUser": 0,
                    "runAsNonRoot": False,
                },
            }
            edit.append(self._dressed(proxy_init), "spec", "initContainers")
        field = "initContainers" if settings.azure_native_sidecar else "containers"
        if any(c.get("name") == PROXY_NAME for c in edit.spec.get(field) or []):
            return
        sidecar: dict[str, Any] = {
            "name": PROXY_NAME,
            "image": settings.azure_proxy_image,
            "args": [f"--proxy-port={port}", f"--log-level={level}"],
            "ports": [{"containerPort": port}],
            "lifecycle": {
                "postStart": {
                    "exec": {"command": ["/proxy", f"--proxy-port={port}", "--probe", f"--log-level={level}"]}
                }
            },
            "imagePullPolicy": "IfNotPresent",
            "securityContext": {
                "capabilities": {"drop": ["ALL"]},
                "privileged": False,
                "runAsNonRoot": True,
                "readOnlyRootFilesystem": True,
                "allowPrivilegeEscalation": False,
            },
        }
        if settings.azure_native_sidecar:
            sidecar["restartPolicy"] = "Always"
        edit.insert(0, self._dressed(sidecar), "spec", field)  # first, as there


# The order the Kubernetes API serialises a container's fields in.
_CONTAINER_ORDER = (
    "name",
    "image",
    "args",
    "ports",
    "env",
    "restartPolicy",
    "volumeMounts",
    "lifecycle",
    "imagePullPolicy",
    "securityContext",
)

DIALECT = Dialect(
    name=NAME,
    summary="Azure Workload Identity's webhook (azure.workload.identity/client-id)",
    resolve=resolve,
    annotation_prefixes=lambda settings: (f"{DOMAIN}/",),
    settings=AzureSettings,
    opt_in_selector=({"key": USE_LABEL, "operator": "In", "values": ["true"]},),
)
