"""`make bench-attack`: a legitimate client's latency with and without each attack, in one run.

- Server: `webhook serve` on 127.0.0.1 pinned to CPU 0, TLS, ServiceAccounts from
  examples/serviceaccounts.yaml, its RSS sampled every 100 ms from /proc.
- Legitimate client: `hey` pinned to CPU 1, 10 keep-alive connections at 200 reviews/s in total, POSTing
  examples/admissionreview.json, its connections open before any attack starts (as the apiserver's pool).
- Attacks (this process, asyncio, CPU 1 at nice 19, 127.0.0.1 only, bounded in count and time), each in
  its own window after a window without it:
  header flood (8 connections each sending an endless header at 4 MiB/s, reconnecting when cut),
  1,000 slow connections (each sends a head one byte a second, reconnecting when cut),
  1,000 idle TLS connections (handshake, then silence, reconnecting when cut),
  aborted uploads (20 at a time: head and part of a body, then close).

Prints a markdown table (paste it into docs/benchmarks.md). Targets: the legitimate client's p99 < 50 ms,
none of its reviews failed, server RSS < 200 MiB throughout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WEBHOOK = Path(sys.executable).with_name("webhook")
REVIEW = REPO / "examples" / "admissionreview.json"
SERVICEACCOUNTS = REPO / "examples" / "serviceaccounts.yaml"
HEAD = b"POST /mutate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


def start_server(workdir: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
    sys.path.insert(0, str(REPO))
    from webhook.certs import write_bundle

    certs = write_bundle(workdir / "certs", ip_addresses=["127.0.0.1"], extra_dns=["localhost"])
    log = workdir / "serve.log"
    argv = ["taskset", "-c", "0", str(WEBHOOK), "serve", "--host", "127.0.0.1", "--port", "0"]
    argv += ["--tls-cert", str(certs.cert), "--tls-key", str(certs.key)]
    argv += ["--serviceaccounts", str(SERVICEACCOUNTS)]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if '"msg":"serving"' in line:
                time.sleep(1.0)
                return proc, json.loads(line)["port"], certs.ca_cert
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"webhook serve did not start:\n{log.read_text()[-2000:]}")


class RssSampler(threading.Thread):
    """The server's resident memory every 100 ms; `peak()` since the last `reset()`."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.current = 0.0
        self._peak = 0.0
        self.overall = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(OSError, ValueError):
                for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        self.current = int(line.split()[1]) / 1024
                        self._peak = max(self._peak, self.current)
                        self.overall = max(self.overall, self.current)
            time.sleep(0.1)

    def reset(self) -> None:
        self._peak = self.current

    def peak(self) -> float:
        return self._peak


def hey(url: str, seconds: int, rate: int, workers: int = 10) -> subprocess.Popen[str]:
    argv = ["taskset", "-c", "1", "hey", "-z", f"{seconds}s", "-c", str(workers), "-m", "POST"]
    argv += ["-T", "application/json", "-D", str(REVIEW), "-q", f"{rate / workers:g}", url]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def hey_result(out: str) -> dict[str, float]:
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "99"):
        match = re.search(rf"{pct}%+ in ([\d.]+) secs", out)
        result[f"p{pct}"] = float(match.group(1)) * 1000 if match else float("nan")
    slowest = re.search(r"Slowest:\s+([\d.]+) secs", out)
    result["max"] = float(slowest.group(1)) * 1000 if slowest else float("nan")
    codes = dict(re.findall(r"\[(\d+)\]\s+(\d+) responses", out))
    result["ok"] = float(codes.get("200", 0))
    result["failed"] = float(sum(int(n) for code, n in codes.items() if code != "200"))
    errors = re.search(r"Error distribution:\n((?:\s+\[\d+\].*\n?)+)", out)
    if errors:
        result["failed"] += sum(int(n) for n in re.findall(r"\[(\d+)\]", errors.group(1)))
    return result


# ----------------------------------------------------------------------------------------------- attacks


class Attack:
    def __init__(self, port: int, context: ssl.SSLContext, deadline: float) -> None:
        self.port = port
        self.context = context
        self.deadline = deadline
        self.opened = 0
        self.cut = 0  # connections the server closed
        self.refused = 0  # connections that never got through the handshake
        self.sent = 0
        self.handshakes = asyncio.Semaphore(50)

    def running(self) -> bool:
        return time.monotonic() < self.deadline

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        async with self.handshakes:  # this process's own CPU sets the pace, not a burst of 1,000
            return await self._connect()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        try:
            conn = await asyncio.wait_for(
                asyncio.open_connection(
                    "127.0.0.1", self.port, ssl=self.context, server_hostname="127.0.0.1"
                ),
                15,
            )
        except (OSError, TimeoutError, ssl.SSLError):
            self.refused += 1
            await asyncio.sleep(0.2)
            return None
        self.opened += 1
        return conn

    async def loop(self, one: Callable[[], Awaitable[None]], count: int) -> None:
        async def forever() -> None:
            while self.running():
                await one()

        await asyncio.gather(*(forever() for _ in range(count)))

    async def closed(self, reader: asyncio.StreamReader, seconds: float) -> bool:
        """Wait up to `seconds` for the server to close; True if it did."""
        try:
            while True:
                if not await asyncio.wait_for(reader.read(65536), seconds):
                    return True
        except TimeoutError:
            return False
        except (OSError, ssl.SSLError):
            return True

    async def header_flood(self) -> None:
        conn = await self.connect()
        if conn is None:
            return
        _, writer = conn
        chunk = b"a" * 65536
        try:
            writer.write(HEAD + b"X-Flood: ")
            # 4 MiB/s per connection at most, 1 GiB in all: enough to fill a server that reads it all
            # (the 80 MiB header of the issue), without the attacker taking the client's CPU.
            while self.running() and self.sent < 1024**3:
                writer.write(chunk)
                self.sent += len(chunk)
                await writer.drain()
                await asyncio.sleep(1 / 64)
        except (OSError, ssl.SSLError):
            self.cut += 1
        finally:
            writer.close()

    async def slow(self) -> None:
        conn = await self.connect()
        if conn is None:
            return
        reader, writer = conn
        try:
            for byte in HEAD * 10:
                if not self.running():
                    break
                writer.write(bytes([byte]))
                await writer.drain()
                if await self.closed(reader, 1.0):
                    self.cut += 1
                    break
        except (OSError, ssl.SSLError):
            self.cut += 1
        finally:
            writer.close()

    async def idle(self) -> None:
        conn = await self.connect()
        if conn is None:
            return
        reader, writer = conn
        if await self.closed(reader, max(0.1, self.deadline - time.monotonic())):
            self.cut += 1
        writer.close()

    async def aborted_upload(self) -> None:
        conn = await self.connect()
        if conn is None:
            return
        _, writer = conn
        with contextlib.suppress(OSError, ssl.SSLError):
            writer.write(HEAD + b"Content-Length: 100000\r\n\r\n" + b'{"apiVersion":' + b" " * 2000)
            await writer.drain()
            await asyncio.sleep(0.05)
        writer.transport.abort()


