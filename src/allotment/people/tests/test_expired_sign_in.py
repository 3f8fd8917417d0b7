"""A person past their expiry date is treated as locked by password sign-in (issue 10,
item 17): `expires` is the last day they may act."""

from datetime import timedelta

from django.contrib.auth import authenticate
from django.test import Client
from django.urls import reverse
from django.utils import timezone


def test_a_person_past_their_expiry_date_cannot_sign_in_with_a_password(example):
    bob = example.people["bob"]
    bob.set_password("s3cret-pass")
    bob.expires = timezone.localdate() - timedelta(days=1)
    bob.save()
    assert authenticate(username="bob", password="s3cret-pass") is None
    bob.expires = timezone.localdate()  # the last day they may act
    bob.save()
    assert authenticate(username="bob", password="s3cret-pass") == bob


def test_a_session_from_before_the_expiry_date_counts_for_nothing(example):
    bob = example.people["bob"]
    client = Client()
    client.force_login(bob)
    dashboard = reverse("web:dashboard")
    assert client.get(dashboard).status_code == 200
    bob.expires = timezone.localdate() - timedelta(days=1)
    bob.save()
    response = client.get(dashboard)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("web:login"))
