"""Helpers for the workflow tests: the example site's people, signed in, and their mail."""

import pytest

from allotment.people.models import Person


@pytest.fixture
def person(example):
    """The example site's person of that username, fresh from the database."""

    def get(username: str) -> Person:
        return Person.objects.get(username=username)

    return get


@pytest.fixture
def as_(client, person):
    """The test client, signed in as the named person."""

    def sign_in(username: str):
        client.force_login(person(username))
        return client

    return sign_in


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run the block's on-commit callbacks (the mail) as if its transaction committed."""
    return lambda: django_capture_on_commit_callbacks(execute=True)
