"""An envtest-style Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager.

The binaries come from hack/e2e-assets.sh (built from Go modules) or from KUBEBUILDER_ASSETS.
`start_control_plane()` is reusable: the federation tests start a second ("downstream") apiserver with it.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import datetime as dt
import ipaddress
import json
import os
import signal
import socket
import ssl
import struct
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from webhook.certs import generate_ca, generate_serving, pem_cert, pem_key

CACHE_ROOT = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "projected-token-webhook" / "e2e"
)
POINTER_FILE = CACHE_ROOT / "current"
REQUIRED = ("kube-apiserver", "etcd", "kubectl")
START_TIMEOUT = 90.0


class ControlPlaneError(RuntimeError):
    """The control plane could not start; the message names the component and its log file."""


@dataclass(frozen=True)
class Assets:
    """Where the binaries are. kube_controller_manager is None with envtest assets that lack it."""

    source: str
    kube_apiserver: Path
    etcd: Path
    kubectl: Path
    kube_controller_manager: Path | None


def find_assets() -> tuple[Assets | None, str]:
    """Locate the binaries: TEST_ASSET_* > KUBEBUILDER_ASSETS > E2E_ASSETS_DIR > the pointer file.

    Returns (assets, "") or (None, one-line reason).
    """
    folder: Path | None = None
    source = ""
    for var in ("KUBEBUILDER_ASSETS", "E2E_ASSETS_DIR"):
        if os.environ.get(var):
            folder, source = Path(os.environ[var]), var
            break
    else:
        if POINTER_FILE.is_file():
            folder, source = Path(POINTER_FILE.read_text().strip()), str(POINTER_FILE)

    def pick(binary: str) -> Path | None:
        override = os.environ.get("TEST_ASSET_" + binary.upper().replace("-", "_"))
        if override:
            return Path(override)
        return folder / binary if folder else None

    found = {binary: pick(binary) for binary in (*REQUIRED, "kube-controller-manager")}
    missing = [b for b in REQUIRED if not (found[b] and os.access(found[b], os.X_OK))]  # type: ignore[arg-type]
    if missing:
        where = f"{source}={folder}" if folder else "no KUBEBUILDER_ASSETS and no e2e assets built"
        return None, f"e2e assets missing ({', '.join(missing)}; {where}): run `make e2e-assets`"
    kcm = found["kube-controller-manager"]
    return (
        Assets(
            source=source or "TEST_ASSET_*",
            kube_apiserver=found["kube-apiserver"],  # type: ignore[arg-type]
            etcd=found["etcd"],  # type: ignore[arg-type]
            kubectl=found["kubectl"],  # type: ignore[arg-type]
            kube_controller_manager=kcm if kcm and os.access(kcm, os.X_OK) else None,
        ),
        "",
    )


# --- networking -----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def has_default_route() -> bool:
    try:
        lines = Path("/proc/net/route").read_text().splitlines()[1:]
    except OSError:
        return True  # not Linux: let the apiserver pick
    return any(line.split()[1] == "00000000" for line in lines if len(line.split()) > 1)


def _interface_ipv4(name: str) -> str | None:
    import fcntl

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            packed = fcntl.ioctl(
                sock.fileno(), 0x8915, struct.pack("256s", name[:15].encode())
            )  # SIOCGIFADDR
        except OSError:
            return None
    return socket.inet_ntoa(packed[20:24])


def advertise_address() -> str | None:
    """A non-loopback address for --advertise-address, or None when the apiserver can find one itself.

    Without a default route the apiserver refuses to start unless it is told which address to advertise.
    """
    if has_default_route():
        return None
    for _, name in socket.if_nameindex():
        address = _interface_ipv4(name)
        if address and not ipaddress.ip_address(address).is_loopback:
            return address
    # No interface at all: any non-loopback address will do, it is only written into the endpoints.
    return "192.0.2.1"


# --- certificates ---------------------------------------------------------------------------------------


def _client_cert(
    ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, user: str, groups: Iterable[str]
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, user)]
    subject += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(subject))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _write(path: Path, data: bytes, mode: int = 0o644) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    return path


def write_kubeconfig(
    path: Path, *, server: str, ca_file: Path, cert_file: Path, key_file: Path, user: str
) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "e2e", "cluster": {"server": server, "certificate-authority": str(ca_file)}}],
        "users": [
            {"name": user, "user": {"client-certificate": str(cert_file), "client-key": str(key_file)}}
        ],
        "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": user}}],
        "current-context": "e2e",
    }
    return _write(path, json.dumps(config, indent=2).encode(), 0o600)


# --- processes ------------------------------------------------------------------------------------------


def _die_with_parent() -> None:
    # If pytest is killed outright, the kernel stops the children too (Linux only; best effort elsewhere).
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, grace: float = 10.0) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)


def spawn(name: str, argv: Sequence[str | Path], log: Path, env: dict[str, str] | None = None) -> Process:
    handle = log.open("ab")
    try:
        popen = subprocess.Popen(
            [str(a) for a in argv],
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=_die_with_parent,
        )
    finally:
        handle.close()
    return Process(name, popen, log)


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"({path} unreadable)"
    return "\n".join(text[-lines:])


# --- the control plane ----------------------------------------------------------------------------------


@dataclass
class ControlPlane:
    """A running control plane. Everything a test needs to reach it, as files and helpers."""

    name: str
    workdir: Path
    assets: Assets
    port: int
    ca_file: Path
    admin_kubeconfig: Path
    admin_cert_file: Path
    admin_key_file: Path
    sa_public_key_file: Path
    sa_private_key_file: Path
    processes: list[Process] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def logs(self) -> dict[str, Path]:
        return {p.name: p.log for p in self.processes}

    @property
    def has_controller_manager(self) -> bool:
        return any(p.name == "kube-controller-manager" for p in self.processes)

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run the built kubectl as the admin; on failure with check=True, raise with its stderr."""
        argv = [str(self.assets.kubectl), f"--kubeconfig={self.admin_kubeconfig}", *args]
        result = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {result.returncode}:\n{result.stderr}{result.stdout}"
            )
        return result

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def api_client(self) -> Any:
        """A fresh official-client ApiClient authenticated as the admin."""
        from kubernetes import client

        config = client.Configuration()
        config.host = self.url
        config.ssl_ca_cert = str(self.ca_file)
        config.cert_file = str(self.admin_cert_file)
        config.key_file = str(self.admin_key_file)
        config.verify_ssl = True
        return client.ApiClient(config)

    def ssl_context(self, *, admin: bool = True) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        if admin:
            context.load_cert_chain(str(self.admin_cert_file), str(self.admin_key_file))
        return context

    def get(self, path: str, *, admin: bool = True, timeout: float = 10) -> Any:
        """GET a raw API path (JSON), as the admin or anonymously."""
        with urllib.request.urlopen(
            self.url + path, context=self.ssl_context(admin=admin), timeout=timeout
        ) as r:
            return json.loads(r.read())

    def diagnostics(self, lines: int = 30) -> str:
        return "\n".join(
            f"--- {p.name} ({p.log}), last {lines} lines ---\n{tail(p.log, lines)}" for p in self.processes
        )

    def check_alive(self) -> None:
        dead = [p for p in self.processes if not p.alive()]
        if dead:
            raise ControlPlaneError(
                "; ".join(f"{p.name} exited with {p.popen.returncode}, see {p.log}" for p in dead)
                + "\n"
                + self.diagnostics()
            )

    def stop(self) -> None:
        # Reverse start order: controllers, apiserver, then etcd.
        for process in reversed(self.processes):
            with contextlib.suppress(Exception):
                process.stop()


