"""One canonical form of an email address (people.addresses), and lookups by it.

PostgreSQL's case-insensitive match (UPPER(a) = UPPER(b)) folds the dotless i (U+0131) to I:
"dean@un\u0131versity.example.org", a different domain, matched the real dean's
address. These tests pin the canonical form; on PostgreSQL the lookups below are the
regression tests for that hole (SQLite folds ASCII only)."""

import pytest
from django.core.exceptions import ValidationError

from allotment.applications import services
from allotment.people import addresses
from allotment.people import email as email_change
from allotment.people.models import Person

DEAN = "dean@university.example.org"
LOOKALIKE = "dean@un\u0131versity.example.org"  # dotless i: another domain


@pytest.mark.parametrize(
    "given,canonical",
    [
        (" Dean@University.Example.ORG ", "Dean@university.example.org"),
        (LOOKALIKE, "dean@xn--unversity-wpb.example.org"),
        ("a@B\u00fccher.example", "a@xn--bcher-kva.example"),
        # UTS #46 maps these to ASCII: the same DNS name, so the mail reaches the same box.
        ("dean@univer\u017fity.example.org", DEAN),
        ("dean@\u212aelvin.example", "dean@kelvin.example"),
        ("", ""),
    ],
)
def test_the_canonical_form(given, canonical):
    assert addresses.canonical(given) == canonical


@pytest.mark.parametrize("given", ["d\u0131an@university.example.org", "\u212a@x.example"])
def test_a_mailbox_name_outside_ascii_is_refused_naming_the_field(given):
    with pytest.raises(ValidationError) as refused:
        addresses.canonical(given, field="new_email")
    assert "outside ASCII" in refused.value.message_dict["new_email"][0]
    assert addresses.key(given) is None  # and as a key it matches nothing


def test_a_domain_idna_cannot_encode_is_refused():
    with pytest.raises(ValidationError, match="not a valid internationalised name"):
        addresses.canonical("a@-bad.\u00fc")


def test_same_compares_ascii_case_only():
    assert addresses.same(DEAN, "DEAN@University.example.org")
    assert not addresses.same(DEAN, LOOKALIKE)
    assert not addresses.same("", "")


def test_set_email_stores_the_canonical_form(example):
    bob = Person.objects.get(username="bob")
    bob.set_email(" Bob@B\u00fccher.Example ", verified=True)
    bob.save()
    assert Person.objects.get(username="bob").email == "Bob@xn--bcher-kva.example"


def test_matching_ignores_rows_that_fold_to_the_address(example):
    """Legacy rows written before the canonical form (plain writes bypass it) neither match
    by Unicode folding nor are missed when they spell the same address differently."""
    Person.objects.filter(username="bob").update(email=LOOKALIKE, email_verified=True)
    Person.objects.filter(username="chen").update(email="DEAN@University.Example.org")
    Person.objects.filter(username="dana").update(email="dean@univer\u017fity.example.org")
    found = addresses.matching(Person.objects.all(), DEAN)
    assert sorted(found.values_list("username", flat=True)) == ["chen", "dana"]
    assert list(addresses.matching(Person.objects.all(), "d\u0131an@x.org")) == []


def test_an_email_change_stores_the_canonical_form(example):
    change, _ = email_change.request_change(Person.objects.get(username="bob"), LOOKALIKE)
    assert change.email == "dean@xn--unversity-wpb.example.org"
    with pytest.raises(ValidationError) as refused:
        email_change.request_change(Person.objects.get(username="bob"), "d\u0131an@x.org")
    assert "email" in refused.value.message_dict


def test_a_verified_lookalike_lists_none_of_the_real_addresses_invitations(example):
    invitation, _ = services.invite(
        example.projects["ProjectD"], DEAN, Person.objects.get(username="eve")
    )
    bob = Person.objects.get(username="bob")
    _, token = email_change.request_change(bob, LOOKALIKE)
    bob = email_change.confirm(token, bob)
    assert bob.email_verified
    assert services.of_person(bob)["invitations"] == []
    # The real address still finds it, in any ASCII case.
    chen = Person.objects.get(username="chen")
    chen.set_email("Dean@UNIVERSITY.example.org", verified=True)
    chen.save()
    assert services.of_person(chen)["invitations"] == [invitation]