ATTACKS: dict[str, tuple[str, int]] = {
    "header flood (8 connections, endless header)": ("header_flood", 8),
    "1,000 slow connections (a byte a second)": ("slow", 1000),
    "1,000 idle TLS connections": ("idle", 1000),
    "aborted uploads (20 at a time)": ("aborted_upload", 20),
}


def run_attack(name: str, port: int, ca: Path, seconds: float) -> Attack:
    method, count = ATTACKS[name]
    context = ssl.create_default_context(cafile=str(ca))
    attack = Attack(port, context, time.monotonic() + seconds)

    async def main() -> None:
        await attack.loop(getattr(attack, method), count)

    os.sched_setaffinity(0, {1})
    with contextlib.suppress(OSError):
        os.nice(19 - os.nice(0))  # the attacker yields CPU 1 to the client: what is measured is the server
    asyncio.run(main())
    return attack


def window(
    label: str, url: str, seconds: int, rate: int, rss: RssSampler, attack: Callable[[], Attack] | None
) -> dict[str, object]:
    rss.reset()
    client = hey(url, seconds, rate)
    time.sleep(1.0)  # the client's connections are open (the apiserver's pool) before an attack
    attacked = attack() if attack else None
    out, _ = client.communicate(timeout=seconds + 120)
    result = hey_result(out)
    print(f"{label}: {result} rss {rss.peak():.0f} MiB", file=sys.stderr)
    return {"label": label, "client": result, "rss": rss.peak(), "attack": attacked}


def server_metrics(port: int, ca: Path) -> str:
    context = ssl.create_default_context(cafile=str(ca))
    import http.client

    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    return "\n".join(
        line
        for line in text.splitlines()
        if line.startswith(("webhook_connection_limits_total", "webhook_client_disconnects_total"))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=30, help="length of each window")
    parser.add_argument("--rate", type=int, default=200)
    args = parser.parse_args()
    if not shutil.which("hey"):
        raise SystemExit("hey not found: apt-get install -y hey (make bench-attack does it)")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:  # 1,000 attack connections here and as many in the server (which inherits this)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        proc, port, ca = start_server(Path(tmp))
        rss = RssSampler(proc.pid)
        rss.start()
        try:
            url = f"https://127.0.0.1:{port}/mutate?timeout=10s"
            hey(url, 2, args.rate).communicate()  # warm-up
            attack_seconds = args.seconds - 2
            for name in ATTACKS:
                rows.append(window("without", url, args.seconds, args.rate, rss, None))

                def attack(name: str = name) -> Attack:
                    return run_attack(name, port, ca, attack_seconds)

                rows.append(window(name, url, args.seconds, args.rate, rss, attack))
            counters = server_metrics(port, ca)
            errors = [
                line
                for line in (Path(tmp) / "serve.log").read_text().splitlines()
                if '"level":"error"' in line
            ]
            warnings = [
                json.loads(line)["msg"]
                for line in (Path(tmp) / "serve.log").read_text().splitlines()
                if '"level":"warning"' in line
            ]
        finally:
            proc.terminate()
            proc.wait(30)
            rss.stop.set()

    print(
        f"`make bench-attack` {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: legitimate client `hey`, "
        f"10 keep-alive connections, {args.rate} reviews/s, {args.seconds} s per window; server on CPU 0, "
        "client and attacker on CPU 1 (2 cores shared with other jobs)."
    )
    print(f"Server RSS peak over the whole run: {rss.overall:.0f} MiB.\n")
    print("| window | reviews/s | p50 ms | p99 ms | max ms | failed | server RSS peak MiB | attack |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        c = row["client"]
        a = row["attack"]
        detail = ""
        if isinstance(a, Attack):
            detail = f"{a.opened} connections opened, {a.cut} cut by the server, {a.refused} refused"
            if a.sent:
                detail += f", {a.sent / 1024**2:.0f} MiB sent"
        assert isinstance(c, dict)
        print(
            f"| {row['label']} | {c['rps']:.0f} | {c['p50']:.2f} | {c['p99']:.2f} | {c['max']:.1f} "
            f"| {c['failed']:.0f} | {row['rss']:.0f} | {detail} |"
        )
    print("\nServer counters after the run:\n\n```\n" + counters + "\n```")
    print(f"\nServer log: {len(errors)} error lines, warnings: {sorted(set(warnings))}.")


if __name__ == "__main__":
    main()
