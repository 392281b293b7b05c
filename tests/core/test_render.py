"""`webhook render`: workload kinds, byte-identical pass-through, outputs, exit codes, the ArgoCD case."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
import yaml
from click.testing import CliRunner

from tests.common import FIXTURES, REPO, WEBHOOK_BIN
from tests.core.support import check_pod_rules, validate
from webhook import yamledit
from webhook.cli import main
from webhook.documents import InputError, load_yaml, parse
from webhook.rendering import RenderReport, render_documents
from webhook.settings import CoreSettings
from webhook.vocabulary import volume_name_for
from webhook.workloads import pod_templates

VOL = volume_name_for("/var/run/secrets/tokens")
SA = """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: app
  namespace: default
  annotations:
    projected-token.io/audience: vault
    projected-token.io/path: oidc-token
"""
CONTAINERS = """\
      containers:
      - name: app
        image: busybox
"""


def _workload(kind: str, api: str, name: str, extra: str = "") -> str:
    return f"""\
apiVersion: {api}
kind: {kind}
metadata:
  name: {name}
spec:
  selector:
    matchLabels:
      app: {name}
{extra}  template:
    metadata:
      labels:
        app: {name}
    spec:
      serviceAccountName: app
{CONTAINERS}"""


ALL_KINDS = "---\n".join(
    [
        SA,
        "# a comment that must survive\n" + _workload("Deployment", "apps/v1", "deploy"),
        _workload("StatefulSet", "apps/v1", "sts", "  serviceName: sts\n"),
        _workload("DaemonSet", "apps/v1", "ds"),
        _workload("ReplicaSet", "apps/v1", "rs"),
        """\
apiVersion: v1
kind: ReplicationController
metadata:
  name: rc
spec:
  selector:
    app: rc
  template:
    metadata:
      labels:
        app: rc
    spec:
      serviceAccountName: app
"""
        + CONTAINERS,
        """\
apiVersion: batch/v1
kind: Job
metadata:
  name: job
spec:
  template:
    spec:
      serviceAccountName: app
      restartPolicy: Never
"""
        + CONTAINERS,
        """\
apiVersion: batch/v1
kind: CronJob
metadata:
  name: cron
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          serviceAccountName: app
          restartPolicy: OnFailure
          containers:
          - name: app
            image: busybox  # trailing comment
""",
        """\
apiVersion: v1
kind: Pod
metadata:
  name: pod
spec:
  serviceAccountName: app
  containers:
  - name: app
    image: busybox
    env:
    - name: KEEP
      value: "yes"
  volumes:
  - name: data
    emptyDir: {}
""",
        """\
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: in-list
  spec:
    selector:
      matchLabels:
        app: in-list
    template:
      metadata:
        labels:
          app: in-list
      spec:
        serviceAccountName: app
        containers:
        - name: app
          image: busybox
""",
        """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: config   # untouched
data:
  key: "value"
