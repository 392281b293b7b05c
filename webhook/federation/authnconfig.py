"""Several trusted issuers for one downstream apiserver: from the command line or a YAML list, and merged
into an existing AuthenticationConfiguration that keeps everything else as it was written."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from webhook.federation.common import InputError, literal_blocks, read_ca_bundle, read_text

# The options of `downstream authn-config` that describe one issuer; with several --issuer each belongs to
# the --issuer before it on the command line.
PER_ISSUER_OPTIONS = ("--audience", "--username-prefix", "--discovery-url", "--ca-file", "--ca-path")
# The same settings as keys of an --issuers-file entry.
FILE_KEYS = ("issuer", "audience", "username-prefix", "discovery-url", "ca-file", "ca-path")
VERSIONS = (
    "apiserver.config.k8s.io/v1",
    "apiserver.config.k8s.io/v1beta1",
    "apiserver.config.k8s.io/v1alpha1",
)


@dataclass(frozen=True)
class IssuerSpec:
    """One upstream issuer as the user described it (files still unread)."""

    url: str
    audiences: tuple[str, ...]
    username_prefix: str | None
    discovery_url: str | None = None
    ca_file: str | None = None
    ca_path: str | None = None  # where the CA lives on the downstream control plane (--format oidc-flags)

    def ca_pem(self) -> str | None:
        return read_ca_bundle(self.ca_file) if self.ca_file else None


def options_in_order(args: Sequence[str]) -> list[tuple[str, str]]:
    """(option, value) for --issuer and the per-issuer options, in command-line order (before any `--`)."""
    wanted = ("--issuer", *PER_ISSUER_OPTIONS)
    found: list[tuple[str, str]] = []
    i = 0
    while i < len(args) and args[i] != "--":
        name, eq, value = args[i].partition("=")
        if name in wanted:
            if not eq:
                if i + 1 >= len(args):
                    break  # click reports the missing value
                i += 1
                value = args[i]
            found.append((name, value))
        i += 1
    return found


def _single(option: str, values: Sequence[str], url: str) -> str | None:
    if len(values) > 1:
        raise InputError(f"{option} is given {len(values)} times for --issuer {url!r}; give it once")
    return values[0] if values else None


def issuers_from_command_line(ordered: Sequence[tuple[str, str]]) -> list[IssuerSpec]:
    """Group the options by the --issuer they follow; with a single --issuer their order does not matter."""
    issuers = [value for name, value in ordered if name == "--issuer"]
    groups: list[tuple[str, dict[str, list[str]]]] = []
    if len(issuers) == 1:
        groups.append((issuers[0], {}))
    for name, value in ordered:
        if name == "--issuer":
            if len(issuers) > 1:
                groups.append((value, {}))
            continue
        if not groups:
            raise InputError(
                f"{name} {value!r} comes before the first --issuer: with several --issuer, each "
                "--audience, --username-prefix, --ca-file, --ca-path and --discovery-url belongs to the "
                "--issuer before it"
            )
        groups[-1][1].setdefault(name, []).append(value)
    return [
        IssuerSpec(
            url=url,
            audiences=tuple(options.get("--audience", ())),
            username_prefix=_single("--username-prefix", options.get("--username-prefix", ()), url),
            discovery_url=_single("--discovery-url", options.get("--discovery-url", ()), url),
            ca_file=_single("--ca-file", options.get("--ca-file", ()), url),
            ca_path=_single("--ca-path", options.get("--ca-path", ()), url),
        )
        for url, options in groups
    ]


def _load_yaml(text: str, where: str) -> list[Any]:
    """Every document of a YAML text (safe loader), with one-line errors."""
    try:
        return list(YAML(typ="safe").load_all(text))
    except YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{where}: not YAML ({first})") from None
    except RecursionError:
        raise InputError(f"{where}: not YAML (nested too deeply)") from None


def _string(entry: dict[str, Any], key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is not None and not isinstance(value, str):
        raise InputError(f"{where}: {key} must be a string")
    return value


def issuers_from_file(path: str) -> list[IssuerSpec]:
    """An --issuers-file: a YAML list of {issuer, audience, username-prefix, ca-file, ca-path,
    discovery-url}; audience a string or a list; ca-file relative to the list's own directory."""
    where = f"--issuers-file {path}"
    docs = _load_yaml(read_text(path, "--issuers-file"), where)
    doc = docs[0] if len(docs) == 1 else None
    if not isinstance(doc, list) or not doc:
        raise InputError(f"{where}: expected a non-empty YAML list of issuers")
    specs = []
    for index, entry in enumerate(doc):
        at = f"{where}: entry {index + 1}"
        if not isinstance(entry, dict):
            raise InputError(f"{at}: expected a mapping with issuer, audience, username-prefix")
        unknown = sorted(str(k) for k in entry if k not in FILE_KEYS)
        if unknown:
            raise InputError(f"{at}: unknown key {unknown[0]!r} (known: {', '.join(FILE_KEYS)})")
        url = _string(entry, "issuer", at)
        if not url:
            raise InputError(f"{at}: issuer is required")
        audience = entry.get("audience")
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
            raise InputError(f"{at}: audience must be a string or a list of strings")
        ca_file = _string(entry, "ca-file", at)
        specs.append(
            IssuerSpec(
                url=url,
                audiences=tuple(audiences),
                username_prefix=_string(entry, "username-prefix", at),
                discovery_url=_string(entry, "discovery-url", at),
                ca_file=str(Path(path).parent / ca_file) if ca_file else None,
                ca_path=_string(entry, "ca-path", at),
            )
        )
    return specs


