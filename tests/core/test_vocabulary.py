"""The vocabulary's shared checks."""

from __future__ import annotations

import pytest

from webhook.vocabulary import is_dns1123_label, is_dns1123_subdomain


@pytest.mark.parametrize(
    ("value", "label", "subdomain"),
    [
        ("a", True, True),
        ("a-1", True, True),
        ("a" * 63, True, True),
        ("a" * 64, False, True),
        ("a.b", False, True),
        ("-a", False, False),
        ("a-", False, False),
        ("A", False, False),
        ("", False, False),
        ("a..b", False, False),
        ("a\n", False, False),
        (".".join(["a" * 63] * 4), False, False),  # 255 characters
        (".".join(["a" * 63] * 3 + ["a" * 61]), False, True),  # 253
    ],
)
def test_the_one_dns1123_check(value: str, label: bool, subdomain: bool) -> None:
    assert is_dns1123_label(value) is label
    assert is_dns1123_subdomain(value) is subdomain
