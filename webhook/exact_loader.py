"""The exact YAML loader: PyYAML's, refusing duplicate keys.

Its own module, not compiled: the class is built at run time on a base chosen then (libyaml's when present),
which mypyc cannot compile.
"""

from __future__ import annotations

from typing import Any

_LOADER: Any = None


def exact_loader() -> Any:
    """PyYAML's libyaml SafeLoader, refusing duplicate keys as yaml-rs and the apiserver's strict decoding do
    (PyYAML alone keeps the last one silently). Built on first use: keeps start-up short."""
    global _LOADER
    if _LOADER is None:
        import yaml

        base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

        class Loader(base):  # type: ignore[misc, valid-type]
            def construct_mapping(self, node: Any, deep: bool = False) -> Any:
                if isinstance(node, yaml.MappingNode):
                    seen: set[tuple[str, str]] = set()
                    for key, _ in node.value:
                        if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                            if (key.tag, key.value) in seen:
                                raise yaml.constructor.ConstructorError(
                                    "while constructing a mapping",
                                    node.start_mark,
                                    f"found duplicate key {key.value!r}",
                                    key.start_mark,
                                )
                            seen.add((key.tag, key.value))
                return super().construct_mapping(node, deep)

        _LOADER = Loader
    return _LOADER
