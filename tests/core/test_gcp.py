"""The gcp dialect: the pods pfnet-research/gcp-workload-identity-federation-webhook produces, by case."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from pydantic import ValidationError

from tests.common import container, env_of, mounts_of, pod
from tests.core.support import run, sa, volume
from webhook.cli import main
from webhook.dialects.gcp import go_duration_seconds, go_int
from webhook.settings import CoreSettings
from webhook.yamledit import apply_ops

G = "cloud.google.com"
PROVIDER = "projects/12345/locations/global/workloadIdentityPools/on-prem-kubernetes/providers/this-cluster"
EMAIL = "app-x@my-project.iam.gserviceaccount.com"
SA = {f"{G}/workload-identity-provider": PROVIDER, f"{G}/service-account-email": EMAIL}
TOKEN_MOUNT = {
    "name": "gcp-iam-token",
    "readOnly": True,
    "mountPath": "/var/run/secrets/sts.googleapis.com/serviceaccount",
}
CONFIG_MOUNT = {"name": "gcloud-config", "mountPath": "/var/run/secrets/gcloud/config"}
CREDENTIALS = "/var/run/secrets/gcloud/config/federation.json"
SCRIPT = (
    "gcloud iam workload-identity-pools create-cred-config \\\n"
    "  $(GCP_WORKLOAD_IDENTITY_PROVIDER) \\\n"
    "  --service-account=$(GCP_SERVICE_ACCOUNT) \\\n"
    "  --output-file=$(CLOUDSDK_CONFIG)/federation.json \\\n"
    "  --credential-source-file=/var/run/secrets/sts.googleapis.com/serviceaccount/token\n"
    "gcloud auth login --cred-file=$(CLOUDSDK_CONFIG)/federation.json\n"
)


def settings(**values: Any) -> CoreSettings:
    return CoreSettings(**{"dialects": "gcp", **values})


def setup(project: str = "my-project", **security: Any) -> dict[str, Any]:
    env = [
        {"name": "GCP_WORKLOAD_IDENTITY_PROVIDER", "value": PROVIDER},
        {"name": "GCP_SERVICE_ACCOUNT", "value": EMAIL},
        {"name": "CLOUDSDK_CONFIG", "value": "/var/run/secrets/gcloud/config"},
    ]
    if project:
        env.append({"name": "CLOUDSDK_CORE_PROJECT", "value": project})
    return {
        "name": "gcloud-setup",
        "image": "google/cloud-sdk:slim",
        "command": ["sh", "-c", SCRIPT],
        "env": env,
        "volumeMounts": [TOKEN_MOUNT, CONFIG_MOUNT],
        "securityContext": {"capabilities": {"drop": ["ALL"]}, **security, "allowPrivilegeEscalation": False},
    }


def token_volume(expiration: int = 86400, audience: str = "sts.googleapis.com", mode: int = 0o440) -> dict:
    source = {"audience": audience, "expirationSeconds": expiration, "path": "token"}
    return {
        "name": "gcp-iam-token",
        "projected": {"sources": [{"serviceAccountToken": source}], "defaultMode": mode},
    }


def gcloud_env(project: str = "my-project", region: str = "") -> list[tuple[str, str]]:
    out = [
        ("GOOGLE_APPLICATION_CREDENTIALS", CREDENTIALS),
        ("CLOUDSDK_CONFIG", "/var/run/secrets/gcloud/config"),
    ]
    if region:
        out.append(("CLOUDSDK_COMPUTE_REGION", region))
    if project:
        out.append(("CLOUDSDK_CORE_PROJECT", project))
    return out


def test_basic_pod_as_that_webhook_mutates_it() -> None:
    obj = pod(init=[{"name": "init-first", "image": "x"}])
    outcome, result = run(obj, sa(SA), settings(gcp_default_region="asia-northeast1"))
    assert outcome.errors == [] and outcome.dialects == ("gcp",)
    spec = result["spec"]
    assert spec["volumes"] == [token_volume(), {"name": "gcloud-config", "emptyDir": {}}]
    assert spec["initContainers"][0] == setup()
    for name in ("init-first", "app"):
        assert env_of(result, name) == gcloud_env(region="asia-northeast1")
        assert mounts_of(result, name) == [TOKEN_MOUNT, CONFIG_MOUNT]
    assert result["metadata"]["annotations"] == {
        f"{G}/workload-identity-provider": PROVIDER,
        f"{G}/service-account-email": EMAIL,
        f"{G}/audience": "sts.googleapis.com",
        f"{G}/token-expiration": "86400",
    }


def test_no_provider_no_email_no_mutation_and_other_prefixes_are_not_read() -> None:
    outcome, _ = run(pod(), sa({f"{G}/audience": "x"}), settings())
    assert outcome.patch == [] and outcome.skipped
    outcome, _ = run(pod(), sa(SA), CoreSettings())
    assert outcome.patch == []
    outcome, _ = run(pod(), sa(SA), settings(gcp_annotation_prefix="gcp.example.com"))
    assert outcome.patch == []


@pytest.mark.parametrize("missing", [f"{G}/workload-identity-provider", f"{G}/service-account-email"])
def test_one_of_the_two_required_annotations_missing_is_denied(missing: str) -> None:
    outcome, _ = run(pod(), sa({k: v for k, v in SA.items() if k != missing}), settings())
    assert outcome.errors == [f"{G}/workload-identity-provider, {G}/service-account-email must set at a time"]


def test_a_provider_of_the_wrong_form_is_denied() -> None:
    outcome, _ = run(pod(), sa({**SA, f"{G}/workload-identity-provider": "my-pool"}), settings())
    assert len(outcome.errors) == 1 and "must be form of projects/{ProjectNumber}" in outcome.errors[0]


@pytest.mark.parametrize(
    ("sa_value", "pod_value", "expected"),
    [
        ("7200", None, 7200),
        ("7200", "10000", 10000),
        (None, "100", 3600),
        ("-5", None, 3600),
        ("0", None, 3600),
    ],
)
def test_expiration_pod_over_serviceaccount_and_raised_to_an_hour(
    sa_value: str | None, pod_value: str | None, expected: int
) -> None:
    annotations = {f"{G}/token-expiration": pod_value} if pod_value is not None else None
    sa_annotations = {**SA, **({f"{G}/token-expiration": sa_value} if sa_value is not None else {})}
    _, result = run(pod(annotations=annotations), sa(sa_annotations), settings())
    assert volume(result, "gcp-iam-token") == token_volume(expected)
    assert result["metadata"]["annotations"][f"{G}/token-expiration"] == str(expected)


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        ("ServiceAccount", "1h", "must be positive integer string"),
        ("Pod", "soon", "must be positive integer string"),
        ("ServiceAccount", "4294967297", "above 4294967296"),
        ("Pod", "99999999999999999999999", "must be positive integer string"),
    ],
)
def test_expiration_not_a_number_or_too_high_is_denied(where: str, value: str, message: str) -> None:
    key = {f"{G}/token-expiration": value}
    obj = pod(annotations=key if where == "Pod" else None)
    outcome, _ = run(obj, sa({**SA, **(key if where == "ServiceAccount" else {})}), settings())
    assert (
        len(outcome.errors) == 1
        and message in outcome.errors[0]
        and f"{G}/token-expiration" in outcome.errors[0]
    )


def test_audience_run_as_user_and_settings() -> None:
    values = {"gcp_token_audience": "aud", "gcp_token_expiration": "2h30m", "gcp_gcloud_image": "gcloud:mine"}
    _, result = run(pod(), sa({**SA, f"{G}/gcloud-run-as-user": "1000"}), settings(**values))
    assert volume(result, "gcp-iam-token") == token_volume(9000, "aud")
    assert container(result, "gcloud-setup") == {**setup(runAsUser=1000), "image": "gcloud:mine"}
    _, result = run(pod(), sa({**SA, f"{G}/audience": "sa-aud"}), settings(gcp_token_default_mode="0400"))
    assert volume(result, "gcp-iam-token") == token_volume(audience="sa-aud", mode=0o400)
    resources = '{"requests":{"cpu":"100m"}}'
    _, result = run(pod(), sa(SA), settings(gcp_setup_container_resources=resources))
    assert container(result, "gcloud-setup")["resources"] == {"requests": {"cpu": "100m"}}


def test_no_project_in_the_email_no_core_project() -> None:
    email = "x@proj.iam.googleapis.com"  # the walk-through's own example: not a gserviceaccount.com address
    _, result = run(pod(), sa({**SA, f"{G}/service-account-email": email}), settings())
    assert env_of(result, "app") == gcloud_env(project="")
    assert [e["name"] for e in container(result, "gcloud-setup")["env"]] == [
        "GCP_WORKLOAD_IDENTITY_PROVIDER",
        "GCP_SERVICE_ACCOUNT",
        "CLOUDSDK_CONFIG",
    ]


def test_skip_containers_is_comma_separated_and_gcloud_setup_is_always_skipped() -> None:
    obj = pod(
        {"name": "app", "image": "x"},
        {"name": "sidecar", "image": "x"},
        init=[
            {"name": "init-first", "image": "x"},
            {"name": "native", "image": "x", "restartPolicy": "Always"},
        ],
        annotations={f"{G}/skip-containers": "init-first, sidecar"},
    )
    _, result = run(obj, sa(SA), settings())
    assert env_of(result, "sidecar") == [] and mounts_of(result, "init-first") == []
    for name in ("app", "native"):
        assert env_of(result, name) == gcloud_env() and mounts_of(result, name) == [TOKEN_MOUNT, CONFIG_MOUNT]
    assert container(result, "gcloud-setup") == setup()


def test_env_already_set_is_replaced_or_kept_as_there() -> None:
    own = [
        {"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": "/mine.json"},
        {"name": "CLOUDSDK_CORE_PROJECT", "value": "other"},
    ]
    outcome, result = run(pod({"name": "app", "image": "x", "env": own}), sa(SA), settings())
    assert env_of(result, "app") == [
        ("GOOGLE_APPLICATION_CREDENTIALS", CREDENTIALS),  # add-or-replace there
        ("CLOUDSDK_CORE_PROJECT", "other"),  # add-if-absent there
        ("CLOUDSDK_CONFIG", "/var/run/secrets/gcloud/config"),
    ]
    assert any("GOOGLE_APPLICATION_CREDENTIALS set to" in w for w in outcome.warnings)


def test_an_existing_volume_of_that_name_is_kept_with_a_warning() -> None:
    mine = {"name": "gcp-iam-token", "emptyDir": {}}
    outcome, result = run(pod(volumes=[mine]), sa(SA), settings())
    assert result["spec"]["volumes"][0] == mine
    assert any("the GCP webhook replaces it" in w for w in outcome.warnings)


def test_a_foreign_mount_at_the_config_path_is_denied() -> None:
    app = {
        "name": "app",
        "image": "x",
        "volumeMounts": [{"name": "cfg", "mountPath": "/var/run/secrets/gcloud/config"}],
    }
    outcome, _ = run(pod(app, volumes=[{"name": "cfg", "emptyDir": {}}]), sa(SA), settings())
    assert len(outcome.errors) == 1 and "already mounts volume 'cfg'" in outcome.errors[0]


def test_a_gcloud_setup_container_of_the_pods_own_is_denied() -> None:
    outcome, _ = run(pod(init=[{"name": "gcloud-setup", "image": "mine"}]), sa(SA), settings())
    assert len(outcome.errors) == 1 and "'gcloud-setup' is the pod's own" in outcome.errors[0]


def test_windows_pods_get_the_same_linux_paths_as_there() -> None:
    _, result = run(pod(nodeSelector={"kubernetes.io/os": "windows"}), sa(SA), settings())
    assert dict(env_of(result, "app"))["GOOGLE_APPLICATION_CREDENTIALS"] == CREDENTIALS


def test_direct_mode_projects_the_credential_configuration_without_an_init_container() -> None:
    outcome, result = run(pod(), sa({**SA, f"{G}/injection-mode": "Direct"}), settings())
    assert outcome.errors == []
    assert "initContainers" not in result["spec"]
    assert result["spec"]["volumes"][1] == {
        "name": "external-credential-config",
        "downwardAPI": {
            "items": [
                {
                    "path": "federation.json",
                    "fieldRef": {
                        "apiVersion": "v1",
                        "fieldPath": f"metadata.annotations['{G}/external-credentials-json']",
                    },
                }
            ],
            "defaultMode": 0o440,
        },
    }
    assert mounts_of(result, "app") == [
        TOKEN_MOUNT,
        {
            "name": "external-credential-config",
            "mountPath": "/var/run/secrets/gcloud/config",
            "readOnly": True,
        },
    ]
    assert env_of(result, "app") == [
        ("GOOGLE_APPLICATION_CREDENTIALS", CREDENTIALS),
        ("CLOUDSDK_CORE_PROJECT", "my-project"),
    ]
    config = json.loads(result["metadata"]["annotations"][f"{G}/external-credentials-json"])
    assert config == {
        "type": "external_account",
        "audience": f"//iam.googleapis.com/{PROVIDER}",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": "https://sts.googleapis.com/v1/token",
        "service_account_impersonation_url": (
            f"https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{EMAIL}:generateAccessToken"
        ),
        "credential_source": {
            "file": "/var/run/secrets/sts.googleapis.com/serviceaccount/token",
            "format": {"type": "text"},
        },
    }
    assert list(config)[:4] == ["type", "audience", "subject_token_type", "token_url"]  # Go's field order


def test_an_unknown_injection_mode_is_denied() -> None:
    outcome, _ = run(pod(), sa({**SA, f"{G}/injection-mode": "sidecar"}), settings())
    assert outcome.errors == [f"{G}/injection-mode='sidecar': mode must be 'direct', 'gcloud' or unset"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("24h0m0s", 86400),
        ("1h30m", 5400),
        ("90s", 90),
        ("1.5h", 5400),
        ("0", 0),
        ("-2h", -7200),
        ("1500ms", 1),
    ],
)
def test_go_durations(text: str, seconds: int) -> None:
    assert go_duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "24", "1d", "h", ".h", "1h-2m"])
def test_what_go_refuses_as_a_duration_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        go_duration_seconds(text)


def test_go_integers() -> None:
    assert [go_int(t) for t in ("0440", "288", "0o440", "0x120", "0")] == [288, 288, 288, 288, 0]
    with pytest.raises(ValueError):
        go_int("08")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"gcp_token_expiration": "1d"}, "invalid duration"),
        ({"gcp_token_expiration": "1200000h"}, "above 4294967296"),
        ({"gcp_token_default_mode": "01000"}, "outside 0-0777"),
        ({"gcp_token_default_mode": "rw"}, "not an integer"),
        ({"gcp_setup_container_resources": "{"}, "not JSON"),
        ({"gcp_setup_container_resources": '{"cpu": 1}'}, "resources object"),
        ({"gcp_annotation_prefix": "Not A Domain"}, "DNS subdomain"),
    ],
)
def test_settings_that_webhook_would_refuse(values: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(**values)


@pytest.mark.parametrize("mode", ["gcloud", "direct"])
def test_render_applies_the_patch_as_the_apiserver_does(mode: str, tmp_path: Any) -> None:
    """No op addresses the inside of another's value: render's round trip applies values by reference."""
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "app"}}
    account["metadata"]["annotations"] = {**SA, f"{G}/injection-mode": mode}
    obj = pod(
        {"name": "app", "image": "x", "env": [{"name": "A", "value": "b"}]},
        init=[{"name": "i", "image": "x"}],
    )
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(yaml.safe_dump_all([account, obj]))
    result = CliRunner().invoke(main, ["render", str(manifest), "--dialects", "gcp", "-o", "yaml"])
    assert result.exit_code == 0, result.output
    rendered = list(yaml.safe_load_all(result.stdout))[1]
    outcome, expected = run(obj, sa(account["metadata"]["annotations"]), settings())
    assert rendered == expected
    assert apply_ops(copy.deepcopy(obj), outcome.patch) == expected


def test_reinvoked_after_the_apiserver_defaulted_the_pod_nothing_more() -> None:
    """Reinvocation: the apiserver defaulted our containers and re-ran the ServiceAccount plugin."""
    _, result = run(pod(), sa(SA), settings())
    api = {"name": "kube-api-access-x", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
    for item in [*result["spec"]["initContainers"], *result["spec"]["containers"]]:
        item.update(imagePullPolicy="IfNotPresent", terminationMessagePath="/dev/termination-log")
        item["volumeMounts"].append(dict(api))
    result["spec"]["volumes"].append(
        {"name": "kube-api-access-x", "projected": {"sources": [{"configMap": {"name": "c"}}]}}
    )
    again, _ = run(result, sa(SA), settings(), valid=False)
    assert again.patch == [] and again.errors == [] and again.warnings == []
