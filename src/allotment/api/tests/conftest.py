"""Fixtures of the API tests: clients signed in with tokens of the example site's people."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from allotment.api import tokens
from allotment.people.models import Person


@pytest.fixture
def admin_person(db) -> Person:
    return Person.objects.create_superuser("api-admin", "api-admin@example.org", "x")


@pytest.fixture
def client_for(example):
    """client_for("bob") is an APIClient sending a fresh token of bob's."""

    def make(username_or_person) -> APIClient:
        person = (
            username_or_person
            if isinstance(username_or_person, Person)
            else Person.objects.get(username=username_or_person)
        )
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.issue(person).token}")
        return client

    return make


@pytest.fixture
def admin(client_for, admin_person) -> APIClient:
    return client_for(admin_person)


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()
