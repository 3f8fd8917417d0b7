"""Sign-in through OpenID Connect matches people already in the ledger, and only them."""

import pytest

from allotment.people.models import Person
from allotment.web.oidc import LedgerOIDCBackend


@pytest.fixture
def backend(settings, example):
    settings.OIDC_RP_CLIENT_ID = "allotment"
    settings.OIDC_RP_CLIENT_SECRET = "secret"
    settings.OIDC_RP_SIGN_ALGO = "RS256"
    settings.OIDC_OP_TOKEN_ENDPOINT = "https://idp.example.org/token"
    settings.OIDC_OP_USER_ENDPOINT = "https://idp.example.org/userinfo"
    settings.OIDC_OP_JWKS_ENDPOINT = "https://idp.example.org/jwks"
    settings.OIDC_CREATE_USER = False
    return LedgerOIDCBackend()


def signed_in_as(backend, claims: dict):
    backend.get_userinfo = lambda access_token, id_token, payload: claims
    return backend.get_or_create_user("access", "id", {})


def test_the_institutions_username_finds_the_person(backend):
    bob = signed_in_as(backend, {"preferred_username": "bob", "email": "other@example.org"})
    assert bob == Person.objects.get(username="bob")


def test_without_a_known_username_the_email_finds_the_person(backend):
    chen = Person.objects.get(username="chen")
    found = signed_in_as(backend, {"preferred_username": "c.chow", "email": chen.email.upper()})
    assert found == chen


def test_an_unknown_identity_does_not_become_a_person(backend):
    before = Person.objects.count()
    assert signed_in_as(backend, {"preferred_username": "mallory", "email": "m@evil"}) is None
    assert Person.objects.count() == before


def test_a_locked_person_is_refused(backend):
    Person.objects.filter(username="bob").update(is_locked=True)
    assert signed_in_as(backend, {"preferred_username": "bob"}) is None


def test_the_provider_does_not_edit_the_ledger(backend):
    signed_in_as(backend, {"preferred_username": "bob", "given_name": "Robert"})
    assert Person.objects.get(username="bob").first_name == "Bob"
