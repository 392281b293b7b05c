"""Prometheus and Grafana: the monitoring components build and wire up, the alerts pass promtool's checks and
unit tests, and every metric the alerts and the dashboard name is one a real running server exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.gotools import find_tool
from tests.manifests.support import MANIFESTS, arg_value, find, kubectl, kustomize, one, selects
from tests.server.support import SERVICEACCOUNTS, ServeProcess, start_serve_process

COMPONENTS = MANIFESTS / "components"
RULES = COMPONENTS / "prometheus-rules" / "prometheusrule.yaml"
DASHBOARD = COMPONENTS / "grafana-dashboard" / "projected-token-webhook.json"
ALERT_TESTS = Path(__file__).parent / "monitoring" / "alerts-test.yaml"
JOB = "projected-token-webhook"
METRICS_PORT = 9090


# ------------------------------------------------------------------------------------------------ builds


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """The monitoring overlay (ServiceMonitor) and the same with the PodMonitor component instead."""
    if not kubectl():
        pytest.skip("kubectl (with kustomize) is not on PATH")
    tree = tmp_path_factory.mktemp("tree") / "manifests"
    shutil.copytree(MANIFESTS, tree, ignore=shutil.ignore_patterns("certs"))
    pods = tree / "overlays" / "podmonitor-test"
    pods.mkdir()
    (pods / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../cert-manager\n"
        "components:\n  - ../../components/podmonitor\n  - ../../components/prometheus-rules\n"
    )
    return {
        "base": kustomize(tree / "base"),
        "servicemonitor": kustomize(tree / "overlays" / "monitoring"),
        "podmonitor": kustomize(pods),
    }


def _container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def test_the_metrics_port_is_off_in_the_base(builds: dict[str, list[dict[str, Any]]]) -> None:
    container = _container(builds["base"])
    assert arg_value(container["args"], "--metrics-port") is None
    assert [p["name"] for p in container["ports"]] == ["https"]


@pytest.mark.parametrize("build", ["servicemonitor", "podmonitor"])
def test_components_turn_on_the_metrics_port(builds: dict[str, list[dict[str, Any]]], build: str) -> None:
    container = _container(builds[build])
    assert arg_value(container["args"], "--metrics-port") == str(METRICS_PORT)
    ports = {p["name"]: p for p in container["ports"]}
    assert ports["metrics"] == {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}
    assert ports["https"]["containerPort"] == 8443  # the admission port is untouched
    base_service = one(builds["base"], "Service", "projected-token-webhook")
    assert one(builds[build], "Service", "projected-token-webhook") == base_service


def test_the_servicemonitor_scrapes_the_metrics_port_as_the_alerts_job(
    builds: dict[str, list[dict[str, Any]]],
) -> None:
    docs = builds["servicemonitor"]
    monitor = one(docs, "ServiceMonitor")
    services = [
        s for s in find(docs, "Service") if selects(monitor["spec"]["selector"], s["metadata"]["labels"])
    ]
    assert [s["metadata"]["name"] for s in services] == ["projected-token-webhook-metrics"]
    service = services[0]
    assert service["metadata"]["namespace"] == monitor["metadata"]["namespace"]
    # The job Prometheus Operator gives the targets: the value of the jobLabel on the Service.
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == JOB
    [endpoint] = monitor["spec"]["endpoints"]
    [port] = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
    template = one(docs, "Deployment")["spec"]["template"]
    assert selects({"matchLabels": service["spec"]["selector"]}, template["metadata"]["labels"])
    assert port["targetPort"] in {p["name"] for p in _container(docs)["ports"]}
    assert (endpoint["path"], endpoint["scheme"]) == ("/metrics", "http")


def test_the_podmonitor_scrapes_the_metrics_port_as_the_alerts_job(
    builds: dict[str, list[dict[str, Any]]],
) -> None:
    docs = builds["podmonitor"]
    monitor = one(docs, "PodMonitor")
    assert not find(docs, "ServiceMonitor") and not find(docs, "Service", "projected-token-webhook-metrics")
    deployment = one(docs, "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects(monitor["spec"]["selector"], labels)
    assert labels[monitor["spec"]["jobLabel"]] == JOB
    assert monitor["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] in {p["name"] for p in _container(docs)["ports"]}
    assert (endpoint["path"], endpoint["scheme"]) == ("/metrics", "http")


def test_built_core_objects_validate(builds: dict[str, list[dict[str, Any]]]) -> None:
    for build in ("servicemonitor", "podmonitor"):
        for doc in builds[build]:
            if doc["apiVersion"].split("/")[0] in {"monitoring.coreos.com", "cert-manager.io"}:
                continue
            kubernetes_validate.validate(doc, "1.32.0", strict=True)


def test_the_overlay_ships_the_rules_and_the_dashboard_unchanged(
    builds: dict[str, list[dict[str, Any]]],
) -> None:
    docs = builds["servicemonitor"]
    assert one(docs, "PrometheusRule") == yaml.safe_load(RULES.read_text())
    dashboard = one(docs, "ConfigMap", "projected-token-webhook-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["namespace"] == "projected-token-webhook"
    assert dashboard["data"] == {DASHBOARD.name: DASHBOARD.read_text()}


# ------------------------------------------------------------------------------------------------ alerts


def _rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["spec"]["groups"] for rule in group["rules"]]


@pytest.fixture(scope="module")
def promtool() -> Path:
    path, reason = find_tool("promtool")
    if path is None:
        pytest.skip(reason)
    return path


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """The PrometheusRule's spec as a Prometheus rule file, beside a copy of the promtool unit tests."""
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(yaml.safe_load(RULES.read_text())["spec"]))
    shutil.copy(ALERT_TESTS, tmp_path / ALERT_TESTS.name)
    return tmp_path


