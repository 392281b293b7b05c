"""Development and deployment certificates: a private CA and a serving certificate signed by it."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_SERVICE = "projected-token-webhook"
DEFAULT_NAMESPACE = "projected-token-webhook"


@dataclass(frozen=True)
class CertPaths:
    ca_cert: Path
    cert: Path
    key: Path


def paths_in(out_dir: Path) -> CertPaths:
    return CertPaths(ca_cert=out_dir / "ca.crt", cert=out_dir / "tls.crt", key=out_dir / "tls.key")


def service_dns_names(service: str, namespace: str) -> list[str]:
    """The names the kube-apiserver may dial for a Service-registered webhook."""
    return [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def generate_ca(
    common_name: str, valid_days: int = 3650
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def generate_serving(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    dns_names: list[str],
    ip_addresses: list[str],
    valid_days: int = 365,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    if not dns_names and not ip_addresses:
        raise ValueError("a serving certificate needs at least one DNS name or IP address")
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    # CN is informational only: clients match SANs (CN-only certs are rejected since Kubernetes 1.19).
    common_name = dns_names[0] if dns_names else ip_addresses[0]
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=False,
                key_cert_sign=False,
                crl_sign=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def write_bundle(
    out_dir: Path,
    *,
    service: str = DEFAULT_SERVICE,
    namespace: str = DEFAULT_NAMESPACE,
    extra_dns: list[str] | None = None,
    ip_addresses: list[str] | None = None,
    valid_days: int = 365,
) -> CertPaths:
    """Generate a CA and a serving certificate for the Service (plus extra names) into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = generate_ca(f"{service}-ca", valid_days=max(valid_days, 3650))
    dns = service_dns_names(service, namespace) + [d for d in (extra_dns or []) if d]
    key, cert = generate_serving(ca_key, ca_cert, list(dict.fromkeys(dns)), ip_addresses or [], valid_days)
    paths = paths_in(out_dir)
    _write_atomically(paths.ca_cert, pem_cert(ca_cert), 0o644)
    # Key before certificate, so a reloader that sees a new cert also finds its key.
    _write_atomically(paths.key, pem_key(key), 0o600)
    _write_atomically(paths.cert, pem_cert(cert), 0o644)
    return paths


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def covers(cert: x509.Certificate, dns_names: list[str], ip_addresses: list[str]) -> bool:
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have_dns = set(sans.get_values_for_type(x509.DNSName))
    have_ips = {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    return set(dns_names) <= have_dns and set(ip_addresses) <= have_ips


def ensure_self_signed(
    out_dir: Path,
    *,
    service: str = DEFAULT_SERVICE,
    namespace: str = DEFAULT_NAMESPACE,
    ip_addresses: tuple[str, ...] = ("127.0.0.1",),
    extra_dns: tuple[str, ...] = ("localhost",),
    min_remaining: dt.timedelta = dt.timedelta(days=7),
) -> CertPaths:
    """Reuse the certificates in out_dir when they cover the names and are not about to expire."""
    paths = paths_in(out_dir)
    dns = service_dns_names(service, namespace) + list(extra_dns)
    if paths.ca_cert.exists() and paths.cert.exists() and paths.key.exists():
        try:
            cert = load_cert(paths.cert)
            if covers(cert, dns, list(ip_addresses)) and cert.not_valid_after_utc - _now() > min_remaining:
                return paths
        except ValueError:
            pass  # unreadable: regenerate below
    return write_bundle(
        out_dir,
        service=service,
        namespace=namespace,
        extra_dns=list(extra_dns),
        ip_addresses=list(ip_addresses),
    )
