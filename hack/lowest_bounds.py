"""`make test-lowest`: the oldest versions pyproject.toml allows, proven to work.

Resolves the core and the [server] extra with every direct dependency at its lower bound (uv's
`--resolution lowest-direct`), installs that into a fresh virtualenv with the package itself (no deps), adds
the test tools without letting them move a pin, then runs the core tests and serves one review there
(tests/packaging/smoke.py). A bound that does not hold fails here, not on a user's machine.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "build" / "lowest"
# Only what the core tests import besides the package; resolved normally, constrained by the lowest pins.
TEST_TOOLS = ["pytest", "pytest-timeout", "hypothesis", "jsonpatch", "kubernetes-validate"]
TESTS = ["tests/core", "tests/test_options.py", "tests/test_errors.py"]


def run(*argv: str | Path) -> None:
    print("+", " ".join(map(str, argv)), flush=True)
    subprocess.run([str(a) for a in argv], check=True, cwd=REPO)


def main() -> None:
    uv = Path(sys.executable).with_name("uv")
    WORK.mkdir(parents=True, exist_ok=True)
    pins = WORK / "lowest.txt"
    run(uv, "pip", "compile", "pyproject.toml", "--extra", "server", "--resolution", "lowest-direct",
        "--python-version", "3.11", "--quiet", "--no-header", "-o", pins)  # fmt: skip
    env = WORK / "venv"
    venv.EnvBuilder(clear=True, with_pip=False).create(env)
    python = env / "bin" / "python"
    run(uv, "pip", "install", "--python", python, "--quiet", "-r", pins)
    run(uv, "pip", "install", "--python", python, "--quiet", "--no-deps", ".")
    run(uv, "pip", "install", "--python", python, "--quiet", "-c", pins, *TEST_TOOLS)
    run(uv, "pip", "check", "--python", python)
    print(pins.read_text(), flush=True)
    run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS)
    run(python, "-m", "tests.packaging.smoke", env / "bin")


if __name__ == "__main__":
    main()
