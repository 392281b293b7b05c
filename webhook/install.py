"""`webhook manifests`: the kustomize base as one ready-to-apply YAML stream, for users without kustomize.

The base's files ship as package data: `webhook/data/manifests` is a symlink to `manifests/base`, which
setuptools follows when it builds the wheel. So the installer and `kubectl kustomize manifests/base` read
the very same files; tests/manifests checks both the symlink and the built wheel.
"""

from __future__ import annotations

import base64
import copy
import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

import click
from cryptography import x509
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from webhook.certs import DEFAULT_NAMESPACE, covers, load_cert, paths_in
from webhook.dialects import KNOWN_DIALECTS, object_selector_requirements
from webhook.errors import UserError
from webhook.vocabulary import is_dns1123_label

SERVICE_NAME = "projected-token-webhook"
TLS_SECRET_NAME = "projected-token-webhook-tls"
CONTAINER_NAME = "webhook"
FAILURE_POLICIES = ("Ignore", "Fail")


class InstallError(UserError):
    """An option or input file that cannot make a valid install."""


@dataclass(frozen=True)
class InstallOptions:
    """The documented substitutions applied to the base; the defaults reproduce it unchanged."""

    namespace: str = DEFAULT_NAMESPACE
    image: str | None = None
    ca_bundle: bytes | None = None
    dialects: tuple[str, ...] | None = None
    failure_policy: str | None = None
    tls_secret: dict[str, bytes] | None = None  # file name in the Secret -> content


def base_dir() -> Traversable:
    return resources.files("webhook") / "data" / "manifests"


def _yaml() -> YAML:
    yaml = YAML()  # round-trip: the output keeps the base's comments
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def base_documents() -> list[Any]:
    """The base's objects in kustomization.yaml's resource order."""
    root = base_dir()
    yaml = _yaml()
    kustomization = yaml.load((root / "kustomization.yaml").read_text())
    docs: list[Any] = []
    for name in kustomization["resources"]:
        docs.extend(doc for doc in yaml.load_all((root / name).read_text()) if doc)
    return docs


def _containers(doc: Any) -> Iterator[Any]:
    yield from doc["spec"]["template"]["spec"]["containers"]


def _rename_namespace(doc: Any, old: str, new: str) -> None:
    meta = doc["metadata"]
    if doc["kind"] == "Namespace" and meta["name"] == old:
        meta["name"] = new
    if meta.get("namespace") == old:
        meta["namespace"] = new
    for subject in doc.get("subjects") or []:
        if subject.get("namespace") == old:
            subject["namespace"] = new
    for hook in doc.get("webhooks") or []:
        service = hook["clientConfig"].get("service")
        if service and service.get("namespace") == old:
            service["namespace"] = new
        for expr in (hook.get("namespaceSelector") or {}).get("matchExpressions") or []:
            if expr["key"] == "kubernetes.io/metadata.name":
                expr["values"] = [new if v == old else v for v in expr["values"]]
    if doc["kind"] == "Deployment":
        for container in _containers(doc):
            container["args"] = [_rename_in_flag(arg, old, new) for arg in container.get("args") or []]


def _rename_in_flag(arg: str, old: str, new: str) -> str:
    flag, sep, value = arg.partition("=")
    if flag != "--excluded-namespaces" or not sep:
        return arg
    return f"{flag}={','.join(new if v == old else v for v in value.split(','))}"


def build_manifests(options: InstallOptions) -> list[Any]:
    """The base with the options applied; raises InstallError for values the cluster would reject."""
    if not is_dns1123_label(options.namespace):
        raise InstallError(f"--namespace {options.namespace!r} is not a DNS-1123 label (a-z, 0-9, '-')")
    if options.image is not None and (not options.image or any(c.isspace() for c in options.image)):
        raise InstallError(f"--image {options.image!r} is not an image reference")
    if options.failure_policy is not None and options.failure_policy not in FAILURE_POLICIES:
        raise InstallError(f"--failure-policy must be one of {', '.join(FAILURE_POLICIES)}")
    if options.dialects is not None:
        unknown = [d for d in options.dialects if d not in KNOWN_DIALECTS]
        if unknown or not options.dialects:
            raise InstallError(f"--dialects: unknown {unknown}; known: {', '.join(KNOWN_DIALECTS)}")

    docs = copy.deepcopy(base_documents())
    for doc in docs:
        if options.namespace != DEFAULT_NAMESPACE:
            _rename_namespace(doc, DEFAULT_NAMESPACE, options.namespace)
        if doc["kind"] == "Deployment":
            for container in _containers(doc):
                if container["name"] != CONTAINER_NAME:
                    continue
                if options.image is not None:
                    container["image"] = options.image
                if options.dialects is not None:
                    container["args"].append(f"--dialects={','.join(dict.fromkeys(options.dialects))}")
        for hook in doc.get("webhooks") or []:
            if options.dialects is not None:
                # The dialects' own opt-out (and, alone, opt-in) labels, as their overlays carry them.
                expressions = hook.setdefault("objectSelector", {}).setdefault("matchExpressions", [])
                expressions.extend(object_selector_requirements(options.dialects))
            if options.failure_policy is not None:
                hook["failurePolicy"] = options.failure_policy
            if options.ca_bundle is not None:
                hook["clientConfig"]["caBundle"] = base64.b64encode(options.ca_bundle).decode()
    if options.tls_secret is not None:
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": TLS_SECRET_NAME,
                "namespace": options.namespace,
                "labels": {"app.kubernetes.io/name": SERVICE_NAME},
            },
            "type": "kubernetes.io/tls",
            "data": {k: base64.b64encode(v).decode() for k, v in sorted(options.tls_secret.items())},
        }
        # Before the Deployment, so its pods find the Secret at once.
        at = next(i for i, doc in enumerate(docs) if doc["kind"] == "Deployment")
        docs.insert(at, secret)
    return docs