""",
    ]
)


def render(*args: str, stdin: str | None = None):
    return CliRunner().invoke(main, ["render", *args], input=stdin, catch_exceptions=False)


def _docs(text: str) -> list:
    return [d for d in parse("out", text)]


def _check_outputs(original: str, output: str) -> None:
    """Changed documents parse to original + the patch, validate; unchanged ones are byte-identical."""
    before, after = _docs(original), _docs(output)
    assert len(before) == len(after)
    for old, new in zip(before, after, strict=True):
        if old.raw == new.raw:
            continue
        assert list(pod_templates(old.data)), f"a document without pod templates changed: {old.raw[:80]}"
        validate(new.data)
        for template in pod_templates(new.data):
            check_pod_rules({"spec": template.template["spec"]})


def test_every_workload_kind_is_mutated_and_the_rest_passes_through(tmp_path: Path) -> None:
    result = render("-", stdin=ALL_KINDS)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    _check_outputs(ALL_KINDS, result.stdout)
    docs = _docs(result.stdout)
    assert docs[0].raw == _docs(ALL_KINDS)[0].raw  # the ServiceAccount
    assert docs[-1].raw == _docs(ALL_KINDS)[-1].raw  # the ConfigMap, comment and quotes included
    templates = [t for d in docs for t in pod_templates(d.data)]
    assert len(templates) == 9
    for template in templates:
        spec = template.template["spec"]
        assert any(v["name"] == VOL for v in spec["volumes"]), template.describe()
        assert {"name": "TOKEN_FILE", "value": "/var/run/secrets/tokens/oidc-token"} in spec["containers"][0][
            "env"
        ]
    assert "# a comment that must survive" in result.stdout and "# trailing comment" in result.stdout
    pod_doc = next(d for d in docs if d.data.get("kind") == "Pod")
    assert pod_doc.data["spec"]["containers"][0]["env"][0] == {"name": "KEEP", "value": "yes"}
    assert [v["name"] for v in pod_doc.data["spec"]["volumes"]] == ["data", VOL]

    again = render("-", "--fail-on-change", stdin=result.stdout)
    assert again.exit_code == 0 and again.stdout == result.stdout


def test_fail_on_change_exits_3_and_still_prints(tmp_path: Path) -> None:
    result = render("-", "--fail-on-change", stdin=ALL_KINDS)
    assert result.exit_code == 3
    assert "9 of 9 pod template(s) would be mutated" in result.stderr
    assert result.stdout.count(VOL) > 9
    assert render("-", "--check", stdin=ALL_KINDS).exit_code == 3


def test_untouched_input_is_reproduced_exactly() -> None:
    text = ALL_KINDS.replace("projected-token.io/", "other.io/")
    result = render("-", stdin=text)
    assert result.exit_code == 0 and result.stdout == text


def test_patch_output_applies_to_the_documents() -> None:
    result = render("-", "-o", "patch", stdin=ALL_KINDS)
    entries = json.loads(result.stdout)
    before = _docs(ALL_KINDS)
    after = _docs(render("-", stdin=ALL_KINDS).stdout)
    assert len(entries) == 9
    for entry in entries:
        patched = jsonpatch.apply_patch(copy.deepcopy(before[entry["document"]].data), entry["patch"])
        assert patched == after[entry["document"]].data
        meta = before[entry["document"]].data.get("metadata") or {}
        assert (entry["name"], entry["namespace"]) == (
            meta.get("name", ""),
            meta.get("namespace") or "default",
        )
    assert {e["kind"] for e in entries} >= {"Deployment", "CronJob", "List", "Pod"}


def test_json_output_is_a_list_of_the_mutated_objects() -> None:
    result = render("-", "-o", "json", stdin=ALL_KINDS)
    value = json.loads(result.stdout)
    assert value["kind"] == "List" and len(value["items"]) == 11
    assert value["items"][1]["spec"]["template"]["spec"]["volumes"][0]["name"] == VOL


EDGE_VALUES = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: edges
  annotations:
    created: 2024-01-31
data:
  mode: 0644
  huge: 123456789012345678901234567890
  1: int key
  text: "ünïcode ✓"
"""


@pytest.mark.parametrize(
    "extra",
    [EDGE_VALUES.replace("  huge: 123456789012345678901234567890\n", ""), EDGE_VALUES],
    ids=["orjson", "json"],
)
def test_json_output_is_what_json_dumps_writes(extra: str) -> None:
    """orjson writes it (fast), json.dumps what orjson refuses (a 97-bit integer); the text is the same."""
    text = ALL_KINDS + "---\n" + extra
    result = render("-", "-o", "json", stdin=text)
    assert result.exit_code == 0, result.stderr
    value = json.loads(result.stdout)
    # 0644 makes the document YAML 1.1 (PyYAML), which reads 2024-01-31 as a date.
    expected_objects = [d.data for d in _docs(render("-", stdin=text).stdout)]
    expected = {"apiVersion": "v1", "kind": "List", "items": expected_objects}
    assert result.stdout == json.dumps(expected, indent=2, ensure_ascii=False, default=str) + "\n"
    assert value["items"][-1]["metadata"]["annotations"]["created"] == "2024-01-31"
    assert value["items"][-1]["data"]["mode"] == 420 and value["items"][-1]["data"]["1"] == "int key"


