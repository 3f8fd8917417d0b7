"""The workflows refuse a person who may not act at all (locked, inactive, expired), even
if a session of theirs survived: defence in depth behind the sign-in backends (issue 10)."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from allotment.applications import services
from allotment.applications.models import JoinRequest, ProjectApplication
from allotment.people.models import Person
from allotment.projects.models import ProjectMembership

STATES = {
    "locked": {"is_locked": True},
    "inactive": {"is_active": False},
    "expired": {"expires": timezone.localdate() - timedelta(days=1)},
}


@pytest.fixture(params=sorted(STATES))
def barred(request, example):
    """farid, no longer allowed to act."""
    Person.objects.filter(username="farid").update(**STATES[request.param])
    return Person.objects.get(username="farid")


def test_a_barred_person_cannot_ask_to_join(barred, example):
    with pytest.raises(PermissionDenied, match="may not ask to join"):
        services.request_to_join(barred, example.projects["ProjectA"], "hi")
    assert not JoinRequest.objects.filter(person=barred).exists()


def test_a_barred_person_cannot_accept_an_invitation(barred, example):
    alice = Person.objects.get(username="alice")
    _, token = services.invite(example.projects["ProjectB"], barred.email, alice)
    with pytest.raises(PermissionDenied, match="may not accept invitations"):
        services.accept_invitation(token, barred)
    assert not ProjectMembership.objects.filter(person=barred, project__pid="ProjectB").exists()


def test_a_barred_person_cannot_apply_for_a_project(barred, example):
    with pytest.raises(PermissionDenied, match="may not apply for project"):
        services.apply_for_project(barred, example.projects["InstituteC"], "NewOne", "New")
    assert not ProjectApplication.objects.filter(applicant=barred).exists()
