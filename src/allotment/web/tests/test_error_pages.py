"""Error pages: the portal's look, the reason the code gave, and no traceback for a 403.

Django's own pages are bare and drop the reason; it logs each PermissionDenied with its
traceback, which buries real errors under expected refusals.
"""

import json
import logging

import pytest
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.test import Client
from django.urls import path

from allotment import urls as site_urls

NAV = '<nav class="mainnav" aria-label="Main">'


def _refuse(request):
    raise PermissionDenied('You may not touch "<b>ProjectA</b>".')


def _boom(request):
    raise RuntimeError("the internals of a failure")


def _suspicious(request):
    raise SuspiciousOperation("a header that looks forged")


# The site's URLs and handlers, plus views that fail in each way (pytest.mark.urls).
urlpatterns = [
    path("test-errors/refuse/", _refuse),
    path("test-errors/boom/", _boom),
    path("test-errors/suspicious/", _suspicious),
    *site_urls.urlpatterns,
]
handler400 = getattr(site_urls, "handler400", "django.views.defaults.bad_request")
handler403 = getattr(site_urls, "handler403", "django.views.defaults.permission_denied")
handler404 = getattr(site_urls, "handler404", "django.views.defaults.page_not_found")
handler500 = getattr(site_urls, "handler500", "django.views.defaults.server_error")


def request_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("django.")]


def test_a_403_page_has_the_portal_look_and_the_reason_and_logs_no_traceback(as_user, caplog):
    client = as_user("alice")
    with caplog.at_level(logging.INFO):
        response = client.get("/manage/audit/")
    assert response.status_code == 403
    page = response.content.decode()
    assert NAV in page and 'href="/projects/"' in page
    assert "<h1>Forbidden</h1>" in page
    assert "Only site administrators may use this page." in page
    (record,) = request_records(caplog)
    assert (record.name, record.levelname, record.exc_info) == ("django.request", "WARNING", None)
    assert record.getMessage() == (
        "Forbidden (Permission denied): /manage/audit/: Only site administrators may use this page."
    )
    assert "Traceback" not in caplog.text


@pytest.mark.urls(__name__)
def test_the_reason_is_escaped(as_user):
    response = as_user("alice").get("/test-errors/refuse/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "You may not touch &quot;&lt;b&gt;ProjectA&lt;/b&gt;&quot;." in page
    assert "<b>ProjectA</b>" not in page


def test_a_404_page_has_the_portal_look_and_the_reason(as_user, caplog):
    with caplog.at_level(logging.INFO):
        response = as_user("alice").get("/projects/No%3Cscript%3E/")
    assert response.status_code == 404
    page = response.content.decode()
    assert NAV in page and "<h1>Not found</h1>" in page
    assert "There is no project &quot;No&lt;script&gt;&quot;." in page
    assert "<script>" not in page.split("</head>")[1]
    (record,) = request_records(caplog)
    assert (record.levelname, record.exc_info) == ("WARNING", None)


def test_a_404_for_a_path_no_url_matches_names_the_path_and_nothing_of_the_url_map(as_user):
    response = as_user("alice").get("/nowhere/")
    assert response.status_code == 404
    page = response.content.decode()
    assert NAV in page
    assert "There is no page at /nowhere/." in page
    assert "tried" not in page and "admin/" not in page


def test_a_404_for_someone_signed_out_has_the_portal_look_without_the_menu(client, db):
    response = client.get("/nowhere/")
    assert response.status_code == 404
    page = response.content.decode()
    assert 'class="topbar"' in page and NAV not in page
    assert "There is no page at /nowhere/." in page


def test_api_errors_stay_json(as_user):
    """A view under /api/ that is not DRF's (the docs' assets) answers a JSON 404 too."""
    client = as_user("alice")
    response = client.get("/api/docs/assets/no-such-file.js")
    assert (response.status_code, response["Content-Type"]) == (404, "application/json")
    assert json.loads(response.content) == {"detail": "no-such-file.js"}
    response = client.get("/api/nowhere/")
    assert (response.status_code, response["Content-Type"]) == (404, "application/json")
    response = client.get("/api/projects/NoSuchProject/")
    assert (response.status_code, response["Content-Type"]) == (404, "application/json")


@pytest.mark.urls(__name__)
def test_a_500_page_has_the_portal_look_and_hides_the_failure(example, caplog):
    client = Client(raise_request_exception=False)
    client.force_login(example.people["alice"])
    with caplog.at_level(logging.INFO):
        response = client.get("/test-errors/boom/")
    assert response.status_code == 500
    page = response.content.decode()
    assert 'class="topbar"' in page and "<h1>Server error</h1>" in page
    assert "the internals of a failure" not in page
    (record,) = request_records(caplog)
    assert (record.levelname, record.exc_info[0]) == ("ERROR", RuntimeError)


@pytest.mark.urls(__name__)
def test_a_400_page_has_the_portal_look_and_no_detail_of_the_suspicion(as_user):
    response = as_user("alice").get("/test-errors/suspicious/")
    assert response.status_code == 400
    page = response.content.decode()
    assert NAV in page and "<h1>Bad request</h1>" in page
    assert "looks forged" not in page


def test_a_form_sent_without_its_csrf_token_gets_the_portal_page_saying_what_to_do(example):
    client = Client(enforce_csrf_checks=True)
    client.force_login(example.people["alice"])
    response = client.post("/me/email/", {"email": "a@example.org"})
    assert response.status_code == 403
    page = response.content.decode()
    assert NAV in page
    assert "sent without a valid security token" in page
    assert "Reload the page" in page