def _wait_until(what: str, probe, timeout: float, plane: ControlPlane, process: Process) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not process.alive():
            raise ControlPlaneError(
                f"{plane.name}: {process.name} exited with {process.popen.returncode} before {what}; "
                f"log {process.log}:\n{tail(process.log)}"
            )
        try:
            if probe():
                return
        except (OSError, urllib.error.URLError, ValueError) as exc:
            if isinstance(exc, urllib.error.HTTPError):
                exc.close()  # its body holds the connection
            last = str(exc)
        time.sleep(0.2)
    raise ControlPlaneError(
        f"{plane.name}: no {what} after {timeout:.0f}s ({last}); log {process.log}:\n{tail(process.log)}"
    )


def start_control_plane(
    workdir: Path,
    *,
    assets: Assets | None = None,
    extra_apiserver_args: Sequence[str] = (),
    controller_manager: bool = True,
    name: str = "upstream",
) -> ControlPlane:
    """Start etcd + kube-apiserver (+ kube-controller-manager) on loopback, ready for requests.

    Fresh data dir, generated serving CA, admin client cert in system:masters, one RSA service-account key,
    issuer https://127.0.0.1:<port> with its discovery documents readable anonymously. The caller must
    stop() it (it is also stopped at interpreter exit).
    """
    if assets is None:
        assets, reason = find_assets()
        if assets is None:
            raise ControlPlaneError(reason)
    workdir = Path(workdir) / name
    workdir.mkdir(parents=True, exist_ok=True)
    pki = workdir / "pki"
    pki.mkdir(exist_ok=True)

    ca_key, ca_cert = generate_ca(f"{name}-e2e-ca", valid_days=2)
    ca_file = _write(pki / "ca.crt", pem_cert(ca_cert))
    serving_key, serving_cert = generate_serving(
        ca_key, ca_cert, ["localhost", "kubernetes", "kubernetes.default.svc"], ["127.0.0.1", "10.0.0.1"], 2
    )
    serving_cert_file = _write(pki / "apiserver.crt", pem_cert(serving_cert))
    serving_key_file = _write(pki / "apiserver.key", pem_key(serving_key), 0o600)
    admin_key, admin_cert = _client_cert(ca_key, ca_cert, "e2e-admin", ["system:masters"])
    admin_cert_file = _write(pki / "admin.crt", pem_cert(admin_cert))
    admin_key_file = _write(pki / "admin.key", pem_key(admin_key), 0o600)
    kcm_key, kcm_cert = _client_cert(ca_key, ca_cert, "system:kube-controller-manager", ["system:masters"])
    kcm_cert_file = _write(pki / "kcm.crt", pem_cert(kcm_cert))
    kcm_key_file = _write(pki / "kcm.key", pem_key(kcm_key), 0o600)
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sa_private = _write(
        pki / "sa.key",
        sa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ),
        0o600,
    )
    sa_public = _write(
        pki / "sa.pub",
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )

    port = free_port()
    plane = ControlPlane(
        name=name,
        workdir=workdir,
        assets=assets,
        port=port,
        ca_file=ca_file,
        admin_kubeconfig=workdir / "admin.kubeconfig",
        admin_cert_file=admin_cert_file,
        admin_key_file=admin_key_file,
        sa_public_key_file=sa_public,
        sa_private_key_file=sa_private,
    )
    write_kubeconfig(
        plane.admin_kubeconfig,
        server=plane.url,
        ca_file=ca_file,
        cert_file=admin_cert_file,
        key_file=admin_key_file,
        user="e2e-admin",
    )
    atexit.register(plane.stop)
    try:
        _start_processes(
            plane,
            serving_cert_file,
            serving_key_file,
            kcm_cert_file,
            kcm_key_file,
            extra_apiserver_args,
            controller_manager,
        )
    except BaseException:
        plane.stop()
        raise
    return plane