@pytest.mark.parametrize("output", ["json", "patch"])
def test_outputs_without_text_skip_the_yaml_edit(output: str, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = render("-", "-o", output, stdin=ALL_KINDS).stdout
    passes: list[RenderReport] = []

    def without_edit(*args: Any, **kwargs: Any) -> RenderReport:
        # json and patch print no document text: the edit would be wasted work.
        assert kwargs["edit"] is False
        passes.append(report := render_documents(*args, **kwargs))
        return report

    monkeypatch.setattr("webhook.render.render_documents", without_edit)
    result = render("-", "-o", output, stdin=ALL_KINDS)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == expected
    (report,) = passes
    assert report.changed and all(r.text == r.doc.raw for r in report.changed)  # ops applied, no text made


def test_diff_output_only_adds_lines() -> None:
    result = render("-", "-o", "diff", stdin=ALL_KINDS)
    lines = result.stdout.splitlines()
    assert lines[0] == "--- a/<stdin>" and lines[1] == "+++ b/<stdin>"
    changed = [line for line in lines[2:] if line[:1] in "+-" and not line.startswith("@@")]
    assert changed and all(line.startswith("+") for line in changed)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_diff_output_is_a_patch_that_gives_the_yaml_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # Changed documents next to each other and at the end of the file, which has no final newline.
    text = ALL_KINDS + "---\n" + ALL_KINDS.rstrip("\n")
    Path("all.yaml").write_text(text)
    rendered = render("all.yaml")
    diff = render("all.yaml", "-o", "diff")
    assert rendered.exit_code == diff.exit_code == 0, diff.stderr
    Path("d.patch").write_text(diff.stdout)
    subprocess.run(["git", "init", "-q"], check=True)
    applied = subprocess.run(["git", "apply", "d.patch"], capture_output=True, text=True)
    assert applied.returncode == 0, applied.stderr
    assert Path("all.yaml").read_text() == rendered.stdout


@pytest.mark.parametrize(
    ("flags", "code"), [((), 0), (("--fail-on-change",), 3), (("-o", "diff"), 0), (("-o", "json"), 0)]
)
def test_console_script_exits_fast_with_every_byte_and_the_exit_code(
    flags: tuple[str, ...], code: int
) -> None:
    """The console script ends render with os._exit after a flush: not a byte of a multi-MB output is lost."""
    text = "---\n".join([ALL_KINDS] * 300)  # ~2,700 templates, megabytes of output through a pipe
    done = subprocess.run([WEBHOOK_BIN, "render", "-", *flags], input=text.encode(), capture_output=True)
    assert done.returncode == code, done.stderr.decode()[-2000:]
    in_process = render("-", *flags, stdin=text)
    assert in_process.exit_code == code
    assert len(done.stdout) > 1_000_000 and done.stdout.decode() == in_process.stdout
    assert done.stderr.decode() == in_process.stderr


def test_console_script_denial_and_bad_input_keep_their_exit_codes() -> None:
    bad = ALL_KINDS.replace("projected-token.io/path: oidc-token", 'projected-token.io/path: "../x"')
    denied = subprocess.run([WEBHOOK_BIN, "render", "-"], input=bad.encode(), capture_output=True)
    assert denied.returncode == 1 and denied.stdout == b"" and b"would be denied" in denied.stderr
    unreadable = subprocess.run([WEBHOOK_BIN, "render", "-"], input=b"a: [1,\n", capture_output=True)
    assert (
        unreadable.returncode == 2
        and b"<stdin>:" in unreadable.stderr
        and b"Traceback" not in unreadable.stderr
    )


def test_denied_workloads_exit_1_with_every_reason(tmp_path: Path) -> None:
    bad = ALL_KINDS.replace("projected-token.io/path: oidc-token", 'projected-token.io/path: "../x"').replace(
        "  name: cron\n", "  name: cron\n  annotations: {}\n"
    )
    result = render("-", stdin=bad)
    assert result.exit_code == 1
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 9  # one per template, none dropped
    assert all("projected-token.io/path" in e and "<stdin>:" in e for e in errors)
    assert "Traceback" not in result.stderr


def test_unreadable_input_exits_2_with_file_and_line(tmp_path: Path) -> None:
    missing = render(str(tmp_path / "nope.yaml"))
    assert missing.exit_code == 2 and "nope.yaml: cannot read" in missing.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text(SA + "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n")
    result = render(str(broken))
    assert result.exit_code == 2
    assert f"{broken}:13: invalid YAML: unclosed bracket" in result.stderr, result.stderr
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{\n  "kind": "Pod",\n  "spec": {,}\n}\n')
    result = render(str(bad_json))
    assert result.exit_code == 2 and f"{bad_json}:3: invalid JSON" in result.stderr
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"a: 1\nb: \xff\n")
    result = render(str(binary))
    assert result.exit_code == 2 and f"{binary}:2: not UTF-8" in result.stderr
    for r in (missing, result):
        assert "Traceback" not in r.stderr and r.stdout == ""


