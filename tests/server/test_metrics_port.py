"""--metrics-port: /metrics alone in plain HTTP beside the TLS port, off by default (`webhook serve` runs)."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.common import WEBHOOK_BIN
from tests.server.support import ServeProcess, ssl_context, start_serve_process
from webhook import __version__
from webhook.drain import IDLE_LINGER_SECONDS
from webhook.metrics import CONTENT_TYPE
from webhook.serve_settings import ServeSettings


def metrics_port_of(process: ServeProcess) -> int | None:
    serving = [line for line in process.log_lines() if line.get("msg") == "serving"]
    assert len(serving) == 1
    port = serving[0].get("metrics_port")
    return int(port) if port is not None else None


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process `pid` listens on (Linux /proc: its socket inodes in LISTEN state)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


@pytest.fixture
def with_metrics_port(tmp_path: Path, sa_file: Path):
    process = start_serve_process(tmp_path, "--serviceaccounts", str(sa_file), "--metrics-port", "0")
    yield process
    process.stop()


def test_metrics_port_is_off_by_default(tmp_path: Path, sa_file: Path) -> None:
    assert ServeSettings.model_fields["metrics_port"].default is None
    process = start_serve_process(tmp_path, "--serviceaccounts", str(sa_file))
    try:
        assert metrics_port_of(process) is None
        if Path("/proc/net/tcp").exists():
            assert listening_ports(process.popen.pid) == {process.port}
    finally:
        process.stop()


def test_plain_http_answers_metrics_and_nothing_else(with_metrics_port: ServeProcess) -> None:
    port = metrics_port_of(with_metrics_port)
    assert port and port != with_metrics_port.port
    if Path("/proc/net/tcp").exists():
        assert listening_ports(with_metrics_port.popen.pid) == {with_metrics_port.port, port}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as plain:
        answer = plain.get("/metrics")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == CONTENT_TYPE
        assert 'webhook_build_info{python_implementation="' in answer.text
        assert f'version="{__version__}"' in answer.text
        assert "webhook_serviceaccount_source_synced 1.0" in answer.text
        for path in ("/", "/healthz", "/readyz", "/mutate", "/metrics/", "/bench/fixed"):
            assert plain.get(path).status_code == 404, path
        assert plain.post("/mutate", json={}).status_code == 404
        assert plain.post("/metrics", json={}).status_code == 405
    with with_metrics_port.client() as tls:  # the TLS port keeps its /metrics and its other endpoints
        assert "webhook_build_info" in tls.get("/metrics").text
        assert tls.get("/readyz").status_code == 200


def test_the_metrics_port_speaks_no_tls(with_metrics_port: ServeProcess) -> None:
    port = metrics_port_of(with_metrics_port)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        ssl_context(with_metrics_port.ca).wrap_socket(raw, server_hostname="127.0.0.1").close()
    raw.close()


def test_metrics_port_counts_what_the_tls_port_serves(with_metrics_port: ServeProcess) -> None:
    """One registry behind both: a review on the TLS port shows on the plain one."""
    port = metrics_port_of(with_metrics_port)
    with with_metrics_port.client() as tls:
        tls.post("/mutate", content=b"{}", headers={"content-type": "application/json"})
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert 'webhook_bad_requests_total{code="400"} 1.0' in text


@pytest.mark.parametrize("form", ["env", "config"])
def test_env_var_and_config_file_turn_it_on(tmp_path: Path, sa_file: Path, form: str) -> None:
    args, env = ["--serviceaccounts", str(sa_file)], {}
    if form == "env":
        env["WEBHOOK_METRICS_PORT"] = "0"
    else:
        config = tmp_path / "config.yaml"
        config.write_text("metrics-port: 0\n")
        args += ["--config", str(config)]
    process = start_serve_process(tmp_path, *args, env=env)
    try:
        port = metrics_port_of(process)
        assert port is not None
        assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).status_code == 200
    finally:
        process.stop()


def _serve(tmp_path: Path, sa_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [str(WEBHOOK_BIN), "serve", "--self-signed", "--certs-dir", str(tmp_path / "certs")]
    argv += ["--host", "127.0.0.1", "--serviceaccounts", str(sa_file), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_metrics_port_equal_to_the_serving_port_is_a_usage_error(tmp_path: Path, sa_file: Path) -> None:
    done = _serve(tmp_path, sa_file, "--port", "18443", "--metrics-port", "18443")
    assert done.returncode == 2
    assert "--metrics-port 18443 is --port too" in done.stderr and "Traceback" not in done.stderr


def test_metrics_port_in_use_is_one_error_line(tmp_path: Path, sa_file: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        done = _serve(tmp_path, sa_file, "--port", "0", "--metrics-port", str(taken.getsockname()[1]))
    finally:
        taken.close()
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: --metrics-port: cannot listen on 127.0.0.1:"), done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("value", ["-1", "65536", "nine"])
def test_bad_metrics_port_values_are_refused(tmp_path: Path, sa_file: Path, value: str) -> None:
    done = _serve(tmp_path, sa_file, "--metrics-port", value)
    assert done.returncode == 2 and "metrics" in done.stderr and "Traceback" not in done.stderr


def test_an_idle_scraper_connection_does_not_hold_the_exit(tmp_path: Path, sa_file: Path) -> None:
    process = start_serve_process(
        tmp_path, "--serviceaccounts", str(sa_file), "--metrics-port", "0", "--shutdown-delay", "1"
    )
    try:
        port = metrics_port_of(process)
        scraper = socket.create_connection(("127.0.0.1", port), timeout=30)
        scraper.sendall(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n")
        assert scraper.recv(64).startswith(b"HTTP/1.1 200")  # then left open, never read again
        started = time.monotonic()
        process.popen.send_signal(signal.SIGTERM)
        code = process.popen.wait(30)
        took = time.monotonic() - started
        scraper.close()
    finally:
        process.stop()
    assert code == 0
    assert took <= 1 + IDLE_LINGER_SECONDS + 1 + 0.5, f"exited {took:.1f} s after SIGTERM"


def test_the_metrics_port_keeps_the_client_limits(with_metrics_port: ServeProcess) -> None:
    """A head over 16 KiB is refused there as on the TLS port; its count stays off the webhook's metrics."""
    port = metrics_port_of(with_metrics_port)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(b"GET /metrics HTTP/1.1\r\nhost: x\r\nx-filler: " + b"a" * 20_000 + b"\r\n\r\n")
        answer = raw.recv(4096)
    assert answer.startswith(b"HTTP/1.1 431 ")
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert 'webhook_connection_limits_total{limit="header_bytes"}' not in text
