"""The install's scope, as the kube-apiserver applies it before calling the webhook: a
MutatingWebhookConfiguration's objectSelector and namespaceSelector, and the server's --excluded-namespaces.

Pure. Selector semantics are the apiserver's LabelSelector: matchLabels and matchExpressions (In, NotIn,
Exists, DoesNotExist) all hold; an empty or absent selector matches everything; every namespace carries
`kubernetes.io/metadata.name: <its name>`. Render uses it; the server needs none (the apiserver selects).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from webhook.vocabulary import MAPPING_TYPES

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
EXCLUDED_NAMESPACES_FLAG = "--excluded-namespaces"


class ScopeError(ValueError):
    """A MutatingWebhookConfiguration or selector the apiserver would not accept."""


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: str
    values: frozenset[str] = frozenset()

    def holds(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return labels.get(self.key) in self.values
        if self.operator == "NotIn":
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels  # DoesNotExist

    def __str__(self) -> str:
        if self.operator in ("Exists", "DoesNotExist"):
            return f"{self.key} {self.operator}"
        return f"{self.key} {self.operator} [{', '.join(sorted(self.values))}]"


@dataclass(frozen=True, slots=True)
class Selector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.holds(labels) for r in self.requirements)

    def first_failing(self, labels: Mapping[str, str]) -> Requirement | None:
        for requirement in self.requirements:  # a loop, not next(genexpr): render asks for every template
            if not requirement.holds(labels):
                return requirement
        return None


def parse_selector(value: Any, where: str) -> Selector:
    """A metav1.LabelSelector (plain data) -> Selector; ScopeError naming `where` if it is malformed."""
    if value is None:
        return Selector()
    if not isinstance(value, MAPPING_TYPES):
        raise ScopeError(f"{where} must be an object")
    requirements: list[Requirement] = []
    match_labels = value.get("matchLabels") or {}
    if not isinstance(match_labels, MAPPING_TYPES):
        raise ScopeError(f"{where}.matchLabels must be an object")
    for key, label in match_labels.items():
        if not isinstance(key, str) or not isinstance(label, str):
            raise ScopeError(f"{where}.matchLabels[{key!r}] must be a string")
        requirements.append(Requirement(key, "In", frozenset((label,))))
    expressions = value.get("matchExpressions") or []
    if not isinstance(expressions, list):
        raise ScopeError(f"{where}.matchExpressions must be an array")
    for i, expression in enumerate(expressions):
        at = f"{where}.matchExpressions[{i}]"
        if not isinstance(expression, MAPPING_TYPES) or not isinstance(expression.get("key"), str):
            raise ScopeError(f"{at} must be an object with a string key")
        operator = expression.get("operator")
        values = expression.get("values") or []
        if operator not in OPERATORS:
            raise ScopeError(f"{at}.operator must be one of {', '.join(OPERATORS)}, got {operator!r}")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ScopeError(f"{at}.values must be an array of strings")
        if operator in ("In", "NotIn") and not values:
            raise ScopeError(f"{at}: {operator} needs at least one value")
        if operator in ("Exists", "DoesNotExist") and values:
            raise ScopeError(f"{at}: {operator} takes no values")
        requirements.append(Requirement(expression["key"], operator, frozenset(values)))
    return Selector(tuple(requirements))


@dataclass(frozen=True, slots=True)
class Scope:
    """Which pods reach the webhook; `origin` names where it was read, for the notes."""

    object_selector: Selector = Selector()
    namespace_selector: Selector = Selector()
    excluded_namespaces: frozenset[str] = frozenset()
    origin: str = ""
    webhook: str = ""
    namespace_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    _namespaces: dict[str, Requirement | None] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    def labels_of(self, namespace: str) -> dict[str, str]:
        return {**self.namespace_labels.get(namespace, {}), NAMESPACE_NAME_LABEL: namespace}

    def excludes(self, namespace: str, pod_labels: Mapping[str, str]) -> str | None:
        """None when a pod with these labels in `namespace` reaches the webhook, else why not."""
        if namespace in self._namespaces:  # memoised: render asks once per template
            failing = self._namespaces[namespace]
        else:
            failing = self._namespaces[namespace] = self.namespace_selector.first_failing(
                self.labels_of(namespace)
            )
        if failing is not None:
            return f"namespace {namespace} is outside the namespaceSelector ({failing}) of {self._of()}"
        failing = self.object_selector.first_failing(pod_labels)
        if failing is not None:
            return f"its labels are outside the objectSelector ({failing}) of {self._of()}"
        return None

    def _of(self) -> str:
        return f"webhook {self.webhook} in {self.origin}" if self.webhook else self.origin


def _handles_pods(hook: Mapping[str, Any]) -> bool:
    rules = hook.get("rules")
    if not isinstance(rules, list):
        return False
    for rule in rules:
        if not isinstance(rule, MAPPING_TYPES):
            continue
        resources = rule.get("resources") or []
        operations = rule.get("operations") or []
        if not (isinstance(resources, list) and isinstance(operations, list)):
            continue
        if ("pods" in resources or "*" in resources) and ("CREATE" in operations or "*" in operations):
            return True
    return False


def scope_from_objects(objects: Iterable[Any], origin: str) -> Scope:
    """The scope in a set of objects: the MutatingWebhookConfiguration's webhook for pod CREATE, and a
    Deployment's --excluded-namespaces if one runs `webhook serve` (a built install). ScopeError if there
    is no such webhook, or several."""
    hooks: list[Mapping[str, Any]] = []
    excluded: frozenset[str] = frozenset()
    for obj in objects:
        if not isinstance(obj, MAPPING_TYPES):
            continue
        kind = obj.get("kind")
        if kind == "MutatingWebhookConfiguration":
            webhooks = obj.get("webhooks")
            for hook in webhooks if isinstance(webhooks, list) else ():
                if isinstance(hook, MAPPING_TYPES) and _handles_pods(hook):
                    hooks.append(hook)
        elif kind == "Deployment":
            excluded |= _excluded_namespaces_in(obj)
    if not hooks:
        raise ScopeError(f"{origin}: no MutatingWebhookConfiguration with a webhook for pod CREATE")
    if len(hooks) > 1:
        names = ", ".join(str(h.get("name")) for h in hooks)
        raise ScopeError(f"{origin}: several webhooks handle pod CREATE ({names}); give a file with one")
    hook = hooks[0]
    name = str(hook.get("name") or "")
    return Scope(
        parse_selector(hook.get("objectSelector"), f"{origin}: webhook {name}: objectSelector"),
        parse_selector(hook.get("namespaceSelector"), f"{origin}: webhook {name}: namespaceSelector"),
        excluded,
        origin,
        name,
    )


def _excluded_namespaces_in(deployment: Mapping[str, Any]) -> frozenset[str]:
    """--excluded-namespaces of the containers' args (`--flag=a,b` or `--flag a,b`)."""
    found: set[str] = set()
    spec = deployment.get("spec")
    template = spec.get("template") if isinstance(spec, MAPPING_TYPES) else None
    pod_spec = template.get("spec") if isinstance(template, MAPPING_TYPES) else None
    containers = pod_spec.get("containers") if isinstance(pod_spec, MAPPING_TYPES) else None
    for container in containers if isinstance(containers, list) else ():
        args = container.get("args") if isinstance(container, MAPPING_TYPES) else None
        args = [a for a in args if isinstance(a, str)] if isinstance(args, list) else []
        for i, arg in enumerate(args):
            value = None
            if arg.startswith(EXCLUDED_NAMESPACES_FLAG + "="):
                value = arg.partition("=")[2]
            elif arg == EXCLUDED_NAMESPACES_FLAG and i + 1 < len(args):
                value = args[i + 1]
            if value is not None:
                found.update(v.strip() for v in value.split(",") if v.strip())
    return frozenset(found)


def parse_namespace_labels(text: str) -> dict[str, dict[str, str]]:
    """`NS=KEY=VALUE,...` -> {NS: {KEY: VALUE}}; ScopeError on a malformed item."""
    labels: dict[str, dict[str, str]] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        namespace, sep, rest = item.partition("=")
        key, sep2, value = rest.partition("=")
        if not (sep and sep2 and namespace and key):
            raise ScopeError(f"--namespace-labels: {item!r} is not NAMESPACE=KEY=VALUE")
        labels.setdefault(namespace, {})[key] = value
    return labels
