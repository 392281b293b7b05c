"""`webhook certs generate` and `webhook serve`'s one-line errors (no traceback, non-zero exit)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509

from webhook.cli import main


def test_certs_generate_writes_a_ca_and_a_serving_cert_with_the_service_sans(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = [
        "certs",
        "generate",
        "--service",
        "hook",
        "--namespace",
        "sys",
        "--ip",
        "127.0.0.1",
        "--dns",
        "localhost",
        "--out",
    ]
    result = CliRunner().invoke(main, [*args, str(out)])
    assert result.exit_code == 0, result.output
    cert = x509.load_pem_x509_certificate((out / "tls.crt").read_bytes())
    ca = x509.load_pem_x509_certificate((out / "ca.crt").read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"hook", "hook.sys", "hook.sys.svc", "localhost"} <= set(sans.get_values_for_type(x509.DNSName))
    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    cert.verify_directly_issued_by(ca)
    assert (out / "tls.key").stat().st_mode & 0o077 == 0


def test_certs_generate_rejects_a_bad_ip(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["certs", "generate", "--out", str(tmp_path), "--ip", "not-an-ip"])
    assert result.exit_code != 0
    assert "not-an-ip" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--serviceaccounts", "{sa}"], "TLS is required"),
        (["--self-signed", "--certs-dir", "{tmp}/c"], "no ServiceAccount source"),
        (
            ["--self-signed", "--certs-dir", "{tmp}/c", "--serviceaccounts", "{tmp}/missing.yaml"],
            "missing.yaml",
        ),
        (
            ["--self-signed", "--keepalive-timeout", "30", "--serviceaccounts", "{sa}"],
            "--keepalive-timeout 30: must be more than 90",
        ),
        (
            ["--tls-cert", "{tmp}/none.crt", "--tls-key", "{tmp}/none.key", "--serviceaccounts", "{sa}"],
            "none.crt",
        ),
        (["--self-signed", "--tls-cert", "{tmp}/x", "--serviceaccounts", "{sa}"], "exclude each other"),
        (
            ["--self-signed", "--certs-dir", "{tmp}/c", "--kubeconfig", "{tmp}/nowhere"],
            "nowhere: no such file",
        ),
    ],
)
def test_serve_errors_are_one_line(
    tmp_path: Path, sa_file: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], needle: str
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    argv = ["serve", "--host", "127.0.0.1", "--port", "0"]
    argv += [a.format(tmp=tmp_path, sa=sa_file) for a in args]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and needle in errors[0], result.output


def test_serve_names_what_is_wrong_with_the_certificate_files(tmp_path: Path, sa_file: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        assert CliRunner().invoke(main, ["certs", "generate", "--out", str(out)]).exit_code == 0
    (tmp_path / "garbage.pem").write_text("not a certificate\n")
    cases = [
        (
            tmp_path / "garbage.pem",
            first / "tls.key",
            "expected a PEM certificate (chain) and its PEM private key",
        ),
        (first / "tls.crt", second / "tls.key", "the private key does not belong to the certificate"),
    ]
    for cert, key, needle in cases:
        argv = ["serve", "--port", "0", "--tls-cert", str(cert), "--tls-key", str(key)]
        result = CliRunner().invoke(main, [*argv, "--serviceaccounts", str(sa_file)])
        assert result.exit_code != 0 and "Traceback" not in result.output
        errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and needle in errors[0] and str(cert) in errors[0], result.output


def test_serve_reads_its_settings_from_the_config_file(tmp_path: Path, sa_file: Path) -> None:
    config = tmp_path / "serve.yaml"
    config.write_text(f"serviceaccounts: {sa_file}\nself-signed: true\nkeepalive-timeout: 30\n")
    result = CliRunner().invoke(
        main, ["serve", "--config", str(config), "--port", "0", "--host", "127.0.0.1"]
    )
    assert result.exit_code != 0
    assert f"--config {config}: keepalive-timeout: 30: must be more than 90" in result.output
