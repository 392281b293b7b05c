"""The azure dialect: the pods Azure Workload Identity's webhook (pkg/webhook) produces, case by case."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from pydantic import ValidationError

from tests.common import container, env_of, mounts_of, pod
from tests.core.support import run, sa, volume
from webhook.cli import main
from webhook.settings import CoreSettings
from webhook.yamledit import apply_ops

D = "azure.workload.identity"
USE = {f"{D}/use": "true"}
CLIENT = {f"{D}/client-id": "11111111-2222-3333-4444-555555555555"}
TENANT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
FILE = "/var/run/secrets/azure/tokens/azure-identity-token"
MOUNT = {"name": "azure-identity-token", "readOnly": True, "mountPath": "/var/run/secrets/azure/tokens"}
HOST = "https://login.microsoftonline.com/"


def settings(**values: Any) -> CoreSettings:
    return CoreSettings(**{"dialects": "azure", "azure_tenant_id": TENANT, **values})


def azure_env(client: str = CLIENT[f"{D}/client-id"], tenant: str = TENANT) -> list[tuple[str, str]]:
    return [
        ("AZURE_CLIENT_ID", client),
        ("AZURE_TENANT_ID", tenant),
        ("AZURE_FEDERATED_TOKEN_FILE", FILE),
        ("AZURE_AUTHORITY_HOST", HOST),
    ]


def token_volume(expiration: int = 3600, audience: str = "api://AzureADTokenExchange") -> dict[str, Any]:
    source = {"audience": audience, "expirationSeconds": expiration, "path": "azure-identity-token"}
    return {"name": "azure-identity-token", "projected": {"sources": [{"serviceAccountToken": source}]}}


def test_basic_pod_gets_the_volume_mount_and_env_in_that_webhooks_order() -> None:
    outcome, result = run(pod(labels=USE), sa(CLIENT), settings())
    assert outcome.errors == [] and outcome.dialects == ("azure",)
    assert result["spec"]["volumes"] == [token_volume()]
    assert env_of(result, "app") == azure_env()
    assert mounts_of(result, "app") == [MOUNT]
    # One targeted op per list: no container is rewritten.
    assert [op["path"] for op in outcome.patch] == [
        "/spec/volumes",
        "/spec/containers/0/env",
        "/spec/containers/0/volumeMounts",
    ]


def test_without_the_use_label_the_pod_is_left_alone() -> None:
    for labels in (None, {f"{D}/use": "false"}, {f"{D}/use": "True"}):
        outcome, _ = run(pod(labels=labels), sa(CLIENT), settings())
        assert outcome.patch == [] and outcome.skipped and f"{D}/use=true" in outcome.skipped


def test_the_other_dialects_run_whatever_the_label() -> None:
    both = settings(dialects="generic,azure")
    outcome, result = run(pod(), sa({**CLIENT, "projected-token.io/audience": "vault"}), both)
    assert outcome.dialects == ("generic",) and dict(env_of(result, "app"))["TOKEN_FILE"]


def test_tenant_id_annotation_wins_and_an_empty_one_sets_nothing() -> None:
    _, result = run(pod(labels=USE), sa({**CLIENT, f"{D}/tenant-id": "other"}), settings())
    assert dict(env_of(result, "app"))["AZURE_TENANT_ID"] == "other"
    _, result = run(pod(labels=USE), sa({**CLIENT, f"{D}/tenant-id": ""}), settings())
    assert "AZURE_TENANT_ID" not in dict(env_of(result, "app"))


def test_missing_client_id_still_injects_without_azure_client_id_and_warns() -> None:
    outcome, result = run(pod(labels=USE), sa({}), settings())
    assert [name for name, _ in env_of(result, "app")] == [
        "AZURE_TENANT_ID",
        "AZURE_FEDERATED_TOKEN_FILE",
        "AZURE_AUTHORITY_HOST",
    ]
    assert any(f"{D}/client-id" in w for w in outcome.warnings)


@pytest.mark.parametrize(
    ("sa_value", "pod_value", "expected"),
    [
        ("7200", None, 7200),
        ("7200", "86400", 86400),
        (None, "3600", 3600),
        ("", "", 3600),
        ("5000", "", 5000),
    ],
)
def test_expiration_pod_over_serviceaccount(
    sa_value: str | None, pod_value: str | None, expected: int
) -> None:
    annotations = {f"{D}/service-account-token-expiration": pod_value} if pod_value is not None else None
    sa_annotations = {**CLIENT, **({f"{D}/service-account-token-expiration": sa_value} if sa_value else {})}
    _, result = run(pod(labels=USE, annotations=annotations), sa(sa_annotations), settings())
    assert volume(result, "azure-identity-token") == token_volume(expected)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("3599", "token expiration 3599 not valid"),
        ("86401", "token expiration 86401 not valid"),
        ("-1", "token expiration -1 not valid"),
        ("1h", "is not an integer"),
        ("9" * 30, "is not an integer"),
    ],
)
@pytest.mark.parametrize("where", ["Pod", "ServiceAccount"])
def test_expiration_out_of_range_or_not_a_number_is_denied(value: str, message: str, where: str) -> None:
    key = {f"{D}/service-account-token-expiration": value}
    obj = pod(labels=USE, annotations=key if where == "Pod" else None)
    outcome, _ = run(obj, sa({**CLIENT, **(key if where == "ServiceAccount" else {})}), settings())
    assert len(outcome.errors) == 1
    assert message in outcome.errors[0] and f"{D}/service-account-token-expiration" in outcome.errors[0]
    assert f"on the {where}" in outcome.errors[0]


def test_skip_containers_is_semicolon_separated_and_covers_init_containers() -> None:
    obj = pod(
        {"name": "app", "image": "x"},
        {"name": "side", "image": "x"},
        init=[{"name": "setup", "image": "x"}, {"name": "sidecar", "image": "x", "restartPolicy": "Always"}],
        labels=USE,
        annotations={f"{D}/skip-containers": "side; setup"},
    )
    _, result = run(obj, sa(CLIENT), settings())
    assert env_of(result, "side") == [] and env_of(result, "setup") == []
    for name in ("app", "sidecar"):  # native sidecars are init containers to that webhook
        assert env_of(result, name) == azure_env() and mounts_of(result, name) == [MOUNT]


def test_comma_is_not_a_separator() -> None:
    obj = pod({"name": "a", "image": "x"}, {"name": "b", "image": "x"}, labels=USE)
    obj["metadata"]["annotations"] = {f"{D}/skip-containers": "a,b"}
    _, result = run(obj, sa(CLIENT), settings())
    assert env_of(result, "a") == azure_env() and env_of(result, "b") == azure_env()


def test_env_a_container_already_sets_is_kept_one_by_one() -> None:
    own = [{"name": "AZURE_TENANT_ID", "value": "mine"}, {"name": "AZURE_AUTHORITY_HOST", "value": "h"}]
    _, result = run(pod({"name": "app", "image": "x", "env": own}, labels=USE), sa(CLIENT), settings())
    assert env_of(result, "app") == [
        ("AZURE_TENANT_ID", "mine"),
        ("AZURE_AUTHORITY_HOST", "h"),
        ("AZURE_CLIENT_ID", CLIENT[f"{D}/client-id"]),
        ("AZURE_FEDERATED_TOKEN_FILE", FILE),
    ]


def test_an_existing_volume_and_mount_of_that_name_count_as_its_own() -> None:
    mine = token_volume(7200)
    app = {"name": "app", "image": "x", "volumeMounts": [dict(MOUNT)]}
    outcome, result = run(
        pod(app, {"name": "b", "image": "x"}, labels=USE, volumes=[mine]), sa(CLIENT), settings()
    )
    assert result["spec"]["volumes"] == [mine], "not added twice, not rewritten"
    assert mounts_of(result, "app") == [MOUNT] and mounts_of(result, "b") == [MOUNT]
    assert outcome.errors == []


def test_windows_pods_get_the_same_linux_paths_as_there() -> None:
    obj = pod(labels=USE, nodeSelector={"kubernetes.io/os": "windows"})
    _, result = run(obj, sa(CLIENT), settings())
    assert dict(env_of(result, "app"))["AZURE_FEDERATED_TOKEN_FILE"] == FILE


def test_settings_audience_environment_and_authority_host() -> None:
    _, result = run(
        pod(labels=USE), sa(CLIENT), settings(azure_audience="aud", azure_environment="AzureChinaCloud")
    )
    assert volume(result, "azure-identity-token") == token_volume(audience="aud")
    assert dict(env_of(result, "app"))["AZURE_AUTHORITY_HOST"] == "https://login.chinacloudapi.cn/"
    _, result = run(pod(labels=USE), sa(CLIENT), settings(azure_authority_host="https://login.example/"))
    assert dict(env_of(result, "app"))["AZURE_AUTHORITY_HOST"] == "https://login.example/"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"azure_tenant_id": ""}, "needs --azure-tenant-id"),
        ({"azure_environment": "Mars"}, "unknown Azure environment"),
        ({"azure_log_level": "loud"}, "log level"),
        ({"azure_custom_token_endpoint_audience": "x"}, "set both or neither"),
        (
            {
                "azure_custom_token_endpoint_annotation_suffix": "x",
                "azure_custom_token_endpoint_audience": "API://AzureADTokenExchange",
            },
            "cannot be the default audience",
        ),
        (
            {
                "azure_custom_token_endpoint_annotation_suffix": "a b",
                "azure_custom_token_endpoint_audience": "x",
            },
            "not a valid annotation key",
        ),
    ],
)
def test_settings_that_webhook_refuses_to_start_with(values: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(**values)


def test_the_tenant_is_only_required_with_the_dialect_on() -> None:
    assert CoreSettings(dialects="generic").azure_tenant_id == ""


# ---------------------------------------------------------------------------------------------- the proxy

PROXY = {f"{D}/inject-proxy-sidecar": "true"}


def _proxy_init(port: int = 8000, env: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {
        "name": "azwi-proxy-init",
        "image": "mcr.microsoft.com/oss/azure/workload-identity/proxy-init:v1.1.0",
        "env": [{"name": "PROXY_PORT", "value": str(port)}, *(env if env is not None else _env())],
        "volumeMounts": [MOUNT],
        "imagePullPolicy": "IfNotPresent",
        "securityContext": {
            "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
            "privileged": True,
            "runAsUser": 0,
            "runAsNonRoot": False,
        },
    }


def _proxy(port: int = 8000, native: bool = True, level: str = "warning") -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": "azwi-proxy",
        "image": "mcr.microsoft.com/oss/azure/workload-identity/proxy:v1.1.0",
        "args": [f"--proxy-port={port}", f"--log-level={level}"],
        "ports": [{"containerPort": port}],
        "env": _env(),
    }
    if native:
        out["restartPolicy"] = "Always"
    out.update(
        {
            "volumeMounts": [MOUNT],
            "lifecycle": {
                "postStart": {
                    "exec": {"command": ["/proxy", f"--proxy-port={port}", "--probe", f"--log-level={level}"]}
                }
            },
            "imagePullPolicy": "IfNotPresent",
            "securityContext": {
                "capabilities": {"drop": ["ALL"]},
                "privileged": False,
                "runAsNonRoot": True,
                "readOnlyRootFilesystem": True,
                "allowPrivilegeEscalation": False,
            },
        }
    )
    return out


def _env() -> list[dict[str, str]]:
    return [{"name": n, "value": v} for n, v in azure_env()]


def test_proxy_native_sidecar_first_and_init_container_last_both_with_env_and_mount() -> None:
    obj = pod(init=[{"name": "setup", "image": "x"}], labels=USE, annotations=PROXY)
    _, result = run(obj, sa(CLIENT), settings())
    init = result["spec"]["initContainers"]
    assert [c["name"] for c in init] == ["azwi-proxy", "setup", "azwi-proxy-init"]
    assert init[0] == _proxy() and init[2] == _proxy_init()
    assert [c["name"] for c in result["spec"]["containers"]] == ["app"]


def test_proxy_as_a_regular_container_before_the_rest_without_native_sidecars() -> None:
    obj = pod(labels=USE, annotations={**PROXY, f"{D}/proxy-sidecar-port": "9000"})
    _, result = run(obj, sa(CLIENT), settings(azure_native_sidecar=False, azure_log_level="debug"))
    assert [c["name"] for c in result["spec"]["containers"]] == ["azwi-proxy", "app"]
    assert result["spec"]["containers"][0] == _proxy(9000, native=False, level="debug")
    assert result["spec"]["initContainers"] == [_proxy_init(9000)]


def test_proxy_containers_honour_skip_containers_and_are_added_once() -> None:
    obj = pod(labels=USE, annotations={**PROXY, f"{D}/skip-containers": "azwi-proxy-init"})
    _, result = run(obj, sa(CLIENT), settings())  # run() checks a second pass adds nothing
    assert container(result, "azwi-proxy-init") == {
        **{k: v for k, v in _proxy_init(env=[]).items() if k != "volumeMounts"}
    }
    existing = pod(labels=USE, annotations=PROXY, init=[{"name": "azwi-proxy", "image": "mine"}])
    _, result = run(existing, sa(CLIENT), settings())
    assert [c["name"] for c in result["spec"]["initContainers"]] == ["azwi-proxy", "azwi-proxy-init"]
    assert container(result, "azwi-proxy")["image"] == "mine"


@pytest.mark.parametrize("value", ["false", "no"])
def test_the_proxy_needs_a_true_value_as_the_docs_say(value: str) -> None:
    outcome, result = run(
        pod(labels=USE, annotations={f"{D}/inject-proxy-sidecar": value}), sa(CLIENT), settings()
    )
    assert "initContainers" not in result["spec"]
    assert (value == "no") == any("not a boolean" in w for w in outcome.warnings)


@pytest.mark.parametrize(
    ("annotations", "spec", "message"),
    [
        ({f"{D}/proxy-sidecar-port": "http"}, {}, "failed to parse proxy sidecar port"),
        ({f"{D}/proxy-sidecar-port": "70000"}, {}, "failed to parse proxy sidecar port"),
        ({}, {"hostNetwork": True}, "hostNetwork is set to true"),
    ],
)
def test_proxy_refusals(annotations: dict[str, str], spec: dict[str, Any], message: str) -> None:
    outcome, _ = run(pod(labels=USE, annotations={**PROXY, **annotations}, **spec), sa(CLIENT), settings())
    assert len(outcome.errors) == 1 and message in outcome.errors[0] and D in outcome.errors[0]


def test_host_network_without_the_proxy_is_fine() -> None:
    outcome, _ = run(pod(labels=USE, hostNetwork=True), sa(CLIENT), settings())
    assert outcome.errors == [] and outcome.patch


# ------------------------------------------------------------------------------- custom token endpoint

CUSTOM = {
    "azure_custom_token_endpoint_annotation_suffix": "custom-endpoint",
    "azure_custom_token_endpoint_audience": "custom-aud",
    "azure_kubernetes_token_proxy": "https://proxy.example",
    "azure_kubernetes_sni_name": "sni.example",
    "azure_kubernetes_ca_configmap_name": "kube-ca",
}


def test_custom_token_endpoint_audience_env_and_ca_in_the_volume() -> None:
    obj = pod(labels=USE, annotations={f"{D}/use-custom-endpoint": "TRUE"})
    _, result = run(obj, sa(CLIENT), settings(**CUSTOM))
    sources = volume(result, "azure-identity-token")["projected"]["sources"]
    assert len(sources) == 2 and sources[0]["serviceAccountToken"]["audience"] == "custom-aud"
    assert sources[1] == {
        "configMap": {
            "name": "kube-ca",
            "items": [{"key": "ca.crt", "path": "ca-cert/ca.crt"}],
            "optional": False,
        }
    }
    assert env_of(result, "app")[4:] == [
        ("AZURE_KUBERNETES_TOKEN_PROXY", "https://proxy.example"),
        ("AZURE_KUBERNETES_SNI_NAME", "sni.example"),
        ("AZURE_KUBERNETES_CA_FILE", "/var/run/secrets/azure/tokens/ca-cert/ca.crt"),
    ]
    _, plain = run(pod(labels=USE), sa(CLIENT), settings(**CUSTOM))
    assert volume(plain, "azure-identity-token") == token_volume()


def test_render_applies_the_patch_as_the_apiserver_does(tmp_path: Any) -> None:
    """No op addresses the inside of another's value: render's round trip applies values by reference."""
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "app", "annotations": CLIENT},
    }
    obj = pod(labels=USE, annotations={**PROXY, f"{D}/use-custom-endpoint": "true"})
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(yaml.safe_dump_all([account, obj]))
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in CUSTOM.items()]
    argv = [
        "render",
        str(manifest),
        "--dialects",
        "azure",
        f"--azure-tenant-id={TENANT}",
        *flags,
        "-o",
        "yaml",
    ]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 0, result.output
    rendered = list(yaml.safe_load_all(result.stdout))[1]
    outcome, expected = run(obj, sa(CLIENT), settings(**CUSTOM))
    assert rendered == expected
    assert apply_ops(copy.deepcopy(obj), outcome.patch) == expected
