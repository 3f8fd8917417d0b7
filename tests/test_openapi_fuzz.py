"""Schemathesis against /api/openapi.json: no input ever makes the API answer 500.

Every operation of the schema is called with generated input as a site administrator (who
may reach every write path), and every GET operation again as bob, a member (whose
querysets are cut by access.policy: different code, same rule). The calls go through the
WSGI application in the test's own database transaction; each call runs in a savepoint
that is rolled back, so one example's writes never change what the next one meets.
"""

from __future__ import annotations

import warnings

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error, response_schema_conformance

from allotment.api import tokens
from allotment.people.models import Person


def _restore_many_more() -> None:
    """Give Hypothesis's `many` back the `more()` that hypothesis-jsonschema calls.

    hypothesis-jsonschema 0.23.1 (the newest, used by schemathesis 3.39 for every object:
    query parameters and bodies) draws object properties with `while elements.more():`.
    Recent Hypothesis (6.170 here) replaced `more()` by iteration (`for _ in elements`),
    so every operation fails with "'many' object has no attribute 'more'" before sending
    a request. This is the old method on top of the new internals: finish the current
    element, decide whether to draw another, and open its span. Only added if missing.
    """
    from hypothesis.internal.conjecture import utils

    if hasattr(utils.many, "more"):
        return

    def more(self) -> bool:
        if self._depth is None:
            self._depth = self.data.depth
        self._finish_element()
        if not self._decide():
            return False
        self.count += 1
        self._in_element = True
        self._rejected = False
        return True

    utils.many.more = more


_restore_many_more()

# The operations are found at run time, so pytest-django cannot see that these tests use
# the database (and would not create it when they run alone): the marker says so.
pytestmark = [
    pytest.mark.django_db,
    # schemathesis 3.39 builds on jsonschema's RefResolver; nothing to do about it here.
    pytest.mark.filterwarnings("ignore:jsonschema.RefResolver is deprecated:DeprecationWarning"),
]

CHECKS = (not_a_server_error, response_schema_conformance)
HUGE = 2**63  # one more than the largest 64-bit integer (SQLite's INTEGER, PostgreSQL's bigint)

FUZZ = settings(
    max_examples=15,
    deadline=None,
    database=None,  # no .hypothesis/ directory left behind
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)


@pytest.fixture(scope="session")
def _wsgi_application():
    """Django's WSGI application, without closing the test's database connection.

    A real request starts and ends by closing stale connections (request_started and
    request_finished); inside a test that would close the connection holding the test's
    transaction. Django's test client disconnects the same handler for the same reason.
    """
    from allotment.wsgi import application

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield application
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture(scope="session")
def api_schema(django_db_setup, _wsgi_application, django_db_blocker):
    """The schema as the running application serves it (loaded once, lazily)."""
    with django_db_blocker.unblock():
        return schemathesis.from_wsgi("/api/openapi.json", _wsgi_application)


with warnings.catch_warnings():
    # schemathesis 3.39 warns about its own deprecated filter arguments here.
    warnings.simplefilter("ignore", DeprecationWarning)
    schema = schemathesis.from_pytest_fixture("api_schema")

# Random keys almost never name a real object: half the examples use the example site's
# own, so updates and deletes reach the serializers and the models, not just a 404.
KNOWN_KEYS = {
    "pid": ["InstituteA", "ProjectA", "ProjectB", "ProjectC", "ProjectD"],
    "username": ["alice", "bob", "chen", "eve", "farid", "grace"],
    "name": ["brecca", "tango"],
    "id": list(range(1, 13)),
}


@schema.hook
def before_generate_path_parameters(context, strategy):
    def known(parameters: dict | None):
        if not parameters:
            return st.just(parameters)
        return st.fixed_dictionaries(
            {
                key: st.sampled_from(KNOWN_KEYS[key]) if key in KNOWN_KEYS else st.just(value)
                for key, value in parameters.items()
            }
        )

    return st.one_of(strategy, strategy.flatmap(known))


get_schema = schema.include(method="GET")  # shares the hooks above


def _bearer(person: Person) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.issue(person).token}"}


@pytest.fixture
def admin_headers(example) -> dict[str, str]:
    admin = Person.objects.create_superuser("fuzz-admin", "fuzz-admin@example.org")
    return _bearer(admin)


@pytest.fixture
def bob_headers(example) -> dict[str, str]:
    return _bearer(example.people["bob"])


def _call(case, headers: dict[str, str]):
    with transaction.atomic():
        response = case.call(headers=headers)
        transaction.set_rollback(True)
    return response


@schema.parametrize()
@FUZZ
def test_admin_never_gets_a_server_error(case, admin_headers):
    response = _call(case, admin_headers)
    case.validate_response(response, checks=CHECKS)


@get_schema.parametrize()
@FUZZ
def test_member_never_gets_a_server_error(case, bob_headers):
    response = _call(case, bob_headers)
    case.validate_response(response, checks=CHECKS)


# Found by the fuzzer ---------------------------------------------------------------------

LISTS = [
    "people", "projects", "memberships", "groups", "machines", "resource-pools", "resources",
    "schemes", "grants", "periods", "allocation-pools", "allocations",
]  # fmt: skip


# Once a 500: a limit of 2**63 reached SQL as is (the pages now have a ceiling).
@pytest.mark.parametrize("parameter", ["limit", "offset"])
@pytest.mark.parametrize("name", LISTS)
def test_a_huge_page_parameter_is_not_a_server_error(example, name, parameter):
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=_bearer(example.people["bob"])["Authorization"])
    response = client.get(f"/api/{name}/", {parameter: HUGE})
    assert response.status_code < 500
