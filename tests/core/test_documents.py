"""Reading manifests: splitting, YAML 1.1 where kubectl reads it so, JSON streams, errors, ServiceAccounts."""

from __future__ import annotations

from pathlib import Path

import pytest

from webhook.documents import (
    InputError,
    _forbidden,
    load_serviceaccounts,
    parse,
    read_documents,
    serviceaccounts_in,
)
from webhook.workloads import pod_templates


def test_raw_documents_add_up_to_the_source() -> None:
    text = "# head comment\n---\na: 1\n--- # inline\nb: 2\n---\n# only a comment\n---\n\nc: [1, 2]\n...\n"
    docs = parse("f", text)
    assert "".join(d.raw for d in docs) == text
    assert [d.data for d in docs] == [None, {"a": 1}, {"b": 2}, None, {"c": [1, 2]}]
    assert [d.line for d in docs] == [1, 2, 4, 6, 8]


@pytest.mark.parametrize(
    ("text", "data"),
    [
        ("---\na: 1\n", [{"a": 1}]),  # a leading separator starts no empty document
        ("---", [None]),
        ("a: 1\n---", [{"a": 1}, None]),  # a separator on the last line, without a newline
        ("a: 1\r\n---\r\nb: 2\r\n", [{"a": 1}, {"b": 2}]),
        ("a: 1\n--- \nb: 2\n---\t# tab, then a comment\nc: 3\n", [{"a": 1}, {"b": 2}, {"c": 3}]),
        ("a: |\n  ----\n  --- x\nb: ---x\n", [{"a": "----\n--- x\n", "b": "---x"}]),  # not at a line start
        ("a: 1\n----\n", None),  # four dashes are no separator (and no valid YAML here)
    ],
)
def test_separators_are_found_only_at_line_starts(text: str, data: list | None) -> None:
    if data is None:
        with pytest.raises(InputError):
            parse("f", text)
        return
    docs = parse("f", text)
    assert [d.data for d in docs] == data
    assert "".join(d.raw for d in docs) == text


def test_yaml_1_1_scalars_are_read_as_kubectl_reads_them() -> None:
    text = "mode: 0644\nflag: yes\nport: 8080\nname: nginx\nversion: '0644'\n"
    assert parse("f", text)[0].data == {
        "mode": 420,
        "flag": True,
        "port": 8080,
        "name": "nginx",
        "version": "0644",
    }
    assert parse("f", text)[0].yaml11
    assert not parse("f", "name: no-way\nmode: 420\n")[0].yaml11


YAML11_ONLY = (
    "0644",
    "+0644",
    "-012",
    "0_644",
    "0b101",
    "y",
    "N",
    "Yes",
    "NO",
    "On",
    "off",
    "1:20",
    "190:20:30",
)


@pytest.mark.parametrize("value", YAML11_ONLY)
@pytest.mark.parametrize("layout", ["k: {}\n", "k:   {}  # why\n", "items:\n- {}\n", "- a\n-   {}\n"])
def test_every_yaml_1_1_plain_scalar_is_read_as_pyyaml_reads_it(value: str, layout: str) -> None:
    import yaml

    doc = parse("f", layout.format(value))[0]
    assert doc.yaml11
    assert doc.data == yaml.safe_load(layout.format(value))


@pytest.mark.parametrize(
    "value", ["8080", "0", "nginx", "'yes'", '"0644"', "no-way", "1:60", "onion", "-x", "0.5"]
)
def test_scalars_both_yaml_versions_agree_on_stay_on_the_fast_loader(value: str) -> None:
    assert not parse("f", f"k: {value}\nitems:\n- {value}\n")[0].yaml11


@pytest.mark.parametrize(
    ("text", "data"),
    [
        ("a: b!", [{"a": "b!"}]),
        ("a: b\t", [{"a": "b"}]),
        ("a: 1\n---\nb: c&", [{"a": 1}, {"b": "c&"}]),
    ],
)
def test_a_source_may_end_in_a_character_only_the_exact_loader_reads(text: str, data: list) -> None:
    # A tab, "!" or "&" as the very last character (no final newline) was an IndexError.
    assert [doc.data for doc in parse("x", text)] == data