def test_bad_settings_exit_2() -> None:
    result = render("-", "--dialects", "nope", stdin=ALL_KINDS)
    assert result.exit_code == 2 and "unknown dialect" in result.stderr


def test_unknown_serviceaccount_is_left_alone_with_a_note() -> None:
    text = ALL_KINDS.replace("  namespace: default\n", "  namespace: demo\n", 1)  # the SA moves away
    result = render("-", stdin=text)
    assert result.exit_code == 0 and result.stdout == text
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 9 and "ServiceAccount default/app" in notes[0]


def test_serviceaccounts_flag_directories_json_and_namespaces(tmp_path: Path) -> None:
    (tmp_path / "sa.yaml").write_text(SA.replace("namespace: default", "namespace: demo"))
    manifests = tmp_path / "manifests" / "nested"
    manifests.mkdir(parents=True)
    deployment = yaml.safe_load(_workload("Deployment", "apps/v1", "web"))
    deployment["metadata"]["namespace"] = "demo"
    (manifests / "web.json").write_text(json.dumps(deployment, indent=2) + "\n")
    (manifests / "b.yaml").write_text(_workload("Job", "batch/v1", "other"))  # namespace default: unknown SA
    (manifests / "ignored.txt").write_text("not a manifest")
    result = render(str(tmp_path / "manifests"), "-s", str(tmp_path / "sa.yaml"), "-o", "json")
    assert result.exit_code == 0, result.stderr
    items = json.loads(result.stdout)["items"]
    assert [i["metadata"]["name"] for i in items] == ["other", "web"]  # sorted paths
    assert "volumes" not in items[0]["spec"]["template"]["spec"]
    assert items[1]["spec"]["template"]["spec"]["volumes"][0]["name"] == VOL
    assert "default/app is not in the input" in result.stderr
    yaml_out = render(str(manifests / "web.json"), "-s", str(tmp_path / "sa.yaml"))
    assert json.loads(yaml_out.stdout)["spec"]["template"]["spec"]["volumes"][0]["name"] == VOL


def test_a_config_file_that_is_not_utf8_is_one_error_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_bytes(b"annotation-prefix: \xff\xfe\n")
    result = CliRunner().invoke(main, ["render", "-", "--config", str(config)], input="")
    assert result.exit_code == 2, result.exception
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [f"Error: {config}: config is not UTF-8 text (byte 19)"], result.stderr
    assert "Traceback" not in result.stderr


