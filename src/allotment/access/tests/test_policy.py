"""The permission model on the example site, role by role."""

import pytest
from django.contrib.auth.models import AnonymousUser

from allotment.access import policy
from allotment.people.models import Person
from allotment.projects.models import Project


def pids(ids):
    return sorted(Project.objects.filter(pk__in=ids).values_list("pid", flat=True))


def person(username):
    return Person.objects.get(username=username)


@pytest.mark.django_db
def test_site_admin_sees_everything(example):
    admin = Person.objects.create_superuser("root-admin", "r@example.org", "x")
    assert policy.visible_project_ids(admin) is None
    assert policy.visible_people(admin).count() == Person.objects.count()
    assert policy.can_edit_person(admin, person("bob"))


@pytest.mark.django_db
def test_institute_leader_acts_on_the_subtree(example):
    eve = person("eve")  # leads InstituteC and ProjectC, supervises ProjectD
    assert pids(policy.visible_project_ids(eve)) == ["InstituteC", "ProjectC", "ProjectD"]
    assert policy.can_lead(eve, example.projects["ProjectD"])
    assert not policy.can_view_project(eve, example.projects["ProjectA"])
    assert policy.can_edit_person(eve, person("farid"))
    assert not policy.can_edit_person(eve, person("bob"))


@pytest.mark.django_db
def test_member_sees_own_projects_and_their_members_only(example):
    bob = person("bob")  # member of ProjectA and ProjectB
    assert pids(policy.visible_project_ids(bob)) == ["ProjectA", "ProjectB"]
    assert policy.managed_project_ids(bob) == frozenset()
    seen = set(policy.visible_people(bob).values_list("username", flat=True))
    assert seen == {"alice", "bob", "chen"}
    assert not policy.can_view_person(bob, person("farid"))


@pytest.mark.django_db
def test_supervisor_manages_members_but_does_not_lead(example):
    chen = person("chen")  # supervisor of ProjectA
    project_a = example.projects["ProjectA"]
    assert policy.can_manage_members(chen, project_a)
    assert not policy.can_lead(chen, project_a)
    assert not policy.can_manage_members(chen, example.projects["ProjectB"])


@pytest.mark.django_db
def test_anonymous_and_locked_people_see_nothing(example):
    assert policy.visible_projects(AnonymousUser()).count() == 0
    assert policy.visible_people(AnonymousUser()).count() == 0
    bob = person("bob")
    bob.is_locked = True
    assert policy.visible_project_ids(bob) == frozenset()
