"""Where the Go-built tools of hack/go-tools.sh are (helm, kustomize, promtool): GO_TOOLS_DIR, else the
pointer file in the cache. Tests that need one skip with the reason when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

POINTER_FILE = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "projected-token-webhook"
    / "tools"
    / "current"
)


def find_tool(name: str) -> tuple[Path | None, str]:
    """The path of `helm`, `kustomize` or `promtool`, or (None, one-line reason)."""
    folder = os.environ.get("GO_TOOLS_DIR") or (
        POINTER_FILE.read_text().strip() if POINTER_FILE.is_file() else ""
    )
    if not folder:
        return None, "Go tools not built: run `make go-tools`"
    path = Path(folder) / name
    if not os.access(path, os.X_OK):
        return None, f"no {name} in {folder}: run `make go-tools`"
    return path, ""