def test_promtool_checks_the_rules(promtool: Path, rules_dir: Path) -> None:
    done = subprocess.run(
        [promtool, "check", "rules", "--lint=all", "--lint-fatal", "rules.yaml"],
        cwd=rules_dir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in done.stdout + done.stderr


def test_promtool_unit_tests_of_the_alerts_pass(promtool: Path, rules_dir: Path) -> None:
    done = subprocess.run(
        [promtool, "test", "rules", ALERT_TESTS.name],
        cwd=rules_dir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_unit_test() -> None:
    tested = {
        t["alertname"]
        for case in yaml.safe_load(ALERT_TESTS.read_text())["tests"]
        for t in case["alert_rule_test"]
    }
    alerts = {rule["alert"] for rule in _rules()}
    assert tested == alerts
    # Each is seen firing somewhere, not only silent.
    firing = {
        t["alertname"]
        for case in yaml.safe_load(ALERT_TESTS.read_text())["tests"]
        for t in case["alert_rule_test"]
        if t["exp_alerts"]
    }
    assert firing == alerts


def test_promtool_fails_an_alert_whose_unit_test_is_wrong(promtool: Path, rules_dir: Path) -> None:
    """Guards the guard: the unit tests are evaluated, a changed threshold makes them fail."""
    rules = (rules_dir / "rules.yaml").read_text()
    assert "> 0.05" in rules
    (rules_dir / "rules.yaml").write_text(rules.replace("> 0.05", "> 0.5"))
    done = subprocess.run(
        [promtool, "test", "rules", ALERT_TESTS.name],
        cwd=rules_dir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and "ProjectedTokenWebhookErrors" in done.stdout + done.stderr


def test_every_selector_of_the_rules_names_the_job() -> None:
    for rule in _rules():
        selectors = re.findall(r"([a-z_:]+)\{([^}]*)\}", rule["expr"])
        assert selectors, rule["alert"]
        for name, matchers in selectors:
            assert f'job="{JOB}"' in matchers, f"{rule['alert']}: {name}{{{matchers}}}"
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


# ------------------------------------------------------------------------- names against a real server

KEYWORDS = {"and", "or", "unless", "bool", "inf", "nan", "atan2"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: what is left once strings, label matchers, ranges,
    grouping clauses, offsets, Grafana variables, numbers and function names are taken out."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\b(?:group_left|group_right)\b", " ", expr)
    expr = re.sub(r"\boffset\s+-?\w+", " ", expr)
    expr = re.sub(r"\$\{?\w+\}?", " ", expr)
    names = set()
    for match in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", expr):
        if expr[match.end() :].lstrip().startswith("(") or match.group() in KEYWORDS:
            continue  # a function or an aggregation
        names.add(match.group())
    return names


def test_metric_names_finds_every_name_and_only_names() -> None:
    expr = (
        'sum by (namespace) (rate(webhook_admisions_total{job="x", outcome=~"a|b"}[5m] offset 1h)) / '
        "ignoring (code) group_left max(up) > 14 * 24 * 3600 or on (pod) vector(1e3) and "
        'histogram_quantile(0.9, sum(rate(h_bucket{pod=~"$pod"}[$__rate_interval])) by (le))'
    )
    assert metric_names(expr) == {"webhook_admisions_total", "up", "h_bucket"}


def _dashboard_exprs() -> Iterator[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} {target['refId']}", target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            match = re.fullmatch(r"label_values\((.*),\s*\w+\)", variable["query"]["query"])
            assert match, variable["name"]
            yield f"variable {variable['name']}", match.group(1)


def exported_names(exposition: str) -> set[str]:
    """The sample names a /metrics text declares (a labelled metric without children yet still counts)."""
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("_sum", "_count", "_created", ""),
        "info": ("_info",),
    }
    names = set()
    for family in text_string_to_metric_families(exposition):
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


@pytest.fixture(scope="module")
def running_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    workdir = tmp_path_factory.mktemp("serve")
    (workdir / "serviceaccounts.yaml").write_text(SERVICEACCOUNTS)
    process = start_serve_process(
        workdir, "--serviceaccounts", str(workdir / "serviceaccounts.yaml"), "--metrics-port", "0"
    )
    yield process
    process.stop()


@pytest.fixture(scope="module")
def exported(running_server: ServeProcess) -> set[str]:
    """Scraped from the TLS port and from the plain metrics port of one `webhook serve`: the same names."""
    with running_server.client() as client:
        tls_names = exported_names(client.get("/metrics").text)
    [serving] = [line for line in running_server.log_lines() if line.get("msg") == "serving"]
    plain = httpx.get(f"http://127.0.0.1:{serving['metrics_port']}/metrics", timeout=10)
    assert plain.status_code == 200
    assert exported_names(plain.text) == tls_names
    return tls_names


def test_the_rules_name_only_metrics_the_server_exports(exported: set[str]) -> None:
    for rule in _rules():
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= exported, f"{rule['alert']}: {sorted(names - exported)} not exported"


def test_the_dashboard_names_only_metrics_the_server_exports(exported: set[str]) -> None:
    seen = set()
    for where, expr in _dashboard_exprs():
        names = metric_names(expr)
        assert names, where
        assert names <= exported, f"{where}: {sorted(names - exported)} not exported"
        seen |= names
    # Every webhook metric has a panel.
    ours = {n for n in exported if n.startswith("webhook_") and not n.endswith("_created")}
    ours -= {"webhook_admission_duration_seconds_sum"}  # the mean uses _sum and _count
    histogram = {"webhook_admission_duration_seconds_bucket", "webhook_admission_duration_seconds_count"}
    assert ours - seen - histogram == set()


def test_the_dashboard_is_well_formed() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert dashboard["uid"] == JOB
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"] and panel["description"], panel["title"]
        for target in panel["targets"]:
            # Every selector is scoped to the job and the dashboard's namespace and pod variables.
            for matchers in re.findall(r"\{([^}]*)\}", target["expr"]):
                assert f'job="{JOB}"' in matchers and "$namespace" in matchers and "$pod" in matchers
