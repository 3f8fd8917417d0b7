"""API tokens of a person past their expiry date are refused, as a locked person's are
(issue 10, item 17); `expires` is the last day the person may act."""

from datetime import timedelta

from django.utils import timezone
from rest_framework.test import APIClient

from allotment.api import tokens


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_the_token_of_a_person_past_their_expiry_date_is_refused(example):
    bob = example.people["bob"]
    issued = tokens.issue(bob)
    bob.expires = timezone.localdate() - timedelta(days=1)
    bob.save()
    response = bearer(issued.token).get("/api/projects/")
    assert response.status_code == 401
    assert response.json() == {
        "detail": f'API token "{issued.record.prefix}" belongs to bob, whose account expired '
        f"on {bob.expires:%Y-%m-%d}."
    }


def test_the_token_works_on_the_last_day(example):
    bob = example.people["bob"]
    issued = tokens.issue(bob)
    bob.expires = timezone.localdate()
    bob.save()
    assert bearer(issued.token).get("/api/projects/").status_code == 200


def test_a_session_of_a_person_past_their_expiry_date_is_refused(example):
    bob = example.people["bob"]
    bob.expires = timezone.localdate() - timedelta(days=1)
    bob.save()
    client = APIClient()
    client.force_authenticate(bob)  # as a session that outlived the expiry date
    response = client.get("/api/projects/")
    assert response.status_code == 403
    assert response.json() == {"detail": f"bob's account expired on {bob.expires:%Y-%m-%d}."}
