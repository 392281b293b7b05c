"""The import contract: the pure core never reaches the shells (servers, command line, cluster access).

Follows every import statement of the core modules, function-level ones included, through the webhook
modules they reach; and imports the core in a fresh interpreter to see what actually gets loaded.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys

from tests.common import REPO

# The registry finds its dialect modules by walking the package, not by import statements: list them here.
DIALECT_MODULES = sorted(
    f"webhook.dialects.{p.stem}" for p in (REPO / "webhook" / "dialects").glob("*.py") if p.stem != "__init__"
)
CORE = [
    "webhook.vocabulary",
    "webhook.dialects",
    *DIALECT_MODULES,
    "webhook.mutate",
    "webhook.workloads",
    "webhook.admission",
]
FORBIDDEN = [
    "webhook.server",
    "webhook.serve",
    "webhook.render",
    "webhook.cli",
    "webhook.options",
    "webhook.serviceaccounts",
    "webhook.federation",
    "fastapi",
    "starlette",
    "uvicorn",
    "kubernetes",
    "click",
]


def forbidden(module: str) -> bool:
    return any(module == f or module.startswith(f + ".") for f in FORBIDDEN)


def source_of(module: str) -> str | None:
    base = REPO.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.exists():
            return path.read_text()
    return None


def imports_of(module: str) -> set[str]:
    source = source_of(module)
    assert source is not None, module
    package = (
        module if source_of(module + ".__init__") or (REPO / module.replace(".", "/")).is_dir() else None
    )
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = (package or module.rpartition(".")[0]).split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                prefix = f"{base}.{node.module}" if node.module else base
            else:
                prefix = node.module or ""
            found.add(prefix)
            found.update(
                f"{prefix}.{alias.name}" for alias in node.names if source_of(f"{prefix}.{alias.name}")
            )
    return found


def test_no_core_import_statement_reaches_a_shell() -> None:
    seen: dict[str, str] = {}  # module -> who imported it
    todo = [(module, "core") for module in CORE]
    while todo:
        module, importer = todo.pop()
        if module in seen:
            continue
        seen[module] = importer
        assert not forbidden(module), f"{module} is imported by {importer}, a core module's dependency"
        if module.startswith("webhook") and source_of(module):
            todo.extend((imported, module) for imported in imports_of(module))
    assert "webhook.mutate" in seen and "webhook.dialects.generic" in seen  # the walk found the dialects


def test_importing_the_core_loads_no_shell() -> None:
    code = f"import json, sys; import {', '.join(CORE)}; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True).stdout)
    assert [m for m in loaded if forbidden(m)] == []
