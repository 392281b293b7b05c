"""`webhook oauth2-proxy`: the flags, config keys and emails file, exactly as generated."""

from __future__ import annotations

import tomllib

import pytest

from tests.federation.support import ISSUER, assert_one_line_error


def test_machine_users_only_flags(run) -> None:
    result = run("oauth2-proxy", "--issuer", ISSUER, "--audience", "sample", "--audience", "other")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "--provider=oidc\n"
        f"--oidc-issuer-url={ISSUER}\n"
        "--client-id=sample\n"
        "--oidc-extra-audience=other\n"
        "--client-secret=unused-by-bearer-tokens\n"
        "--cookie-secret-file=/etc/oauth2-proxy/cookie-secret\n"
        "--skip-jwt-bearer-tokens=true\n"
        "--bearer-token-login-fallback=false\n"
        "--email-domain=*\n"
    )


def test_beside_sso_flags_with_ca(run) -> None:
    result = run(
        "oauth2-proxy", "--beside-sso", "--issuer", ISSUER, "--audience", "sample",
        "--ca-path", "/etc/ca/k8s.crt", "--email-domain", "example.com", "--email-domain", "example.org",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "--skip-jwt-bearer-tokens=true\n"
        "--bearer-token-login-fallback=false\n"
        f"--extra-jwt-issuers={ISSUER}=sample\n"
        "--provider-ca-file=/etc/ca/k8s.crt\n"
        "--use-system-trust-store=true\n"
        "--email-domain=example.com\n"
        "--email-domain=example.org\n"
    )


def test_beside_sso_config_with_serviceaccounts(run) -> None:
    args = [
        "oauth2-proxy", "--beside-sso", "--issuer", ISSUER, "--audience", "a", "--audience", "b",
        "--email-domain", "example.com", "--serviceaccount", "prod/api", "--serviceaccount", "prod/worker",
        "--emails-file", "/etc/oauth2-proxy/emails",
    ]  # fmt: skip
    config = run(*args, "--format", "config")
    assert config.exit_code == 0, config.output
    assert config.stdout == (
        "skip_jwt_bearer_tokens = true\n"
        "bearer_token_login_fallback = false\n"
        f'extra_jwt_issuers = ["{ISSUER}=a", "{ISSUER}=b"]\n'
        'email_domains = ["example.com"]\n'
        'authenticated_emails_file = "/etc/oauth2-proxy/emails"\n'
    )
    emails = run(*args, "--format", "emails-file")
    assert emails.stdout == "system:serviceaccount:prod:api\nsystem:serviceaccount:prod:worker\n"


def test_machine_only_config_restricted_to_serviceaccounts(run) -> None:
    result = run(
        "oauth2-proxy", "--issuer", ISSUER, "--audience", "sample", "--serviceaccount", "prod/api",
        "--emails-file", "/etc/emails", "--cookie-secret-file", "/run/secret", "--ca-path", "/ca.crt",
        "--format", "config",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        'provider = "oidc"\n'
        f'oidc_issuer_url = "{ISSUER}"\n'
        'client_id = "sample"\n'
        'client_secret = "unused-by-bearer-tokens"\n'
        'cookie_secret_file = "/run/secret"\n'
        "skip_jwt_bearer_tokens = true\n"
        "bearer_token_login_fallback = false\n"
        'provider_ca_files = ["/ca.crt"]\n'
        "use_system_trust_store = true\n"
        'authenticated_emails_file = "/etc/emails"\n'
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--issuer", "http://plain.example", "--audience", "a"], "must be an https:// URL"),
        (
            ["--issuer", "https://a.example/x=y", "--audience", "a"],
            "OAuth2-Proxy splits its issuer list at , and =",
        ),
        (
            ["--issuer", "https://a.example/x,y", "--audience", "a"],
            "OAuth2-Proxy splits its issuer list at , and =",
        ),
        (["--issuer", ISSUER, "--audience", ""], "--audience is required and must not be empty"),
        (["--issuer", ISSUER, "--audience", "a,b"], "--audience must not contain a comma"),
        (
            ["--issuer", ISSUER, "--audience", "a", "--email-domain", "@x.com"],
            "--email-domain takes a domain",
        ),
        (
            ["--issuer", ISSUER, "--audience", "a", "--serviceaccount", "ns/*", "--emails-file", "/e"],
            "matches exact entries only",
        ),
        (
            ["--issuer", ISSUER, "--audience", "a", "--serviceaccount", "nope"],
            "'nope' must be NAMESPACE/NAME",
        ),
        (
            ["--issuer", ISSUER, "--audience", "a", "--serviceaccount", "n/a", "--email-domain", "*"],
            "--email-domain '*' admits every subject",
        ),
        (
            ["--issuer", ISSUER, "--audience", "a", "--serviceaccount", "n/a"],
            "--serviceaccount needs --emails-file",
        ),
        (
            ["--issuer", ISSUER, "--audience", "a", "--emails-file", "/e"],
            "--emails-file needs the --serviceaccount",
        ),
        (
            ["--issuer", ISSUER, "--audience", "a", "--serviceaccount", "n/a", "--emails-file", "emails"],
            "--emails-file 'emails' must be an absolute path",
        ),
        (
            ["--issuer", ISSUER, "--audience", "a", "--ca-path", "ca.crt"],
            "--ca-path 'ca.crt' must be an absolute",
        ),
        (
            ["--issuer", ISSUER, "--audience", "a", "--cookie-secret-file", "s"],
            "--cookie-secret-file 's' must be",
        ),
    ],
)
def test_errors(run, args: list[str], message: str) -> None:
    assert_one_line_error(run("oauth2-proxy", *args), message)


def test_config_file_is_toml_with_the_flags_values(run) -> None:
    """The config keys carry the same values as the flags (lists where the proxy takes several)."""
    args = ["oauth2-proxy", "--issuer", ISSUER, "--audience", "a", "--audience", "b", "--ca-path", "/ca.crt"]
    config = tomllib.loads(run(*args, "--format", "config").stdout)
    flags = dict(line[2:].split("=", 1) for line in run(*args).stdout.splitlines())
    assert config["oidc_issuer_url"] == flags["oidc-issuer-url"] == ISSUER
    assert config["oidc_extra_audiences"] == ["b"] and flags["oidc-extra-audience"] == "b"
    assert config["provider_ca_files"] == ["/ca.crt"] and config["use_system_trust_store"] is True
    assert config["email_domains"] == ["*"] and config["skip_jwt_bearer_tokens"] is True