# --- merging into an existing AuthenticationConfiguration ---------------------------------------------------


def _indentation(text: str) -> tuple[int, int, int]:
    """(mapping, sequence, offset) for ruamel, read off the existing `jwt:` list so our entries and the
    re-emitted text look like the rest of the file; the project's own layout when there is nothing to read."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not re.match(r"jwt:\s*(#.*)?$", line):
            continue
        rest = [ln for ln in lines[i + 1 :] if ln.strip() and not ln.lstrip().startswith("#")]
        if not rest:
            break
        item = rest[0]
        match = re.match(r"( *)- +(\S)", item)
        if not match:
            break
        offset, content = len(match.group(1)), match.end(2) - 1
        for deeper in rest[1:]:
            column = len(deeper) - len(deeper.lstrip(" "))
            if column <= content:
                break
            if not deeper.lstrip().startswith("-"):
                return column - content, content, offset
        return 2, content, offset
    return 2, 4, 2


def merge_into(existing: str, authenticators: Iterable[dict[str, Any]], where: str) -> str:
    """The existing AuthenticationConfiguration with our `jwt` entries added, or replacing the entry of
    the same issuer URL in place; comments, quoting and the other entries kept as written."""
    found = [d for d in _load_yaml(existing, where) if d is not None]  # clear errors before the round trip
    if len(found) != 1:
        raise InputError(f"{where}: expected one AuthenticationConfiguration document, found {len(found)}")
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    mapping, sequence, offset = _indentation(existing)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    [doc] = [d for d in yaml.load_all(existing) if d is not None]
    if not isinstance(doc, CommentedMap) or doc.get("kind") != "AuthenticationConfiguration":
        raise InputError(f"{where}: not an AuthenticationConfiguration (kind: AuthenticationConfiguration)")
    if doc.get("apiVersion") not in VERSIONS:
        raise InputError(
            f"{where}: apiVersion {doc.get('apiVersion')!r} unknown; expected one of {', '.join(VERSIONS)}"
        )
    entries = doc.get("jwt")
    if entries is None:
        entries = doc["jwt"] = CommentedSeq()
    if not isinstance(entries, CommentedSeq):
        raise InputError(f"{where}: jwt must be a list")
    existing_urls = []
    for index, entry in enumerate(entries):
        url = entry.get("issuer", {}).get("url") if isinstance(entry, dict) else None
        if not isinstance(url, str):
            raise InputError(f"{where}: jwt[{index}] has no issuer.url")
        if url in existing_urls:
            raise InputError(f"{where}: issuer {url!r} appears twice already (issuer URLs must be distinct)")
        existing_urls.append(url)
    for ours in authenticators:
        url = ours["issuer"]["url"]
        new = literal_blocks(ours)
        if url in existing_urls:
            entries[existing_urls.index(url)] = new
        else:
            entries.append(new)
            existing_urls.append(url)
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()
