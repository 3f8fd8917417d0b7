"""Which fields of a person whom may write (issue 10, item 1): the one rule that the API's
PATCH /api/people/ (and any page editing people) asks."""

import pytest

from allotment.access import policy
from allotment.people.models import Person

NAME = {"title", "first_name", "last_name"}
STATE = {"is_active", "is_locked", "expires", "date_approved"}


def fields(actor: str, other: str):
    found = policy.person_fields(Person.objects.get(username=actor),
                                 Person.objects.get(username=other))  # fmt: skip
    return found if found is None else set(found)


@pytest.fixture
def root(example) -> Person:
    return Person.objects.create_superuser(
        "root", "root@example.org", institute=example.projects["InstituteA"]
    )


def test_a_site_administrator_writes_every_field(root):
    assert fields("root", "bob") is None
    assert fields("root", "root") is None


def test_a_leader_writes_nothing_of_a_site_administrator_of_their_institute(root):
    assert fields("alice", "root") == set()
    assert not policy.can_edit_person(Person.objects.get(username="alice"), root)


def test_a_leader_writes_name_career_and_state_of_their_institutes_plain_members(example):
    assert fields("eve", "farid") == NAME | {"career_level"} | STATE
    assert fields("alice", "bob") == NAME | {"career_level"} | STATE


def test_a_leader_writes_no_account_state_of_a_co_leader_nor_their_own(example):
    assert fields("eve", "grace") == NAME | {"career_level"}  # grace leads ProjectD
    assert fields("eve", "eve") == NAME | {"career_level"}


def test_everyone_else_writes_their_own_name_only(example):
    assert fields("bob", "bob") == NAME
    assert fields("grace", "grace") == NAME  # leads ProjectD, but no institute
    assert fields("bob", "alice") == set()
    assert fields("grace", "farid") == set()


def test_a_refusal_names_the_fields_and_why(root, example):
    alice, bob = Person.objects.get(username="alice"), Person.objects.get(username="bob")
    assert policy.person_fields_refusal(alice, bob, {"first_name", "is_locked"}) is None
    assert policy.person_fields_refusal(alice, root, {"is_locked"}) == (
        "You may not change the field is_locked: root is a site administrator, whom only site "
        "administrators may change."
    )
    assert policy.person_fields_refusal(bob, alice, {"first_name"}) == (
        "You may not change the field first_name: only site administrators and leaders of "
        "alice's institute may change alice."
    )
