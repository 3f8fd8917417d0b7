"""Fixtures for the whole suite.

The example site is loaded once per test session into the test database; every test runs
in a transaction that is rolled back, so each starts from the same known ledger.
"""

import pytest

from allotment.demo import site


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
