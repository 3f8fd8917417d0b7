"""Fixtures for the whole suite.

The example site is loaded once per test session into the test database; every test runs
in a transaction that is rolled back, so each starts from the same known ledger.
"""

import pytest

from allotment.demo import site

# The real engines on loopback, each started once per test session by the first test that
# needs it (and stopped at the end if that session started it).
pytest_plugins = [
    "allotment.integrations.slurm.testing",
    "allotment.integrations.ironic.testing",
    "allotment.integrations.openstack.testing",
    "allotment.integrations.ec2.testing",
]


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        site.load()


@pytest.fixture
def example(db):
    """The example site's objects by name."""
    from allotment.grants.models import AllocationPeriod, Grant, Scheme
    from allotment.people.models import Person
    from allotment.projects.models import Project
    from allotment.resources.models import ResourcePool

    class Example:
        projects = {p.pid: p for p in Project.objects.all()}
        people = {p.username: p for p in Person.objects.all()}
        pools = {p.name: p for p in ResourcePool.objects.all()}
        scheme = Scheme.objects.get(name="ET")
        period = AllocationPeriod.objects.get(name="2100")
        grant1 = Grant.objects.get(project__pid="ProjectA")
        grant2 = Grant.objects.get(project__pid="ProjectD")

    return Example


def _is_transactional(item) -> bool:
    marker = item.get_closest_marker("django_db")
    if marker and (marker.kwargs.get("transaction") or marker.kwargs.get("reset_sequences")):
        return True
    names = getattr(item, "fixturenames", ())
    return "transactional_db" in names or "live_server" in names


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """A transactional test (live server, threads, real concurrency) ends by flushing every
    table; load the example site again afterwards, so every other test still starts from it."""
    result = yield
    if nextitem is not None and _is_transactional(item):
        from pytest_django.plugin import blocking_manager_key

        with item.config.stash[blocking_manager_key].unblock():
            if not site.is_loaded():
                site.load()
    return result
