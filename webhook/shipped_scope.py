"""The shipped install's scope (manifests/base) as data, so that `webhook render` does not read and parse
the install's manifests every time (deployment.yaml needs the exact YAML loader, PyYAML).
tests/manifests/test_shipped_scope.py reads the manifests and requires this value: update it with them."""

from __future__ import annotations

from webhook.selectors import Requirement, Scope, Selector

SHIPPED = "the shipped install (webhook manifests)"

_OPTED_OUT = Requirement("projected-token.io/inject", "NotIn", frozenset(("false",)))

SHIPPED_SCOPE = Scope(
    object_selector=Selector((_OPTED_OUT,)),
    namespace_selector=Selector(
        (
            Requirement(
                "kubernetes.io/metadata.name", "NotIn", frozenset(("kube-system", "projected-token-webhook"))
            ),
            _OPTED_OUT,
        )
    ),
    excluded_namespaces=frozenset(("kube-system", "projected-token-webhook")),
    origin=SHIPPED,
    webhook="inject.projected-token.io",
)