def dump(docs: list[Any]) -> str:
    out = io.StringIO()
    _yaml().dump_all(docs, out)
    return out.getvalue()


def read_ca_bundle(path: Path) -> bytes:
    """PEM certificates only: a key or garbage here would make every admission call fail TLS."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InstallError(f"{path}: cannot read CA bundle: {exc.strerror or exc}") from None
    try:
        x509.load_pem_x509_certificates(data)
    except ValueError:
        raise InstallError(f"{path}: not a PEM certificate bundle (expected the CA's ca.crt)") from None
    return data


def read_certs_dir(directory: Path, namespace: str) -> dict[str, bytes]:
    """ca.crt, tls.crt, tls.key from `webhook certs generate`, checked to fit the Service in namespace."""
    paths = paths_in(directory)
    files = {"ca.crt": paths.ca_cert, "tls.crt": paths.cert, "tls.key": paths.key}
    missing = [name for name, path in files.items() if not path.is_file()]
    if missing:
        raise InstallError(f"{directory}: missing {', '.join(missing)} (`webhook certs generate --out DIR`)")
    try:
        cert = load_cert(paths.cert)
    except ValueError:
        raise InstallError(f"{paths.cert}: not a PEM certificate") from None
    needed = f"{SERVICE_NAME}.{namespace}.svc"
    if not covers(cert, [needed], []):
        raise InstallError(
            f"{paths.cert}: no SAN {needed}; regenerate with `webhook certs generate --namespace {namespace}`"
        )
    read_ca_bundle(paths.ca_cert)
    return {name: path.read_bytes() for name, path in files.items()}


@click.command("manifests")
@click.option(
    "--namespace", default=DEFAULT_NAMESPACE, show_default=True, help="Namespace to install the webhook into."
)
@click.option("--image", default=None, help="Container image [the base's projected-token-webhook:<version>].")
@click.option(
    "--ca-bundle-from",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="PEM CA certificate (e.g. certs/ca.crt) to set as the webhook's caBundle.",
)
@click.option(
    "--certs-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output of `webhook certs generate`: adds the TLS Secret and the caBundle from DIR/ca.crt.",
)
@click.option(
    "--dialects", default=None, help=f"Comma-separated dialects for the server: {', '.join(KNOWN_DIALECTS)}."
)
@click.option(
    "--failure-policy",
    type=click.Choice(FAILURE_POLICIES),
    default=None,
    help="Ignore (base default) or Fail; Fail is safe only with 2+ ready replicas (see README).",
)
def manifests_command(
    namespace: str,
    image: str | None,
    ca_bundle_from: Path | None,
    certs_dir: Path | None,
    dialects: str | None,
    failure_policy: str | None,
) -> None:
    """Print the install (the kustomize base, with these substitutions) as YAML for `kubectl apply -f -`."""
    try:
        tls_secret = read_certs_dir(certs_dir, namespace) if certs_dir else None
        if ca_bundle_from is not None:
            ca_bundle: bytes | None = read_ca_bundle(ca_bundle_from)
        else:
            ca_bundle = tls_secret["ca.crt"] if tls_secret else None
        chosen = tuple(d.strip() for d in dialects.split(",") if d.strip()) if dialects is not None else None
        options = InstallOptions(
            namespace=namespace,
            image=image,
            ca_bundle=ca_bundle,
            dialects=chosen,
            failure_policy=failure_policy,
            tls_secret=tls_secret,
        )
        text = dump(build_manifests(options))
    except (OSError, YAMLError) as exc:
        raise UserError(str(exc).splitlines()[0]) from None
    if ca_bundle is None:
        click.echo(
            "note: no caBundle set; the kube-apiserver will not trust the webhook until one is "
            "(--ca-bundle-from, --certs-dir, or cert-manager's cainjector)",
            err=True,
        )
    sys.stdout.write(text)
