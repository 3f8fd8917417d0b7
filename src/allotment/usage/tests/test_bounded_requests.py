"""The explorer and the report answer any date range with a bounded number of periods.

A range longer than a period's limit (3,660 days, 1,200 months, 400 quarters, 100 years)
is cut to the span of the usage the viewer sees in it; if that is still longer the request
is refused, naming the limit. The ends of the calendar never raise.

The usage: bob (ProjectA) 2 hours on 1 core on 2100-03-01; farid (ProjectD) 1 hour on
1 core on 2100-04-10 (41 days later, inclusive).
"""

from datetime import date

import pytest
from django.core.exceptions import ValidationError

from allotment.usage import periods, reports
from allotment.usage.explorer import Filters, explore

from .helpers import import_, write_csv

MARCH_1 = 4107542400  # 2100-03-01T00:00:00Z
DAY, HOUR = 86400, 3600
FIRST, LAST = date(1, 1, 1), date(9999, 12, 31)


@pytest.fixture
def usage(example, tmp_path):
    path = write_csv(
        tmp_path / "jobs.csv",
        [
            (1, "bob", "ProjectA", MARCH_1 + HOUR, MARCH_1 + 3 * HOUR, 1),
            (2, "farid", "ProjectD", MARCH_1 + 40 * DAY, MARCH_1 + 40 * DAY + HOUR, 1),
        ],
    )
    import_(path, fmt="csv")
    return example


@pytest.fixture
def admin(db, django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.org", "pw")


def test_the_whole_calendar_by_day_is_cut_to_the_usage_seen(usage, admin):
    result = explore(admin, "used", "project", "day", Filters(date_from=FIRST, date_to=LAST))
    assert len(result.periods) == 41
    assert (result.periods[0], result.periods[-1]) == ("2100-03-01", "2100-04-10")
    assert {s.label: s.total for s in result.groups} == {"ProjectA": 2, "ProjectD": 1}


def test_a_member_gets_the_span_of_their_own_usage(usage):
    bob = usage.people["bob"]
    ending = date(9999, 12, 30)
    result = explore(bob, "used", "project", "day", Filters(date_from=FIRST, date_to=ending))
    assert result.periods == ["2100-03-01"]
    assert [(s.label, s.values) for s in result.groups] == [("ProjectA", [2])]


@pytest.mark.parametrize(
    "period, expected",
    [("day", ["9999-12-30", "9999-12-31"]), ("month", ["9999-12"]), ("quarter", ["9999-Q4"]),
     ("year", ["9999"])],
)  # fmt: skip
def test_the_last_days_of_the_calendar_never_overflow(usage, admin, period, expected):
    filters = Filters(date_from=date(9999, 12, 30), date_to=LAST)
    result = explore(admin, "used", "project", period, filters)
    assert (result.periods, result.groups) == (expected, [])


def test_a_range_within_the_limit_keeps_its_empty_periods(usage, admin):
    filters = Filters(date_from=date(2100, 1, 1), date_to=date(2100, 12, 31))
    result = explore(admin, "jobs", "project", "month", filters)
    assert len(result.periods) == 12
    assert {s.label: s.values[2:4] for s in result.groups} == {
        "ProjectA": [1, None],
        "ProjectD": [None, 1],
    }


@pytest.fixture
def eleven_years(usage, tmp_path):
    """One more job, for bob in ProjectA, 11 years after the first (2111-03-01)."""
    later = MARCH_1 + (date(2111, 3, 1) - date(2100, 3, 1)).days * DAY
    import_(write_csv(tmp_path / "later.csv", [(3, "bob", "ProjectA", later, later + HOUR, 1)]),
            fmt="csv")  # fmt: skip
    return usage


def test_usage_longer_than_the_limit_is_refused_naming_it(eleven_years, admin):
    with pytest.raises(ValidationError) as error:
        explore(admin, "used", "project", "day", Filters(date_from=FIRST, date_to=LAST))
    assert error.value.messages == [
        "from/to: at most 3,660 days per request (this range spans 4,018 days of usage); "
        "ask by month, or for a shorter range."
    ]
    by_month = explore(admin, "used", "project", "month")
    assert (len(by_month.periods), by_month.periods[0], by_month.periods[-1]) == (
        133,
        "2100-03",
        "2111-03",
    )


def test_too_many_cells_are_refused_naming_the_limit(usage, admin, monkeypatch):
    monkeypatch.setattr(periods, "MAX_CELLS", 81)
    filters = Filters(date_from=date(2100, 3, 1), date_to=date(2100, 4, 10))
    assert len(explore(admin, "used", "machine", "day", filters).periods) == 41  # 41 cells
    with pytest.raises(ValidationError) as error:
        explore(admin, "used", "project", "day", filters)
    assert error.value.messages == [
        "group_by: at most 81 cells (groups × periods) per request, not 82 (2 groups × 41 "
        "periods); group by something coarser, ask by a longer period, or filter."
    ]


def test_the_report_takes_the_ends_of_the_calendar(usage):
    rows = reports.report(date_from=FIRST, date_to=LAST, by="day", group_by="project")
    assert rows == [
        {"period": "2100-03-01", "project": "ProjectA", "jobs": 1, "raw": 2, "used": 2},
        {"period": "2100-04-10", "project": "ProjectD", "jobs": 1, "raw": 1, "used": 1},
    ]
    assert reports.report(date_from=date(9999, 12, 1), date_to=LAST, by="year") == []


def test_the_report_refuses_more_periods_or_rows_than_its_limits(usage, monkeypatch):
    monkeypatch.setitem(periods.MAX_PERIODS, "day", 1)
    with pytest.raises(ValidationError) as error:
        reports.report(by="day")
    assert error.value.messages == [
        "from/to: at most 1 day per request (this range has usage on 2 days); "
        "ask by month, or for a shorter range."
    ]
    monkeypatch.setattr(periods, "MAX_CELLS", 1)
    with pytest.raises(ValidationError) as error:
        reports.report(by="month", group_by="project")
    assert error.value.messages == [
        "group_by: at most 1 row per request, not 2; group by something coarser, "
        "ask by a longer period, or filter."
    ]
