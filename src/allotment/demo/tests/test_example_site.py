"""The example site, as `allot demo load` leaves it."""

import pytest

from allotment.people.models import Person

pytestmark = pytest.mark.django_db


def test_the_example_peoples_emails_are_verified_as_an_administrator_set_them():
    # The suite's database holds the example site (conftest.py loads it once).
    people = Person.objects.exclude(email="")
    assert people.count() > 5
    assert not people.filter(email_verified=False).exists()
    assert Person.objects.get(username="alice").email == "alice@institutea.example.org"
