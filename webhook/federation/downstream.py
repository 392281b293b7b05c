"""The downstream side: trust the upstream issuer (structured authn, --oidc-* flags, Gardener), RBAC."""

from __future__ import annotations

import base64
import re
import shlex
from collections.abc import Sequence
from typing import Any

from webhook.federation.common import InputError, check_https_url
from webhook.vocabulary import DNS1123_LABEL_RE

FORMATS = ("v1", "v1beta1", "oidc-flags", "gardener")
DNS1123_SUBDOMAIN_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
SA_USER = "system:serviceaccount:{namespace}:{name}"

# Seed 000's demo role: list pods, manage deployments.
DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "watch", "list"]},
    {
        "apiGroups": ["apps"],
        "resources": ["deployments"],
        "verbs": ["get", "watch", "list", "create", "update", "delete"],
    },
)


def check_username_prefix(prefix: str) -> list[str]:
    """Reject prefixes that leave the upstream's users in `system:`; return notes for the user."""
    example = prefix + SA_USER.format(namespace="NS", name="NAME")
    if not prefix:
        raise InputError(
            "--username-prefix must not be empty: unprefixed, upstream tokens would act as this cluster's "
            "own system:serviceaccount users"
        )
    if example.startswith("system:"):
        raise InputError(f"--username-prefix {prefix!r} makes usernames start with 'system:' ({example})")
    if any(ch.isspace() for ch in prefix):
        raise InputError(f"--username-prefix {prefix!r} must not contain whitespace")
    notes = [f"the RBAC username is prefix+sub literally: User {example!r}"]
    if prefix[-1].isalnum():
        notes.append(f"--username-prefix {prefix!r} has no trailing separator (':' or '-'); was that meant?")
    return notes


def check_audiences(audiences: Sequence[str]) -> list[str]:
    if not audiences or any(not a.strip() for a in audiences):
        raise InputError("--audience must be given and not be empty")
    if len(set(audiences)) != len(audiences):
        raise InputError("--audience values must be distinct")
    return list(audiences)


def authentication_configuration(
    *,
    issuer: str,
    audiences: Sequence[str],
    username_prefix: str,
    discovery_url: str | None = None,
    ca_pem: str | None = None,
    version: str = "v1",
) -> dict[str, Any]:
    """AuthenticationConfiguration (apiserver.config.k8s.io) with one JWT authenticator for the upstream."""
    check_https_url(issuer, "--issuer")
    audiences = check_audiences(audiences)
    check_username_prefix(username_prefix)
    if version not in ("v1", "v1beta1"):
        raise InputError(f"AuthenticationConfiguration version {version!r} unknown; use v1 or v1beta1")
    issuer_spec: dict[str, Any] = {"url": issuer}
    if discovery_url:
        check_https_url(discovery_url, "--discovery-url")
        if discovery_url.rstrip("/") == issuer.rstrip("/"):
            raise InputError("--discovery-url must differ from --issuer (leave it out to use the issuer's)")
        issuer_spec["discoveryURL"] = discovery_url
    if ca_pem:
        issuer_spec["certificateAuthority"] = ca_pem
    issuer_spec["audiences"] = audiences
    if len(audiences) > 1:
        issuer_spec["audienceMatchPolicy"] = "MatchAny"
    return {
        "apiVersion": f"apiserver.config.k8s.io/{version}",
        "kind": "AuthenticationConfiguration",
        "jwt": [
            {
                "issuer": issuer_spec,
                "claimMappings": {"username": {"claim": "sub", "prefix": username_prefix}},
                # Defence in depth: whatever the prefix, never authenticate a system: user from outside.
                "userValidationRules": [
                    {
                        "expression": "!user.username.startsWith('system:')",
                        "message": "username must not use the reserved system: prefix",
                    }
                ],
            }
        ],
    }


def oidc_flags(
    *, issuer: str, audiences: Sequence[str], username_prefix: str, ca_file: str | None = None
) -> list[str]:
    """The legacy kube-apiserver --oidc-* flags (one issuer, one client ID), shell-quoted."""
    check_https_url(issuer, "--issuer")
    audiences = check_audiences(audiences)
    check_username_prefix(username_prefix)
    if len(audiences) != 1:
        raise InputError("--format oidc-flags takes exactly one --audience (--oidc-client-id)")
    flags = [
        f"--oidc-issuer-url={issuer}",
        f"--oidc-client-id={audiences[0]}",
        "--oidc-username-claim=sub",
        f"--oidc-username-prefix={username_prefix}",
    ]
    if ca_file:
        flags.append(f"--oidc-ca-file={ca_file}")
    return [shlex.quote(flag) for flag in flags]


