"""The portal's tests: the example site's people, an administrator, a signed-in client."""

import pytest


@pytest.fixture(autouse=True)
def _utc_site(settings):
    """Usage days are UTC days: the expected numbers assume it."""
    settings.TIME_ZONE = "UTC"


@pytest.fixture
def admin(db, django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.org", "pw-root-1")


@pytest.fixture
def as_user(client, example, admin):
    """as_user("bob") -> the test client signed in as bob ("admin" for the administrator)."""

    def sign_in(username: str):
        person = admin if username == "admin" else example.people[username]
        client.force_login(person)
        return client

    return sign_in


@pytest.fixture
def demo_usage(example):
    """The demo's few months of usage (jobs of every project, disk of ProjectA and D)."""
    from allotment.demo import site

    site.load_usage()
    return example
