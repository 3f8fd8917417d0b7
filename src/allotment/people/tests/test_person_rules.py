"""People: the institute is a root project; locked people cannot sign in."""

import pytest
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError

from allotment.core.validation import save_validated


def test_a_persons_institute_must_be_a_root_project(example):
    bob = example.people["bob"]
    bob.institute = example.projects["ProjectA"]
    with pytest.raises(ValidationError) as e:
        save_validated(bob)
    assert e.value.message_dict["institute"] == [
        'Bob Brennan (bob) cannot belong to "ProjectA": it is a project, not an institute '
        "(institutes are the roots of the project tree)."
    ]


def test_a_locked_person_cannot_sign_in(example):
    bob = example.people["bob"]
    bob.set_password("s3cret-pass")
    bob.save()
    assert authenticate(username="bob", password="s3cret-pass") == bob
    bob.is_locked = True
    bob.save()
    assert authenticate(username="bob", password="s3cret-pass") is None