def test_settings_flags_and_config_file(tmp_path: Path) -> None:
    text = ALL_KINDS.replace("projected-token.io/", "tokens.example.com/")
    config = tmp_path / "config.yaml"
    config.write_text("annotation-prefix: tokens.example.com\ndefault-mount-path: /run/tokens\n")
    result = render("-", "--config", str(config), "-o", "json", stdin=text)
    spec = json.loads(result.stdout)["items"][1]["spec"]["template"]["spec"]
    assert spec["containers"][0]["env"] == [{"name": "TOKEN_FILE", "value": "/run/tokens/oidc-token"}]
    flagged = render("-", "--config", str(config), "--default-mount-path", "/srv/t", "-o", "json", stdin=text)
    spec = json.loads(flagged.stdout)["items"][1]["spec"]["template"]["spec"]
    assert spec["containers"][0]["env"][0]["value"] == "/srv/t/oidc-token"
    eks_sa = SA.replace(
        "projected-token.io/audience: vault", "eks.amazonaws.com/role-arn: arn:aws:iam::1:role/r"
    )
    eks = render(
        "-",
        "--dialects",
        "eks",
        "--eks-region",
        "eu-west-1",
        "-o",
        "json",
        stdin=eks_sa + "---\n" + _workload("Deployment", "apps/v1", "d"),
    )
    env = json.loads(eks.stdout)["items"][1]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert [e["name"] for e in env] == [
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ]


def test_settings_from_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_DIALECTS", "generic, eks")  # a comma list, as the flag takes it
    monkeypatch.setenv("WEBHOOK_EKS_STS_REGIONAL_ENDPOINTS", "true")
    settings = CoreSettings()
    assert settings.dialects == ["generic", "eks"] and settings.eks_sts_regional_endpoints
    monkeypatch.setenv("WEBHOOK_DIALECTS", "generic,nope")
    result = render("-", stdin=ALL_KINDS)
    assert result.exit_code == 2 and "unknown dialect" in result.stderr
    assert "Traceback" not in result.stderr


DEPLOYMENT_HEAD = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  selector:
    matchLabels:
      app: d
  template:
    metadata:
      labels:
        app: d
    # template spec
    spec:
      serviceAccountName: app
"""
C = "      containers:\n      - name: app\n        image: busybox\n"
LAYOUTS = {
    "indented sequences": "      containers:\n        - name: app\n          image: busybox\n"
    "          args:\n            - a\n",
    "block scalar last": C + "        command:\n        - |\n          echo hi\n\n",
    "no final newline": C.rstrip("\n"),
    "trailing comments": C + "      # end of pod\n# end\n",
    "volumes before containers": "      volumes:\n      - name: data\n        emptyDir: {}\n"
    + C
    + "        volumeMounts:\n        - name: data\n          mountPath: /data\n",
    # These need more than inserted lines: the ruamel round trip takes over (comments still kept).
    "flow env": C + "        env: []\n",
    "null env": C + "        env:\n",
    "flow containers": "      containers: [{name: app, image: busybox}]\n",
}
SPLICED = {
    "indented sequences",
    "block scalar last",
    "no final newline",
    "trailing comments",
    "volumes before containers",
}


def _spliced(text: str) -> bool:
    """Whether the in-place edit handles the changed document (else the round trip takes over): asked of
    yamledit directly, since a compiled module's own calls cannot be spied on."""
    entry = json.loads(render("-", "-o", "patch", stdin=text).stdout)[0]
    doc = _docs(text)[entry["document"]]
    try:
        spliced = load_yaml(yamledit.splice(doc.raw, entry["patch"]))
    except (yamledit.EditError, InputError):
        return False
    return bool(spliced == jsonpatch.apply_patch(copy.deepcopy(doc.data), entry["patch"]))


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_yaml_layouts_are_edited_correctly(name: str) -> None:
    text = SA + "---\n" + DEPLOYMENT_HEAD + LAYOUTS[name]
    assert _docs(text)[1].data["spec"]["template"]["spec"]["containers"][0]["name"] == "app"
    result = render("-", stdin=text)
    assert result.exit_code == 0, result.stderr
    out = _docs(result.stdout)
    spec = out[1].data["spec"]["template"]["spec"]
    assert spec["volumes"][-1]["name"] == VOL
    assert {"name": VOL, "readOnly": True, "mountPath": "/var/run/secrets/tokens"} in spec["containers"][0][
        "volumeMounts"
    ]
    assert spec["containers"][0]["env"] == [
        {"name": "TOKEN_FILE", "value": "/var/run/secrets/tokens/oidc-token"}
    ]
    validate(out[1].data)
    assert "# template spec" in result.stdout
    assert _spliced(text) is (name in SPLICED)
    if name in SPLICED:  # every original line is still there, in order: only lines were inserted
        old_lines = text.splitlines()
        new_lines = iter(result.stdout.splitlines())
        assert all(any(line == candidate for candidate in new_lines) for line in old_lines)
    if name == "indented sequences":
        lines = result.stdout.splitlines()
        assert "            - name: TOKEN_FILE" in lines and "          env:" in lines


