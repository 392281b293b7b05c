"""What every trusting-side generator shares: input errors, file reading, URL checks, YAML/JSON output."""

from __future__ import annotations

import io
import ipaddress
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import LiteralScalarString

from webhook.errors import UserError


class InputError(UserError):
    """Bad input from the user; the message is one line and names what is wrong."""


def read_text(path: str | Path, what: str) -> str:
    """Read a small text file, turning OS errors into one-line InputErrors."""
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        raise InputError(f"{what} {path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{what} {path}: is a directory, expected a file") from None
    except UnicodeDecodeError:
        raise InputError(f"{what} {path}: not a text file") from None
    except OSError as exc:
        raise InputError(f"{what} {path}: cannot read: {exc.strerror or exc}") from None


def read_ca_bundle(path: str | Path) -> str:
    """Read a PEM CA bundle and check it holds at least one parseable certificate."""
    text = read_text(path, "CA file")
    try:
        certs = x509.load_pem_x509_certificates(text.encode())
    except ValueError:
        certs = []
    if not certs:
        raise InputError(f"CA file {path}: no PEM certificate found (expected -----BEGIN CERTIFICATE-----)")
    return text if text.endswith("\n") else text + "\n"


# RFC 3986 reg-name characters (unreserved, sub-delims, pct-encoded) plus non-ASCII for IDNs; what Go's
# url.Parse (the apiserver's and client-go's) lets through in a host.
_HOST_RE = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=%\u0080-\U0010ffff]+")


def check_https_url(value: str, what: str) -> str:
    """An https URL with a host and no query, fragment or user info (what OIDC issuers and servers need)."""
    if not value:
        raise InputError(f"{what} must not be empty")
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise InputError(f"{what} {value!r} must not contain spaces or control characters")
    try:
        parts = urlsplit(value)
    except ValueError as exc:  # e.g. "Invalid IPv6 URL" for https://[::1
        raise InputError(f"{what} {value!r} is not a valid URL ({exc})") from None
    if parts.scheme != "https":
        raise InputError(f"{what} {value!r} must be an https:// URL")
    if not parts.hostname:
        raise InputError(f"{what} {value!r} has no host")
    hostinfo = parts.netloc.rpartition("@")[2]
    if not _valid_host(parts.hostname) or (
        hostinfo.startswith("[") and hostinfo.partition("]")[2][:1] not in ("", ":")
    ):
        raise InputError(f"{what} {value!r} has an invalid host {hostinfo!r}")
    if parts.username is not None or parts.password is not None:
        raise InputError(f"{what} {value!r} must not contain user info")
    if parts.query or value.endswith("?"):
        raise InputError(f"{what} {value!r} must not contain a query")
    if parts.fragment or "#" in value:
        raise InputError(f"{what} {value!r} must not contain a fragment")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise InputError(f"{what} {value!r} has an invalid port") from None
    return value


def _valid_host(host: str) -> bool:
    if ":" in host:  # urlsplit strips the brackets of an IPv6 literal
        try:
            ipaddress.IPv6Address(host.partition("%")[0])
        except ValueError:
            return False
        return True
    return bool(_HOST_RE.fullmatch(host))


def parse_json(text: str | bytes, where: str) -> Any:
    """json.loads with one-line errors, including for documents nested too deep for the parser."""
    try:
        return json.loads(text)
    except RecursionError:
        raise InputError(f"{where}: not JSON (nested too deeply)") from None
    except ValueError:
        raise InputError(f"{where}: not JSON") from None


def literal_blocks(value: Any) -> Any:
    # Multi-line strings (PEM, JSON, scripts) read best as literal blocks.
    if isinstance(value, Mapping):
        return {k: literal_blocks(v) for k, v in value.items()}
    if isinstance(value, list):
        return [literal_blocks(v) for v in value]
    if (
        isinstance(value, str)
        and "\n" in value
        and not any(line != line.rstrip() for line in value.split("\n"))
    ):
        return LiteralScalarString(value)
    return value


def dump_yaml(docs: Iterable[Mapping[str, Any]]) -> str:
    """Documents as YAML, separated by `---`, multi-line strings as literal blocks."""
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    yaml.dump_all([literal_blocks(doc) for doc in docs], out)
    return out.getvalue()


def dump_json(doc: Any) -> str:
    return json.dumps(doc, indent=2) + "\n"


def write_output(text: str, out: str | Path | None, *, private: bool = False) -> None:
    """Print to stdout, or write the file (0600 when it carries a credential)."""
    if out is None or str(out) == "-":
        print(text, end="")
        return
    path = Path(out)
    try:
        if private:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
        else:
            path.write_text(text)
    except OSError as exc:
        raise InputError(f"--out {path}: cannot write: {exc.strerror or exc}") from None
