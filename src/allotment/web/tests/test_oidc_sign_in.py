"""Sign-in through OpenID Connect matches people already in the ledger, and only them."""

import logging
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.utils import timezone
from rest_framework.test import APIClient

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
    chen = verify_ledger_email("chen")
    claims = {"preferred_username": "c.chow", "email": chen.email.upper(), "email_verified": True}
    assert signed_in_as(backend, claims) == chen


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


# The email fallback: only a verified address, verified on both sides, held by one person.


def verify_ledger_email(username: str) -> Person:
    person = Person.objects.get(username=username)
    person.set_email(person.email, verified=True)
    person.save()
    return person


def test_the_email_finds_the_person_only_when_the_provider_verified_it(backend):
    chen = verify_ledger_email("chen")
    for claims in (
        {"preferred_username": "c.chow", "email": chen.email},
        {"preferred_username": "c.chow", "email": chen.email, "email_verified": False},
        {"preferred_username": "c.chow", "email": chen.email, "email_verified": "false"},
        {"preferred_username": "c.chow", "email": chen.email, "email_verified": "yes"},
    ):
        assert signed_in_as(backend, claims) is None, claims
    assert signed_in_as(backend, claims_of(chen, email_verified="true")) == chen


def test_the_email_finds_nobody_while_the_ledgers_copy_is_unverified(backend):
    chen = Person.objects.get(username="chen")
    chen.email = "chen@new.example.org"  # a plain write of the email is unverified
    chen.save()
    assert not Person.objects.get(username="chen").email_verified
    assert signed_in_as(backend, claims_of(chen)) is None


def test_an_email_two_people_share_signs_in_neither(backend, caplog):
    chen = verify_ledger_email("chen")
    bob = Person.objects.get(username="bob")
    bob.set_email(chen.email.upper(), verified=True)
    bob.save()
    with caplog.at_level(logging.WARNING, logger="allotment.web.oidc"):
        assert signed_in_as(backend, claims_of(chen)) is None
    assert (
        f"OIDC sign-in refused: the email {chen.email} (claimed by unknown-at-the-idp) "
        "belongs to 2 people (bob, chen); set their preferred_username as their ledger username."
    ) in caplog.messages


def test_a_site_may_turn_the_email_fallback_off(backend, settings):
    chen = verify_ledger_email("chen")
    settings.ALLOTMENT_OIDC_EMAIL_FALLBACK = False
    assert signed_in_as(backend, claims_of(chen)) is None
    # The username still finds the person.
    assert signed_in_as(backend, {"preferred_username": "chen"}) == chen


def test_a_person_past_their_expiry_date_is_refused(backend):
    bob = Person.objects.get(username="bob")
    bob.expires = timezone.localdate() - timedelta(days=1)
    bob.save()
    assert signed_in_as(backend, {"preferred_username": "bob"}) is None
    bob.expires = timezone.localdate()  # the last day they may act
    bob.save()
    assert signed_in_as(backend, {"preferred_username": "bob"}) == bob


def test_a_leader_cannot_take_over_a_site_administrator_through_the_email(backend):
    """Issue 10, item 1: a leader rewrote an administrator's email to an address they hold,
    then signed in through OIDC with an unknown preferred_username and that email."""
    root = Person.objects.create_superuser(
        "root",
        "root@site.example.org",
        "x",
        institute=Person.objects.get(username="alice").institute,
    )
    assert root.email_verified  # set by whoever ran the shell: a site administrator
    leader = APIClient()
    leader.force_authenticate(Person.objects.get(username="alice"))
    alice = Person.objects.get(username="alice")
    # An address only the leader holds, and the leader's own verified one.
    for address, signs_in in (("mallory@evil.example", None), (alice.email, alice)):
        leader.patch("/api/people/root/", {"email": address}, format="json")
        root.refresh_from_db()
        assert root.email == "root@site.example.org" or not root.email_verified
        claims = {
            "preferred_username": "alice-at-the-idp",
            "email": address,
            "email_verified": True,
        }
        assert signed_in_as(backend, claims) == signs_in
    # The administrator still signs in with their own verified address (when it is theirs).
    if root.email == "root@site.example.org":
        assert signed_in_as(backend, claims_of(root)) == root