def test_json_streams_and_lists() -> None:
    pod = '{"kind": "Pod", "spec": {"containers": []}}'
    text = f'{{"kind": "Pod", "spec": {{}}}}\n{{"kind": "List", "items": [{pod}]}}\n'
    docs = parse("f.json", text)
    assert len(docs) == 2 and all(d.is_json for d in docs)
    assert "".join(d.raw for d in docs) == text
    assert [t.pointer for t in pod_templates(docs[1].data)] == ["/items/0"]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("a: 1\n---\nb: [1,\n", 3, "unclosed bracket"),
        ("a: 1\n---\nkind: Pod\nkind: Job\n", 4, "duplicate"),
        ("a: 1\n---\n  b: 1\n c: 2\n", 4, "invalid YAML"),
    ],
)
def test_errors_name_the_line(text: str, line: int, reason: str) -> None:
    with pytest.raises(InputError) as caught:
        parse("f.yaml", text)
    assert caught.value.line == line and reason in str(caught.value)
    assert str(caught.value).startswith(f"f.yaml:{line}: ")


def test_serviceaccounts_from_documents_and_files(tmp_path: Path) -> None:
    text = (
        "apiVersion: v1\nkind: List\nitems:\n- kind: ServiceAccount\n  metadata: {name: a, namespace: x}\n"
        "---\nkind: ServiceAccount\nmetadata:\n  name: b\n  annotations:\n    n: '1'\n    s: text\n"
    )
    found = serviceaccounts_in(parse("f", text))
    assert set(found) == {("x", "a"), ("default", "b")}
    assert found[("default", "b")].annotations == {"n": "1", "s": "text"}
    with pytest.raises(InputError, match="f:6: ServiceAccount default/b: annotation 'n' must be a string"):
        serviceaccounts_in(parse("f", text.replace("n: '1'", "n: 1")))  # the apiserver stores none such
    (tmp_path / "sa.yaml").write_text(text)
    assert set(load_serviceaccounts([tmp_path])) == set(found)
    with pytest.raises(InputError):
        load_serviceaccounts([tmp_path / "missing.yaml"])


def test_directories_are_read_recursively_in_order(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.yml").write_text("n: 2\n")
    (tmp_path / "a.yaml").write_text("n: 1\n")
    (tmp_path / "c.json").write_text('{"n": 3}')
    (tmp_path / "skip.md").write_text("n: 4\n")
    assert [d.data["n"] for d in read_documents([str(tmp_path)])] == [1, 2, 3]  # sorted paths


def test_crlf_files_render_correctly() -> None:
    from click.testing import CliRunner

    from webhook.cli import main

    sa = "kind: ServiceAccount\nmetadata:\n  name: app\n  annotations:\n    projected-token.io/audience: a\n"
    pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  serviceAccountName: app\n  containers:\n"
    pod += "  - name: c\n    image: i\n"
    text = (sa + "---\n" + pod).replace("\n", "\r\n")
    result = CliRunner().invoke(main, ["render", "-", "-o", "json"], input=text)
    assert result.exit_code == 0, result.stderr
    assert '"TOKEN_FILE"' in result.stdout
    yaml_out = CliRunner().invoke(main, ["render", "-"], input=text)
    out_docs = parse("out", yaml_out.stdout)
    assert (
        out_docs[1].data["spec"]["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"]["audience"]
        == "a"
    )


def test_the_forbidden_characters_are_exactly_those_outside_yaml_c_printable() -> None:
    def printable(c: int) -> bool:  # YAML 1.2 c-printable
        return (
            c in (0x09, 0x0A, 0x0D, 0x85)
            or 0x20 <= c <= 0x7E
            or 0xA0 <= c <= 0xD7FF
            or 0xE000 <= c <= 0xFFFD
            or 0x10000 <= c <= 0x10FFFF
        )

    everything = "".join(map(chr, range(0x110000)))
    found = [m.start() for m in _forbidden().finditer(everything)]
    assert found == [c for c in range(0x110000) if not printable(c)]
