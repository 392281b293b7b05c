"""ArgoCD on the upstream cluster: token patches, ServiceAccount annotations, the cluster Secret."""

from __future__ import annotations

import base64
import json
import posixpath
import re
from typing import Any

from webhook.federation.common import InputError
from webhook.federation.credential import EXEC_API_VERSION, bash_credential_script
from webhook.vocabulary import DNS1123_LABEL_RE, MAX_EXPIRATION_SECONDS, MIN_EXPIRATION_SECONDS

# (kind, name, container) of the two ArgoCD workloads that talk to managed clusters.
WORKLOADS = (
    ("StatefulSet", "argocd-application-controller", "argocd-application-controller"),
    ("Deployment", "argocd-server", "argocd-server"),
)
SERVICEACCOUNTS = ("argocd-application-controller", "argocd-server")
DEFAULT_AUDIENCE = "downstream-cluster"
DEFAULT_MOUNT_PATH = "/var/run/secrets/tokens"
DEFAULT_PATH = "federated-token"
DEFAULT_VOLUME = "federated-token"
EXEC_FORMS = ("bash", "argocd-k8s-auth")


def check_token_location(audience: str, mount_path: str, path: str) -> None:
    if not audience:
        raise InputError("--audience must not be empty")
    if not mount_path.startswith("/"):
        raise InputError(f"--mount-path {mount_path!r} must be absolute")
    if not path or path.startswith("/") or ".." in path.split("/"):
        raise InputError(f"--path {path!r} must be a relative file name without '..'")


def check_expiration(seconds: int | None) -> None:
    if seconds is not None and not MIN_EXPIRATION_SECONDS <= seconds <= MAX_EXPIRATION_SECONDS:
        raise InputError(
            f"--expiration-seconds {seconds} out of range {MIN_EXPIRATION_SECONDS}..{MAX_EXPIRATION_SECONDS}"
        )


def token_patch(
    container: str,
    *,
    audience: str,
    mount_path: str = DEFAULT_MOUNT_PATH,
    path: str = DEFAULT_PATH,
    volume: str = DEFAULT_VOLUME,
    expiration_seconds: int | None = None,
) -> dict[str, Any]:
    """Strategic-merge patch adding the projected token to one container (merged by name, not replaced)."""
    check_token_location(audience, mount_path, path)
    check_expiration(expiration_seconds)
    if not DNS1123_LABEL_RE.fullmatch(volume) or len(volume) > 63:
        raise InputError(f"--volume-name {volume!r} must be a DNS-1123 label")
    source: dict[str, Any] = {"path": path, "audience": audience}
    if expiration_seconds is not None:
        source["expirationSeconds"] = expiration_seconds
    return {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": container,
                            "volumeMounts": [{"name": volume, "mountPath": mount_path, "readOnly": True}],
                        }
                    ],
                    "volumes": [
                        {"name": volume, "projected": {"sources": [{"serviceAccountToken": source}]}}
                    ],
                }
            }
        }
    }


def patch_files(**kwargs: Any) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """{file name: (kind, workload name, patch)} for both ArgoCD workloads, named as in the seed."""
    return {
        f"{name}-token-patch.yaml": (kind, name, token_patch(container, **kwargs))
        for kind, name, container in WORKLOADS
    }


def serviceaccount_annotations(
    *,
    audience: str,
    mount_path: str = DEFAULT_MOUNT_PATH,
    path: str = DEFAULT_PATH,
    token_name: str | None = "downstream",
    prefix: str = "projected-token.io",
    expiration_seconds: int | None = None,
    env: str | None = None,
) -> dict[str, str]:
    """Generic-dialect annotations that make the webhook mount the same token at mount_path/path."""
    check_token_location(audience, mount_path, path)
    check_expiration(expiration_seconds)
    if not prefix or "/" in prefix:
        raise InputError(f"--prefix {prefix!r} must be a non-empty DNS prefix without '/'")
    if token_name is not None and (not DNS1123_LABEL_RE.fullmatch(token_name) or len(token_name) > 63):
        raise InputError(f"--token-name {token_name!r} must be a DNS-1123 label")
    if "/" in path:
        # The dialect's path is a file name inside mount-path; fold sub-directories into the mount path.
        mount_path, path = posixpath.join(mount_path, posixpath.dirname(path)), posixpath.basename(path)
    key = f"{prefix}/{token_name}." if token_name else f"{prefix}/"
    annotations = {f"{key}audience": audience, f"{key}path": path}
    if mount_path.rstrip("/") != DEFAULT_MOUNT_PATH:
        annotations[f"{key}mount-path"] = mount_path.rstrip("/")
    if expiration_seconds is not None:
        annotations[f"{key}expiration-seconds"] = str(expiration_seconds)
    if env is not None:
        annotations[f"{key}env"] = env
    return annotations


def annotated_serviceaccounts(
    annotations: dict[str, str], *, namespace: str = "argocd", names: tuple[str, ...] = SERVICEACCOUNTS
) -> list[dict[str, Any]]:
    """Partial ServiceAccounts carrying only the annotations, for `kubectl apply --server-side`."""
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace, "annotations": dict(annotations)},
        }
        for name in names
    ]


def exec_provider(token_file: str, form: str = "bash") -> dict[str, Any]:
    """execProviderConfig: `bash` works with stock images; `argocd-k8s-auth token-file` never merged."""
    if not token_file.startswith("/"):
        raise InputError(f"--token-file {token_file!r} must be the absolute path inside the ArgoCD pods")
    if form == "bash":
        return {
            "command": "bash",
            "args": ["-c", bash_credential_script(token_file)],
            "apiVersion": EXEC_API_VERSION,
        }
    if form == "argocd-k8s-auth":
        return {
            "command": "argocd-k8s-auth",
            "args": ["token-file", "--file", token_file],
            "apiVersion": EXEC_API_VERSION,
        }
    raise InputError(f"--exec {form!r} unknown; choose one of {', '.join(EXEC_FORMS)}")


def cluster_secret(
    *,
    name: str,
    server: str,
    ca_pem: str,
    token_file: str,
    form: str = "bash",
    namespace: str = "argocd",
    secret_name: str | None = None,
) -> dict[str, Any]:
    """The declarative ArgoCD cluster Secret; `config` is JSON built by json.dumps, so escaping is exact."""
    if not name:
        raise InputError("--name must not be empty")
    # Seed 000 names it <name>-secret; ArgoCD cluster names may hold characters object names cannot.
    secret_name = secret_name or re.sub(r"[^a-z0-9.-]+", "-", name.lower()).strip("-.") + "-secret"
    if not DNS1123_LABEL_RE.fullmatch(secret_name.replace(".", "-")) or len(secret_name) > 253:
        raise InputError(f"Secret name {secret_name!r} is not a valid object name; pass --secret-name")
    config = {
        "execProviderConfig": exec_provider(token_file, form),
        "tlsClientConfig": {"insecure": False, "caData": base64.b64encode(ca_pem.encode()).decode()},
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_name,
            "namespace": namespace,
            "labels": {"argocd.argoproj.io/secret-type": "cluster"},
        },
        "type": "Opaque",
        "stringData": {"name": name, "server": server, "config": json.dumps(config, indent=2) + "\n"},
    }
