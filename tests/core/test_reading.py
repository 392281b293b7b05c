"""Reading YAML as kubectl reads it, on every path (render, -o json/diff, the --serviceaccounts file): merge
keys and anchors, BOM, forbidden characters, layout kept (CRLF, "---" comments, JSON streams), unreadable
files and directories, and one-line errors instead of tracebacks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from webhook.cli import main
from webhook.documents import InputError, parse, read_documents
from webhook.serviceaccounts import StaticFileSource

SA = "kind: ServiceAccount\nmetadata:\n  name: app\n  annotations:\n    projected-token.io/audience: a\n"
POD_HEAD = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  serviceAccountName: app\n"
MERGED = (
    POD_HEAD + "  containers:\n"
    "  - &base\n    name: a\n    image: busybox\n"
    "    volumeMounts:\n    - name: data\n      mountPath: /data\n"
    "  - <<: *base\n    name: b\n"
    "  volumes:\n  - name: data\n    emptyDir: {}\n"
)
SIMPLE_POD = POD_HEAD + "  containers:\n  - name: c\n    image: i\n"


def render(*args: str, text: str | None = None, files: dict[str, str | bytes] | None = None, cwd: Path):
    for name, content in (files or {}).items():
        path = cwd / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = CliRunner().invoke(main, ["render", *args], input=text, catch_exceptions=False)
    return result


def containers(out: str) -> list[dict]:
    pod = next(d for d in yaml.safe_load_all(out) if d and d.get("kind") == "Pod")
    return pod["spec"]["containers"]


# ---------------------------------------------------------------------------------------- merge keys, anchors


@pytest.mark.parametrize("output", ["yaml", "json"])
def test_merge_keys_are_resolved_and_no_container_loses_data(output: str) -> None:
    result = CliRunner().invoke(main, ["render", "-", "-o", output], input=SA + "---\n" + MERGED)
    assert result.exit_code == 0, result.output
    if output == "json":
        items = json.loads(result.stdout)["items"]
        pod_containers = items[1]["spec"]["containers"]
    else:
        pod_containers = containers(result.stdout)
    assert [c["name"] for c in pod_containers] == ["a", "b"]
    for container in pod_containers:
        assert "<<" not in container
        assert container["image"] == "busybox"
        assert [m["mountPath"] for m in container["volumeMounts"]] == ["/data", "/var/run/secrets/tokens"]
        assert [e["name"] for e in container["env"]] == ["TOKEN_FILE"]


def test_an_edit_of_an_aliased_node_changes_only_its_own_container() -> None:
    """Container b is an alias of container a: PyYAML returns one object for both; an add to one must not
    land in the other twice, and the output must load (as kubectl does) to exactly the patched data."""
    pod = (
        POD_HEAD
        + "  containers:\n  - &c\n    name: a\n    image: i\n    env: &e\n    - name: X\n      value: x\n"
        "  initContainers:\n  - name: init\n    image: i\n    env: *e\n"
    )
    result = CliRunner().invoke(main, ["render", "-"], input=SA + "---\n" + pod)
    assert result.exit_code == 0, result.output
    out = next(d for d in yaml.safe_load_all(result.stdout) if d and d["kind"] == "Pod")
    for container in (out["spec"]["containers"][0], out["spec"]["initContainers"][0]):
        assert [e["name"] for e in container["env"]] == ["X", "TOKEN_FILE"]
        assert len(container["volumeMounts"]) == 1
    assert "note:" in result.stderr and "anchors and aliases expanded" in result.stderr


def test_anchors_that_the_edit_does_not_touch_stay_in_place() -> None:
    pod = POD_HEAD + "  containers:\n  - name: c\n    image: i\n    args: &args [--a]\n    command: *args\n"
    result = CliRunner().invoke(main, ["render", "-"], input=SA + "---\n" + pod)
    assert result.exit_code == 0, result.output
    assert "args: &args [--a]\n    command: *args\n" in result.stdout
    assert "note:" not in result.stderr


def test_alias_bombs_and_recursive_aliases_are_refused() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n"
    for level in "bcdefghi":
        bomb += f"{level}: &{level} [*{chr(ord(level) - 1)}" + f", *{chr(ord(level) - 1)}" * 8 + "]\n"
    with pytest.raises(InputError, match="too many nodes"):
        parse("f.yaml", bomb)
    with pytest.raises(InputError, match="recursive alias"):
        parse("f.yaml", "a: &a [*a]\n")


# ------------------------------------------------------------------------------------------------ characters


def test_a_leading_bom_is_accepted_as_kubectl_does(tmp_path: Path) -> None:
    text = SA + "---\n" + SIMPLE_POD
    plain = render(str(tmp_path / "plain.yaml"), "--check", files={"plain.yaml": text}, cwd=tmp_path)
    bom = render(str(tmp_path / "bom.yaml"), "--check", files={"bom.yaml": "\ufeff" + text}, cwd=tmp_path)
    assert plain.exit_code == bom.exit_code == 3, bom.output
    assert bom.stdout_bytes == "\ufeff".encode() + plain.stdout_bytes  # kept, as untouched text is
    docs = parse("f", "\ufeff" + text)
    assert docs[0].data["kind"] == "ServiceAccount"
    # The changed document is the one behind the mark (differential finding, case 218): its first key stays
    # apiVersion, and the mark stays in front of the stream.
    changed = render(
        str(tmp_path / "pod.yaml"),
        "-s",
        str(tmp_path / "sa.yaml"),
        files={"pod.yaml": "\ufeff" + SIMPLE_POD, "sa.yaml": SA},
        cwd=tmp_path,
    )
    assert changed.exit_code == 0, changed.output
    assert changed.stdout_bytes.startswith("\ufeffapiVersion: v1\n".encode())
    assert parse("out", changed.stdout_bytes.decode())[0].data["apiVersion"] == "v1"
    assert "TOKEN_FILE" in changed.stdout
    json_docs = parse("f.json", '\ufeff{"kind": "Pod"}\n')
    assert json_docs[0].data == {"kind": "Pod"} and json_docs[0].raw == '\ufeff{"kind": "Pod"}\n'


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("a: 1\nb: x\x00y\n", 2, "U+0000"),
        ("a: 1\n---\nb: 'x\x01'\n", 3, "U+0001"),
        ("# \x7f\na: 1\n", 1, "U+007F"),
        ("a: é\nb: \x9b\n", 2, "U+009B"),
        ("a: 1\n\ufeffb: 2\n", 2, "byte order mark"),
    ],
)
def test_characters_yaml_forbids_are_refused_with_their_line(text: str, line: int, what: str) -> None:
    with pytest.raises(InputError) as caught:
        parse("f.yaml", text)
    assert caught.value.line == line and what in str(caught.value)
    result = CliRunner().invoke(main, ["render", "-"], input=text)
    assert result.exit_code == 2 and result.stderr.startswith(f"error: <stdin>:{line}: ")


def test_the_serviceaccounts_file_with_a_nul_keeps_the_last_good_content(tmp_path: Path) -> None:
    path = tmp_path / "sa.yaml"
    path.write_text(SA)
    source = StaticFileSource(path)
    assert len(source) == 1
    path.write_text(SA.replace("name: app", "name: app\x00"))
    with pytest.raises(InputError, match=r"sa\.yaml:3: character U\+0000"):
        source.reload()
    assert len(source) == 1  # the last good file is still served
    with pytest.raises(InputError):
        StaticFileSource(path)  # and a bad file at start-up is refused


# -------------------------------------------------------------------------------------------------- layout


def _line_ends(text: str) -> set[str]:
    return {"crlf" if line.endswith("\r") else "lf" for line in text.split("\n")[:-1]}


@pytest.mark.parametrize("body", [SIMPLE_POD, MERGED, POD_HEAD + "  containers: [{name: c, image: i}]\n"])
def test_crlf_stays_crlf_in_untouched_and_edited_documents(body: str) -> None:
    text = (SA + "---\n" + body + "---\nkind: ConfigMap\n").replace("\n", "\r\n")
    for output in ("yaml", "diff"):
        result = CliRunner().invoke(main, ["render", "-", "-o", output], input=text.encode())
        assert result.exit_code == 0, result.output
        out = result.stdout_bytes.decode()  # .stdout turns CRLF into LF
        if output == "yaml":
            assert _line_ends(out) == {"crlf"}
            assert "TOKEN_FILE" in out
        else:
            added = [line for line in out.split("\n") if line.startswith("+") and line != "+++"]
            assert added and all(line.endswith("\r") for line in added if not line.startswith("+++"))


@pytest.mark.parametrize("separator", ["--- # the pod", "---\t# the pod", "---   #the pod"])
def test_separator_lines_with_comments_are_kept(separator: str) -> None:
    pod = "# about the pod\n" + SIMPLE_POD.replace("name: p\n", "name: p  # its name\n")
    result = CliRunner().invoke(main, ["render", "-"], input=SA + separator + "\n" + pod)
    assert result.exit_code == 0, result.output
    assert f"\n{separator}\n# about the pod\napiVersion: v1\n" in result.stdout
    assert "name: p  # its name\n" in result.stdout


def test_json_streams_print_back_as_they_came() -> None:
    sa = json.dumps(yaml.safe_load(SA))
    pod = json.dumps(yaml.safe_load(SIMPLE_POD))
    text = f'{sa}\n{{"kind": "ConfigMap"}}\n{pod}\n'
    result = CliRunner().invoke(main, ["render", "-"], input=text)
    assert result.exit_code == 0, result.output
    assert "---" not in result.stdout
    assert result.stdout.startswith(f'{sa}\n{{"kind": "ConfigMap"}}\n{{')
    docs = parse("out.json", result.stdout)
    assert [d.data.get("kind") for d in docs] == ["ServiceAccount", "ConfigMap", "Pod"]
    assert "TOKEN_FILE" in json.dumps(docs[2].data)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file: permissions cannot make one unreadable")
def test_unreadable_directories_and_files_are_errors_with_their_path(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(SA)
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "b.yaml").write_text(SIMPLE_POD)
    locked.chmod(0)
    try:
        with pytest.raises(InputError, match="locked"):
            read_documents([str(tmp_path)])
    finally:
        locked.chmod(0o755)
    unreadable = tmp_path / "c.yaml"
    unreadable.write_text(SA)
    unreadable.chmod(0)
    with pytest.raises(InputError, match=r"c\.yaml: cannot read: Permission denied"):
        read_documents([str(tmp_path)])


def test_dangling_links_and_directories_found_while_walking_are_errors(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(SA)
    (tmp_path / "gone.yaml").symlink_to(tmp_path / "nowhere.yaml")
    with pytest.raises(InputError, match=r"gone\.yaml: cannot read"):
        read_documents([str(tmp_path)])
    result = CliRunner().invoke(main, ["render", str(tmp_path)])
    assert result.exit_code == 2 and "gone.yaml" in result.stderr


def test_a_directory_that_cannot_be_listed_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the test above for root, who reads every directory: os.scandir fails as it would without rights."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yaml").write_text(SA)
    real_scandir = os.scandir

    def scandir(path):
        if str(path).endswith("sub"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(InputError, match=r"sub: cannot read directory: Permission denied"):
        read_documents([str(tmp_path)])


# ------------------------------------------------------------------------------------------ never a traceback


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a: " + "[" * 300 + "]" * 300 + "\n", "nested deeper"),
        ("a:\n" + "".join("  " * i + f"- k{i}:\n" for i in range(1, 260)), "nested deeper"),
        ("[" * 5000 + "]" * 5000, "invalid JSON"),
        ('{"a": "\\ud800"}', "lone surrogate"),
        ('{"a": "x"}\n{"b": "\\udfff y"}', "lone surrogate"),
        ('a: "\\ud800"\n', "invalid YAML"),
        ("a: " + "1" * 5000 + "\n", "invalid YAML"),
        ('{"a": ' + "1" * 5000 + "}", "invalid JSON"),
        ('{"a": NaN}', "invalid JSON"),
        ("a: 1\n...\nb: 2\n", "invalid YAML"),
        ("a: !!python/object:os.system x\n", "invalid YAML"),
        ("a: *nowhere\n", "invalid YAML"),
    ],
)
def test_hostile_input_is_one_line_and_exit_2(text: str, reason: str) -> None:
    result = CliRunner().invoke(main, ["render", "-"], input=text, catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: <stdin>:")
    assert reason in result.stderr


def test_not_utf8_names_the_line() -> None:
    result = CliRunner().invoke(main, ["render", "-"], input=b"a: 1\nb: \xff\n")
    assert result.exit_code == 2 and result.stderr == "error: <stdin>:2: not UTF-8 text\n"


def test_deep_but_allowed_documents_render_in_every_output() -> None:
    deep = "[" * 120 + "]" * 120
    pod = SIMPLE_POD.replace("image: i\n", f"image: i\n    args: {deep}\n")
    for output in ("yaml", "json", "patch", "diff"):
        result = CliRunner().invoke(main, ["render", "-", "-o", output], input=SA + "---\n" + pod)
        assert result.exit_code == 0, (output, result.output[-300:])


def test_duplicate_keys_are_refused_on_the_exact_path_too() -> None:
    """yaml-rs refuses duplicate keys; PyYAML alone would keep the last one silently."""
    with pytest.raises(InputError, match="duplicate"):
        parse("f", "mode: 0644\nkind: Pod\nkind: Job\n")
    assert parse("f", "a: &x {k: 1}\nb:\n  <<: *x\n  k: 2\n")[0].data == {"a": {"k": 1}, "b": {"k": 2}}
