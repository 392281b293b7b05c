"""Serve one admission review with an installed `webhook` and stop it: `python -m tests.packaging.smoke BIN`.

Standard library only, so it runs under any interpreter: the packaging tests run it against the wheel
installed with [server] into a fresh virtualenv, `make test-lowest` against the lowest allowed versions.
Starts `BIN/webhook serve` (self-signed TLS, the example ServiceAccounts, a free port on 127.0.0.1), checks
/healthz and that POST /mutate patches the example pod, then stops it with SIGTERM and expects exit 0.
"""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
STARTUP_SECONDS = 60


def serve_once(bin_dir: Path) -> dict[str, object]:
    """The `serving` log record and the review's response; raises AssertionError on any failure."""
    with tempfile.TemporaryDirectory(prefix="webhook-smoke-") as tmp:
        certs = Path(tmp) / "certs"
        argv = [str(bin_dir / "webhook"), "serve", "--self-signed", "--certs-dir", str(certs)]
        argv += ["--serviceaccounts", str(EXAMPLES / "serviceaccounts.yaml"), "--host", "127.0.0.1"]
        argv += ["--port", "0", "--shutdown-delay", "0"]
        proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
        try:
            serving = _wait_for_serving(proc)
            context = ssl.create_default_context(cafile=str(certs / "ca.crt"))
            base = f"https://127.0.0.1:{serving['port']}"
            with urllib.request.urlopen(f"{base}/healthz", context=context, timeout=10) as response:
                assert response.status == 200, response.status
            review = (EXAMPLES / "admissionreview.json").read_bytes()
            request = urllib.request.Request(
                f"{base}/mutate", data=review, headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, context=context, timeout=10) as response:
                answer = json.loads(response.read())["response"]
            assert answer["allowed"] is True and answer.get("patch"), answer
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
            assert code == 0, f"webhook serve exited {code}: {proc.stderr.read() if proc.stderr else ''}"
            return {"serving": serving, "response": answer}
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()


def _wait_for_serving(proc: subprocess.Popen[str]) -> dict[str, object]:
    assert proc.stderr is not None
    deadline = time.monotonic() + STARTUP_SECONDS
    seen = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            raise AssertionError(f"webhook serve exited {proc.wait()} before serving:\n{''.join(seen)}")
        seen.append(line)
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("msg") == "serving":
            return dict(record)
    raise AssertionError(f"webhook serve did not serve within {STARTUP_SECONDS}s:\n{''.join(seen)}")


if __name__ == "__main__":
    result = serve_once(Path(sys.argv[1]))
    print(f"smoke: served a review on port {result['serving']['port']} and stopped cleanly")  # type: ignore[index]
