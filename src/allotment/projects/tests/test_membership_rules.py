"""Memberships: once per person and project, one default project, one primary contact."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from allotment.projects.models import ProjectMembership
from allotment.projects.services import add_member


def test_a_person_is_a_member_of_a_project_once(example):
    with pytest.raises(ValidationError) as e:
        add_member(example.projects["ProjectA"], example.people["bob"])
    assert e.value.messages == ['Bob Brennan (bob) is already a member of project "ProjectA".']


def test_a_person_has_at_most_one_default_project(example):
    with pytest.raises(ValidationError) as e:
        add_member(example.projects["ProjectC"], example.people["bob"], default=True)
    assert e.value.messages == [
        'Bob Brennan (bob) already has a default project ("ProjectA"); a person has at most '
        "one default project."
    ]


def test_a_project_has_at_most_one_primary_contact(example):
    with pytest.raises(ValidationError) as e:
        add_member(example.projects["ProjectA"], example.people["dana"], primary_contact=True)
    assert e.value.messages == [
        'Project "ProjectA" already has a primary contact (Alice Anand (alice)); a project has '
        "at most one primary contact."
    ]


def test_the_database_enforces_one_default_project(example):
    with pytest.raises(IntegrityError), transaction.atomic():
        ProjectMembership.objects.create(
            person=example.people["bob"],
            project=example.projects["ProjectC"],
            is_default_project=True,
        )


def test_the_example_site_has_leaders_and_members_not_only_leaders(example):
    memberships = ProjectMembership.objects.filter(project__pid="ProjectA")
    assert sorted(
        memberships.filter(is_leader=True).values_list("person__username", flat=True)
    ) == ["alice"]
    assert memberships.filter(is_leader=False).count() == 2