def gardener_openidconnect(
    *, issuer: str, audiences: Sequence[str], username_prefix: str, name: str, ca_pem: str | None = None
) -> dict[str, Any]:
    """Gardener's OpenIDConnect resource (oidc-webhook-authenticator, shoot-oidc-service)."""
    check_https_url(issuer, "--issuer")
    audiences = check_audiences(audiences)
    check_username_prefix(username_prefix)
    if len(audiences) != 1:
        raise InputError("--format gardener takes exactly one --audience (spec.clientID)")
    if username_prefix == "-":
        raise InputError("--username-prefix '-' disables prefixing in Gardener; choose a real prefix")
    if not DNS1123_SUBDOMAIN_RE.fullmatch(name) or len(name) > 253:
        raise InputError(f"--name {name!r} is not a valid object name (lowercase letters, digits, '-', '.')")
    spec: dict[str, Any] = {
        "issuerURL": issuer,
        "clientID": audiences[0],
        "usernameClaim": "sub",
        "usernamePrefix": username_prefix,
    }
    if ca_pem:
        spec["caBundle"] = base64.b64encode(ca_pem.encode()).decode()
    return {
        "apiVersion": "authentication.gardener.cloud/v1alpha1",
        "kind": "OpenIDConnect",
        "metadata": {"name": name},
        "spec": spec,
    }


def parse_serviceaccount(value: str) -> tuple[str, str]:
    namespace, sep, name = value.partition("/")
    if not sep or not DNS1123_LABEL_RE.fullmatch(namespace) or len(namespace) > 63:
        raise InputError(f"--serviceaccount {value!r} must be NAMESPACE/NAME")
    if not DNS1123_SUBDOMAIN_RE.fullmatch(name) or len(name) > 253:
        raise InputError(f"--serviceaccount {value!r}: {name!r} is not a valid ServiceAccount name")
    return namespace, name


def username(prefix: str, namespace: str, name: str) -> str:
    return prefix + SA_USER.format(namespace=namespace, name=name)


def rules_from(resources: Sequence[str], verbs: Sequence[str]) -> list[dict[str, Any]]:
    """Rules for [GROUP/]RESOURCE entries, grouped by API group; defaults are seed 000's demo role."""
    if not resources and not verbs:
        return [dict(rule) for rule in DEFAULT_RULES]
    verbs = list(dict.fromkeys(verbs)) or ["get", "list", "watch"]
    if any(not v or not v.replace("*", "x").isalpha() for v in verbs):
        raise InputError(f"--verbs {','.join(verbs)!r}: each verb is a word like get, list or '*'")
    by_group: dict[str, list[str]] = {}
    for entry in resources or ("pods", "apps/deployments"):
        group, _, resource = entry.rpartition("/")
        if not resource or "/" in group:
            raise InputError(
                f"--resource {entry!r} must be RESOURCE or GROUP/RESOURCE (e.g. apps/deployments)"
            )
        by_group.setdefault(group, []).append(resource)
    return [{"apiGroups": [g], "resources": r, "verbs": verbs} for g, r in by_group.items()]


def rbac(
    *,
    username_prefix: str,
    serviceaccounts: Sequence[str],
    namespace: str | None,
    name: str = "kubernetes-oidc",
    resources: Sequence[str] = (),
    verbs: Sequence[str] = (),
    role: str | None = None,
    cluster_role: str | None = None,
) -> list[dict[str, Any]]:
    """Role+RoleBinding, a RoleBinding to an existing (Cluster)Role, or a ClusterRoleBinding."""
    check_username_prefix(username_prefix)
    if not serviceaccounts:
        raise InputError("--serviceaccount NAMESPACE/NAME is required (repeatable)")
    if sum(bool(x) for x in (role, cluster_role, resources or verbs)) > 1:
        raise InputError("--role, --cluster-role and --verbs/--resource are mutually exclusive")
    if namespace is not None and (not DNS1123_LABEL_RE.fullmatch(namespace) or len(namespace) > 63):
        raise InputError(f"--namespace {namespace!r} is not a valid namespace name")
    if not DNS1123_SUBDOMAIN_RE.fullmatch(name):
        raise InputError(f"--name {name!r} is not a valid object name")
    subjects = [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": username(username_prefix, ns, sa)}
        for ns, sa in dict.fromkeys(parse_serviceaccount(v) for v in serviceaccounts)
    ]
    if cluster_role is not None and namespace is None:
        return [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": f"{name}-binding"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": cluster_role,
                },
                "subjects": subjects,
            }
        ]
    if namespace is None:
        raise InputError("--namespace is required (only --cluster-role can bind cluster-wide)")
    docs: list[dict[str, Any]] = []
    if cluster_role is not None:
        ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role}
    else:
        role_name = role or f"{name}-role"
        ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name}
        if role is None:
            docs.append(
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "Role",
                    "metadata": {"name": role_name, "namespace": namespace},
                    "rules": rules_from(resources, verbs),
                }
            )
    docs.append(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": f"{name}-binding", "namespace": namespace},
            "roleRef": ref,
            "subjects": subjects,
        }
    )
    return docs