def _start_processes(
    plane: ControlPlane,
    serving_cert_file: Path,
    serving_key_file: Path,
    kcm_cert_file: Path,
    kcm_key_file: Path,
    extra_apiserver_args: Sequence[str],
    controller_manager: bool,
) -> None:
    workdir, assets = plane.workdir, plane.assets
    etcd_port, etcd_peer_port = free_port(), free_port()
    etcd_url = f"http://127.0.0.1:{etcd_port}"
    etcd = spawn(
        "etcd",
        [
            assets.etcd,
            "--name=e2e",
            f"--data-dir={workdir / 'etcd-data'}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls=http://127.0.0.1:{etcd_peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer_port}",
            f"--initial-cluster=e2e=http://127.0.0.1:{etcd_peer_port}",
            "--unsafe-no-fsync",
            "--log-level=warn",
        ],
        workdir / "etcd.log",
    )
    plane.processes.append(etcd)

    def etcd_healthy() -> bool:
        with urllib.request.urlopen(etcd_url + "/health", timeout=2) as response:
            return json.loads(response.read()).get("health") == "true"

    _wait_until("healthy etcd", etcd_healthy, START_TIMEOUT, plane, etcd)

    args = [
        assets.kube_apiserver,
        f"--etcd-servers={etcd_url}",
        "--bind-address=127.0.0.1",
        f"--secure-port={plane.port}",
        f"--cert-dir={workdir / 'apiserver-certs'}",
        f"--tls-cert-file={serving_cert_file}",
        f"--tls-private-key-file={serving_key_file}",
        f"--client-ca-file={plane.ca_file}",
        "--service-cluster-ip-range=10.0.0.0/24",
        "--allow-privileged=true",
        "--authorization-mode=RBAC",
        f"--service-account-issuer={plane.issuer}",
        f"--service-account-key-file={plane.sa_public_key_file}",
        f"--service-account-signing-key-file={plane.sa_private_key_file}",
        f"--service-account-jwks-uri={plane.url}/openid/v1/jwks",
        # The default plugin set keeps ServiceAccount and MutatingAdmissionWebhook on; say so explicitly.
        "--enable-admission-plugins=ServiceAccount,MutatingAdmissionWebhook,ValidatingAdmissionWebhook",
        "--profiling=false",
        "--v=1",
    ]
    address = advertise_address()
    if address:
        args.append(f"--advertise-address={address}")
    args += list(extra_apiserver_args)
    apiserver = spawn("kube-apiserver", args, workdir / "kube-apiserver.log")
    plane.processes.append(apiserver)

    def apiserver_ready() -> bool:
        context = plane.ssl_context()
        with urllib.request.urlopen(plane.url + "/readyz", context=context, timeout=5) as response:
            return response.status == 200

    _wait_until("ready kube-apiserver", apiserver_ready, START_TIMEOUT, plane, apiserver)
    # Relying parties fetch discovery documents without credentials.
    plane.kubectl(
        "create",
        "clusterrolebinding",
        "e2e-service-account-issuer-discovery",
        "--clusterrole=system:service-account-issuer-discovery",
        "--group=system:unauthenticated",
    )

    if not controller_manager:
        return
    if assets.kube_controller_manager is None:
        raise ControlPlaneError(f"{plane.name}: kube-controller-manager requested but not in the assets")
    kcm_kubeconfig = write_kubeconfig(
        workdir / "kube-controller-manager.kubeconfig",
        server=plane.url,
        ca_file=plane.ca_file,
        cert_file=kcm_cert_file,
        key_file=kcm_key_file,
        user="system:kube-controller-manager",
    )
    kcm = spawn(
        "kube-controller-manager",
        [
            assets.kube_controller_manager,
            f"--kubeconfig={kcm_kubeconfig}",
            "--leader-elect=false",
            "--secure-port=0",
            f"--service-account-private-key-file={plane.sa_private_key_file}",
            f"--root-ca-file={plane.ca_file}",
            # Only what turns workloads into pods and keeps namespaces working.
            "--controllers=serviceaccount-controller,serviceaccount-token-controller,"
            "root-ca-certificate-publisher-controller,deployment-controller,replicaset-controller,"
            "statefulset-controller,namespace-controller,garbage-collector-controller",
            "--concurrent-deployment-syncs=2",
            "--v=1",
        ],
        workdir / "kube-controller-manager.log",
    )
    plane.processes.append(kcm)

    def default_serviceaccount() -> bool:
        result = plane.kubectl("get", "serviceaccount", "default", "-n", "default", check=False, timeout=10)
        return result.returncode == 0

    _wait_until(
        "default ServiceAccount from kube-controller-manager",
        default_serviceaccount,
        START_TIMEOUT,
        plane,
        kcm,
    )