ARGO_SA = """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {name}
  namespace: default
  annotations:
    projected-token.io/downstream.audience: downstream-cluster
    projected-token.io/downstream.path: federated-token
"""


def test_argocd_namespace_install_changes_exactly_the_controller_and_server(tmp_path: Path) -> None:
    install = FIXTURES / "argocd" / "namespace-install.yaml"
    if not install.is_file():
        pytest.skip(f"{install} not present (shared fixtures)")
    sas = tmp_path / "argocd-serviceaccounts.yaml"
    sas.write_text(
        "---\n".join(ARGO_SA.format(name=n) for n in ("argocd-application-controller", "argocd-server"))
    )
    result = render(str(install), "--serviceaccounts", str(sas))
    assert result.exit_code == 0, result.stderr
    original = install.read_text()
    before, after = parse("in", original), parse("out", result.stdout)
    assert len(before) == len(after)
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b.raw != a.raw]
    assert sorted((a.data["kind"], a.data["metadata"]["name"]) for _, a in changed) == [
        ("Deployment", "argocd-server"),
        ("StatefulSet", "argocd-application-controller"),
    ]
    for old, new in changed:
        validate(new.data)
        spec = new.data["spec"]["template"]["spec"]
        # The seeds' kubectl patches: a projected token for audience downstream-cluster at
        # /var/run/secrets/tokens/federated-token, mounted read-only in every container.
        (token_volume,) = [v for v in spec["volumes"] if v["name"] == VOL]
        assert token_volume["projected"]["sources"] == [
            {
                "serviceAccountToken": {
                    "audience": "downstream-cluster",
                    "expirationSeconds": 3600,
                    "path": "federated-token",
                }
            }
        ]
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            assert {"name": VOL, "readOnly": True, "mountPath": "/var/run/secrets/tokens"} in container[
                "volumeMounts"
            ]
            assert {
                "name": "DOWNSTREAM_TOKEN_FILE",
                "value": "/var/run/secrets/tokens/federated-token",
            } in container["env"]
        # Nothing else moved: removing our additions gives the original document back.
        stripped = copy.deepcopy(new.data)
        stripped_spec = stripped["spec"]["template"]["spec"]
        stripped_spec["volumes"] = [v for v in stripped_spec["volumes"] if v["name"] != VOL]
        for container in [*stripped_spec.get("initContainers", []), *stripped_spec["containers"]]:
            container["volumeMounts"] = [m for m in container["volumeMounts"] if m["name"] != VOL]
            container["env"] = [e for e in container["env"] if e["name"] != "DOWNSTREAM_TOKEN_FILE"]
        assert stripped == old.data
        old_lines = old.raw.splitlines()
        assert [line for line in new.raw.splitlines() if line not in old_lines]  # only added lines
        assert all(line in new.raw.splitlines() for line in old_lines)
    again = render("-", "--serviceaccounts", str(sas), "--fail-on-change", stdin=result.stdout)
    assert again.exit_code == 0 and again.stdout == result.stdout


def test_readme_example_renders() -> None:
    examples = REPO / "examples"
    result = render(str(examples / "workloads.yaml"), "-s", str(examples / "serviceaccounts.yaml"))
    assert result.exit_code == 0, result.stderr
    _check_outputs((examples / "workloads.yaml").read_text(), result.stdout)
    assert CoreSettings().annotation_prefix in (examples / "serviceaccounts.yaml").read_text()
