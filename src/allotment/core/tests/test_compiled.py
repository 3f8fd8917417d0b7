"""A compiled query gives what its queryset gives, with other parameters, in one query."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from allotment.api import tokens
from allotment.api.models import ApiToken
from allotment.core.compiled import CompiledQuery
from allotment.projects.models import ProjectMembership

TOKENS = CompiledQuery(
    lambda prefix: ApiToken.objects.select_related("person").filter(prefix=prefix).order_by(),
    prefix="(marker)",
)
MEMBERSHIPS = CompiledQuery(
    lambda person: (
        ProjectMembership.objects.filter(person_id=person)
        .order_by("project_id")
        .values_list("project_id", "is_leader", "date_joined")
    ),
    person=-1,
)


def test_objects_match_the_querysets_objects_with_related_objects_and_types(example):
    issued = tokens.issue(example.people["alice"], name="laptop", expires_days=3)
    tokens.revoke(issued.record.prefix)
    ApiToken.objects.filter(pk=issued.record.pk).update(last_used=timezone.now())
    expected = ApiToken.objects.select_related("person").get(pk=issued.record.pk)

    with CaptureQueriesContext(connection) as captured:
        (found,) = TOKENS.objects(prefix=issued.record.prefix)
        person = found.person  # loaded with the token: no second query
    assert len(captured) == 1
    fields = [f.attname for f in ApiToken._meta.concrete_fields]
    assert [getattr(found, f) for f in fields] == [getattr(expected, f) for f in fields]
    assert found.revoked is True and found.expires - found.created > timedelta(days=2)
    assert person == example.people["alice"] and person.username == "alice"
    assert not found._state.adding and found._state.db == "default"


def test_rows_convert_values_and_follow_each_calls_parameters(example):
    for name in ("alice", "eve"):
        person = example.people[name]
        expected = list(
            ProjectMembership.objects.filter(person=person)
            .order_by("project_id")
            .values_list("project_id", "is_leader", "date_joined")
        )
        assert expected and MEMBERSHIPS.rows(person=person.pk) == expected
    assert MEMBERSHIPS.rows(person=10**9) == []


def test_a_marker_must_name_exactly_one_parameter(db):
    twice = CompiledQuery(
        lambda v: ProjectMembership.objects.filter(person_id=v, project_id=v), v=-5
    )
    with pytest.raises(ValueError, match="'v' appears 2 times"):
        twice.rows(v=1)
    with pytest.raises(TypeError, match="exactly these parameters: person"):
        MEMBERSHIPS.rows(someone=1)
