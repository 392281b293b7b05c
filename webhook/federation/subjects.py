"""ServiceAccount references (NAMESPACE/NAME, NAMESPACE/*) as the `sub` claims of their tokens."""

from __future__ import annotations

from collections.abc import Sequence

from webhook.federation.common import InputError
from webhook.federation.downstream import SA_USER, parse_serviceaccount
from webhook.vocabulary import DNS1123_LABEL_RE


def subject(reference: str, *, option: str = "--serviceaccount") -> str:
    """NAMESPACE/NAME -> system:serviceaccount:NAMESPACE:NAME; NAMESPACE/* -> the glob for every one there."""
    namespace, sep, name = reference.partition("/")
    if sep and name == "*":
        if not DNS1123_LABEL_RE.fullmatch(namespace) or len(namespace) > 63:
            raise InputError(f"{option} {reference!r}: {namespace!r} is not a valid namespace name")
        return SA_USER.format(namespace=namespace, name="*")
    try:
        namespace, name = parse_serviceaccount(reference)
    except InputError as exc:
        message = str(exc).replace("--serviceaccount", option, 1)
        raise InputError(message + " (or NAMESPACE/* for all of a namespace)") from None
    return SA_USER.format(namespace=namespace, name=name)


def subjects(references: Sequence[str], *, option: str = "--serviceaccount") -> list[str]:
    """Each reference's subject, in order, duplicates dropped."""
    return list(dict.fromkeys(subject(r, option=option) for r in references))


def is_glob(value: str) -> bool:
    return "*" in value
