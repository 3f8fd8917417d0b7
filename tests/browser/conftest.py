"""Browser tests: Playwright driving Debian's Chromium against a live server.

Chromium is installed from Debian's packages on first use (as root), the way the Slurm
tests install Slurm, so a clean machine needs nothing beyond `make test`. Screenshots of
the main pages are saved under $ALLOTMENT_ARTIFACTS (default var/artifacts/screenshots),
which is never committed.
"""

import os
import shutil
from pathlib import Path

import pytest

from allotment.core.debian import AptError, apt_install

CHROMIUM = "/usr/bin/chromium"
# Playwright's sync API runs an event loop in the test's thread; the ORM calls the tests
# make between browser steps are ordinary synchronous ones.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _ensure_chromium() -> str | None:
    if Path(CHROMIUM).exists():
        return None
    if os.geteuid() != 0:
        return "Debian's chromium is not installed and installing it needs root"
    try:
        apt_install(["chromium"])
    except AptError as e:
        return str(e)
    if not Path(CHROMIUM).exists():
        return f"apt-get install chromium left no {CHROMIUM}"
    return None


@pytest.fixture(scope="session")
def browser():
    problem = _ensure_chromium()
    if problem:
        if os.environ.get("ALLOTMENT_REQUIRE_BROWSER") == "1":
            pytest.fail(problem)
        pytest.skip(problem)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    folder = Path(os.environ.get("ALLOTMENT_ARTIFACTS", "var/artifacts")) / "screenshots"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture(scope="session", autouse=True)
def _close_live_server_connections(django_db_setup, django_db_blocker):
    """End the database sessions the live server's request threads leave behind.

    Django closes a thread's database connections when the thread ends. A request thread
    whose response Chromium stopped reading (the page moved on) can keep its connection to
    the end of the run, and PostgreSQL will not drop a test database someone is still
    connected to ("being accessed by other users"). Torn down before the test database is.
    """
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    connection.close()


# -- shared by the administrators' pages' tests ------------------------------------------

PASSWORD = "correct horse battery staple"


@pytest.fixture
def console_errors(page) -> list[str]:
    """The page's console errors and uncaught exceptions, gathered as the test browses.

    Only for pages expected to load cleanly: a 403 or 404 is itself a console error. A
    404 for /favicon.ico is left out: pages outside the portal's own (the admin site's)
    name no icon, so Chromium asks for that one.
    """
    errors: list[str] = []

    def on_console(message) -> None:
        url = message.location.get("url", "")
        if message.type == "error" and not url.endswith("/favicon.ico"):
            errors.append(f"console: {message.text} ({url})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    return errors


@pytest.fixture
def sign_in(page):
    """sign_in(username) through the sign-in form, as a person would: "admin" is the site
    administrator (created on first use), any other name one of the example site's people.
    Only the person signing in gets the test password (hashing one is slow on purpose)."""
    from allotment.demo import site
    from allotment.people.models import Person

    def signed_in(username: str) -> None:
        if username == "admin":
            site.ensure_admin("admin", PASSWORD)
        else:
            person = Person.objects.get(username=username)
            person.set_password(PASSWORD)
            person.save(update_fields=["password"])
        page.context.clear_cookies()
        page.goto("/sign-in/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("form button[type=submit]")
        page.wait_for_url(lambda url: "/sign-in/" not in url)

    return signed_in
