"""A person past their `expires` date is treated as locked by the policy (issue 10,
item 17): they may not act, and are no one's manager or administrator."""

from datetime import timedelta

from django.utils import timezone

from allotment.access import policy
from allotment.people.models import Person


def expire(person: Person, days_ago: int = 1) -> Person:
    person.expires = timezone.localdate() - timedelta(days=days_ago)
    person.save()
    return Person.objects.get(pk=person.pk)  # no cached answers


def test_a_person_past_their_expiry_date_may_not_act(example):
    bob = expire(example.people["bob"])
    assert not policy.signed_in(bob)
    assert policy.visible_projects(bob).count() == 0
    assert policy.visible_people(bob).count() == 0


def test_the_expiry_date_is_the_last_day_a_person_may_act(example):
    bob = expire(example.people["bob"], days_ago=0)
    assert policy.signed_in(bob)
    assert policy.visible_projects(bob).count() == 2


def test_an_expired_administrator_is_no_administrator(example):
    root = Person.objects.create_superuser("root", "root@example.org")
    assert "root" in policy.site_admins().values_list("username", flat=True)
    root = expire(root)
    assert not policy.is_site_admin(root)
    assert "root" not in policy.site_admins().values_list("username", flat=True)


def test_an_expired_leader_manages_no_members(example):
    expire(example.people["alice"])
    managers = policy.member_managers(example.projects["ProjectA"])
    assert list(managers.values_list("username", flat=True)) == ["chen"]
