"""Career levels and project levels are one declaration (core.models.RankedLevel), two tables."""

import pytest

from allotment.core.models import RankedLevel
from allotment.people.models import CareerLevel
from allotment.projects.models import ProjectLevel

pytestmark = pytest.mark.django_db


def fields(model) -> list[tuple[str, str]]:
    return [(f.name, f.get_internal_type()) for f in model._meta.concrete_fields]


@pytest.mark.parametrize("model", [CareerLevel, ProjectLevel])
def test_each_level_is_a_ranked_level_listed_by_rank_then_name(model):
    assert issubclass(model, RankedLevel)
    assert fields(model) == [
        ("id", "BigAutoField"),
        ("name", "CharField"),
        ("rank", "PositiveSmallIntegerField"),
        ("description", "TextField"),
    ]
    model.objects.create(name="zz first", rank=0)
    model.objects.create(name="aa last", rank=9999)
    names = list(model.objects.values_list("name", flat=True))
    assert names[-1] == "aa last"
    assert names.index("zz first") < names.index("aa last")
    assert str(model.objects.get(name="aa last")) == "aa last"


def test_the_two_ladders_are_separate_tables():
    assert CareerLevel._meta.db_table != ProjectLevel._meta.db_table
