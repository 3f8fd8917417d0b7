"""Settings read from the environment: the documented variables take effect, and a site
served over TLS gets secure cookies, HSTS and the redirect that `check --deploy` asks for."""

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

import allotment.settings

SETTINGS = allotment.settings.__file__
DEPLOY_WARNINGS = {
    "security.W004",  # SECURE_HSTS_SECONDS
    "security.W005",  # SECURE_HSTS_INCLUDE_SUBDOMAINS
    "security.W008",  # SECURE_SSL_REDIRECT
    "security.W012",  # SESSION_COOKIE_SECURE
    "security.W016",  # CSRF_COOKIE_SECURE
    "security.W021",  # SECURE_HSTS_PRELOAD
}


@pytest.fixture
def read_settings(monkeypatch, tmp_path):
    """The settings module's values, evaluated afresh under the given environment."""

    def read(**env: str) -> dict:
        for name in list(os.environ):
            if name.startswith("ALLOTMENT_"):
                monkeypatch.delenv(name)
        monkeypatch.setenv("ALLOTMENT_VAR_DIR", str(tmp_path))
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(SETTINGS)

    return read


def deploy_warnings(values: dict) -> set[str]:
    """The security warnings `manage.py check --deploy` gives for these settings."""
    names = [n for n in values if n.startswith(("SECURE_", "SESSION_COOKIE_", "CSRF_COOKIE_"))]
    with override_settings(**{name: values[name] for name in names}):
        found = checks.run_checks(include_deployment_checks=True, tags=[checks.Tags.security])
    return {message.id for message in found} & DEPLOY_WARNINGS


def test_invitation_days_and_the_admin_stage_come_from_the_environment(read_settings):
    defaults = read_settings()
    assert defaults["ALLOTMENT_INVITATION_DAYS"] == 14
    assert defaults["ALLOTMENT_PROJECT_APPROVAL_BY_ADMIN"] is True
    chosen = read_settings(ALLOTMENT_INVITATION_DAYS="3", ALLOTMENT_PROJECT_APPROVAL_BY_ADMIN="0")
    assert chosen["ALLOTMENT_INVITATION_DAYS"] == 3
    assert chosen["ALLOTMENT_PROJECT_APPROVAL_BY_ADMIN"] is False


@pytest.mark.parametrize("days", ["three", "0", "-2", "36501"])
def test_a_meaningless_number_of_invitation_days_is_refused_by_name(read_settings, days):
    with pytest.raises(ImproperlyConfigured) as e:
        read_settings(ALLOTMENT_INVITATION_DAYS=days)
    assert str(e.value) == (
        f'ALLOTMENT_INVITATION_DAYS="{days}": expected a whole number from 1 to 36500.'
    )


def test_the_oidc_email_fallback_is_on_unless_turned_off(read_settings):
    assert read_settings()["ALLOTMENT_OIDC_EMAIL_FALLBACK"] is True
    assert (
        read_settings(ALLOTMENT_OIDC_EMAIL_FALLBACK="0")["ALLOTMENT_OIDC_EMAIL_FALLBACK"] is False
    )


def test_by_default_cookies_work_over_plain_http(read_settings):
    """The embedded mode and the demo serve http://127.0.0.1: secure cookies would never
    come back, and nobody could sign in."""
    values = read_settings()
    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["CSRF_COOKIE_SECURE"] is False
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SECURE_HSTS_SECONDS"] == 0
    assert values["SECURE_PROXY_SSL_HEADER"] is None
    assert deploy_warnings(values) == {
        "security.W004", "security.W008", "security.W012", "security.W016"
    }  # fmt: skip


def test_a_site_served_over_tls_passes_the_deploy_checks(read_settings):
    values = read_settings(ALLOTMENT_SECURE="1")
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] == 31536000
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False  # opt-in: it binds other hosts
    assert values["SECURE_HSTS_PRELOAD"] is False
    assert values["SECURE_PROXY_SSL_HEADER"] is None  # trusted only when asked
    assert values["SECURE_REDIRECT_EXEMPT"] == [r"^healthz$", r"^metrics$"]
    assert deploy_warnings(values) == {"security.W005", "security.W021"}

    everything = read_settings(
        ALLOTMENT_SECURE="1",
        ALLOTMENT_HSTS_SECONDS="600",
        ALLOTMENT_HSTS_INCLUDE_SUBDOMAINS="1",
        ALLOTMENT_HSTS_PRELOAD="1",
        ALLOTMENT_SECURE_PROXY="1",
    )
    assert everything["SECURE_HSTS_SECONDS"] == 600
    assert everything["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert deploy_warnings(everything) == set()


def test_hsts_seconds_must_be_a_number(read_settings):
    with pytest.raises(ImproperlyConfigured) as e:
        read_settings(ALLOTMENT_SECURE="1", ALLOTMENT_HSTS_SECONDS="a year")
    assert str(e.value) == (
        'ALLOTMENT_HSTS_SECONDS="a year": expected a whole number from 0 to 630720000.'
    )


def test_check_deploy_passes_for_a_tls_site(tmp_path):
    """`allot check --deploy` itself, as an operator runs it before going live."""
    # The operator's environment: none of the test run's settings (the browser tests allow
    # async-unsafe calls, which a deployment check rightly refuses).
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ALLOTMENT_", "DJANGO_"))},
        "ALLOTMENT_VAR_DIR": str(tmp_path),
        "ALLOTMENT_SECRET_KEY": "k" * 20 + "0123456789abcdefghijklmnopqrstuvwxyz-_!@#",
        "ALLOTMENT_ALLOWED_HOSTS": "ledger.example.org",
        "ALLOTMENT_SECURE": "1",
        "ALLOTMENT_HSTS_INCLUDE_SUBDOMAINS": "1",
        "ALLOTMENT_HSTS_PRELOAD": "1",
    }
    allot = Path(sys.executable).parent / "allot"
    result = subprocess.run(
        [str(allot), "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