def claims_of(person: Person, **extra) -> dict:
    return {"preferred_username": "unknown-at-the-idp", "email": person.email,
            "email_verified": True, **extra}  # fmt: skip


def test_a_refused_email_tells_the_person_without_naming_anyone(backend, rf):
    chen = verify_ledger_email("chen")
    bob = Person.objects.get(username="bob")
    bob.set_email(chen.email, verified=True)
    bob.save()
    request = rf.get("/oidc/callback/")
    request.session = {}
    request._messages = FallbackStorage(request)
    backend.request = request
    assert signed_in_as(backend, claims_of(chen)) is None
    assert [str(m) for m in get_messages(request)] == [
        "Your institution's sign-in did not match one person here by username or by a "
        "verified email. Sign in with your password and confirm your email under Your email, "
        "or ask the site's administrators."
    ]


# A session opened through the institution is checked on every request (get_user), as the
# password backend's is: mozilla_django_oidc's get_user returned the person whatever their
# state, so locking or the expiry date did not end it (issue 10).

OIDC = "allotment.web.oidc.LedgerOIDCBackend"


@pytest.mark.parametrize(
    "state",
    [{"is_locked": True}, {"is_active": False},
     {"expires": timezone.localdate() - timedelta(days=1)}],
)  # fmt: skip
def test_get_user_forgets_a_person_who_may_no_longer_act(backend, state):
    bob = Person.objects.get(username="bob")
    assert backend.get_user(bob.pk) == bob
    Person.objects.filter(pk=bob.pk).update(**state)
    assert backend.get_user(bob.pk) is None
    assert backend.get_user(10**9) is None


def test_locking_ends_a_session_opened_through_the_institution(backend, settings, client):
    settings.AUTHENTICATION_BACKENDS = ["allotment.people.auth.PersonBackend", OIDC]
    root = Person.objects.create_superuser("root", "root@site.example.org", "x")
    client.force_login(root, backend=OIDC)
    assert client.get("/admin/people/person/").status_code == 200
    assert client.get("/apply/").status_code == 200
    Person.objects.filter(pk=root.pk).update(is_locked=True)
    assert client.get("/admin/people/person/").status_code == 302
    answer = client.get("/apply/")
    assert answer.status_code == 302 and "/sign-in/" in answer["Location"]


# Addresses are compared in canonical form (people.addresses), not by the database's
# Unicode case folding: on PostgreSQL "un\u0131versity" (dotless i) matched "university".


def test_a_lookalike_address_is_not_a_second_holder(backend):
    dean = Person.objects.create_user(
        "dean", "dean@university.example.org", "x", email_verified=True
    )
    bob = Person.objects.get(username="bob")
    bob.set_email("dean@un\u0131versity.example.org", verified=True)
    bob.save()
    assert bob.email == "dean@xn--unversity-wpb.example.org"
    assert signed_in_as(backend, claims_of(dean)) == dean
    assert signed_in_as(backend, claims_of(bob)) == bob
    # The claim may spell the domain in Unicode or in punycode: the same address.
    assert signed_in_as(backend, claims_of(bob, email="DEAN@un\u0131versity.example.org")) == bob


def test_a_legacy_row_that_folds_to_the_address_does_not_count(backend):
    """A row written before the canonical form, by a plain update."""
    chen = verify_ledger_email("chen")
    lookalike = chen.email.replace("institute", "\u0131nstitute")
    Person.objects.filter(username="bob").update(email=lookalike, email_verified=True)
    assert signed_in_as(backend, claims_of(chen)) == chen


def test_a_claimed_email_without_a_canonical_form_matches_nobody(backend, caplog):
    Person.objects.filter(username="bob").update(email="b\u0131b@institutea.example.org")
    for email in ("b\u0131b@institutea.example.org", "bob@-bad.\u00fc"):
        with caplog.at_level(logging.WARNING, logger="allotment.web.oidc"):
            claims = {"preferred_username": "x", "email": email, "email_verified": True}
            assert signed_in_as(backend, claims) is None
        assert "is not an address the ledger can hold" in caplog.text
