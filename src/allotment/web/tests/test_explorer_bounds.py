"""The explorer page and its CSV answer any date range, in a bounded number of periods."""

import csv
import io

import pytest
from django.urls import reverse

from allotment.usage.tests.helpers import import_, write_csv

MARCH_1 = 4107542400  # 2100-03-01T00:00:00Z
DAY, HOUR = 86400, 3600
WHOLE_CALENDAR = "period=day&date_from=0001-01-01&date_to=9999-12-31"


@pytest.fixture
def usage(example, tmp_path):
    """bob (ProjectA) 2 core-hours on 2100-03-01; farid (ProjectD) 1 on 2100-04-10."""
    path = write_csv(
        tmp_path / "jobs.csv",
        [
            (1, "bob", "ProjectA", MARCH_1 + HOUR, MARCH_1 + 3 * HOUR, 1),
            (2, "farid", "ProjectD", MARCH_1 + 40 * DAY, MARCH_1 + 40 * DAY + HOUR, 1),
        ],
    )
    import_(path, fmt="csv")
    return example


def test_the_whole_calendar_by_day_is_the_span_of_the_usage_seen(as_user, usage):
    page = as_user("admin").get(reverse("web:explorer") + "?" + WHOLE_CALENDAR)
    assert page.status_code == 200
    result = page.context["result"]
    assert (len(result.periods), result.periods[0], result.periods[-1]) == (
        41,
        "2100-03-01",
        "2100-04-10",
    )
    bob = as_user("bob").get(reverse("web:explorer") + "?" + WHOLE_CALENDAR)
    assert bob.context["result"].periods == ["2100-03-01"]


def test_the_last_day_of_the_calendar_is_no_server_error(as_user, usage):
    query = "?period=month&date_from=9999-12-01&date_to=9999-12-31"
    page = as_user("bob").get(reverse("web:explorer") + query)
    assert page.status_code == 200
    assert page.context["result"].periods == ["9999-12"]
    export = as_user("bob").get(reverse("web:explorer-csv") + query)
    assert (export.status_code, export.content) == (200, b"period,project,used,unit\r\n")


def test_the_csv_of_the_whole_calendar_holds_the_usage_only(as_user, usage):
    export = as_user("admin").get(reverse("web:explorer-csv") + "?" + WHOLE_CALENDAR)
    assert export.status_code == 200
    assert list(csv.reader(io.StringIO(export.content.decode()))) == [
        ["period", "project", "used", "unit"],
        ["2100-03-01", "ProjectA", "2", "hours"],
        ["2100-04-10", "ProjectD", "1", "hours"],
    ]


def test_too_many_periods_are_a_400_on_the_csv_and_a_message_on_the_page(
    as_user, usage, monkeypatch
):
    from allotment.usage import periods

    monkeypatch.setitem(periods.MAX_PERIODS, "day", 40)
    message = (
        "from/to: at most 40 days per request (this range spans 41 days of usage); "
        "ask by month, or for a shorter range."
    )
    export = as_user("admin").get(reverse("web:explorer-csv") + "?" + WHOLE_CALENDAR)
    assert (export.status_code, export.content.decode()) == (400, message)
    page = as_user("admin").get(reverse("web:explorer") + "?" + WHOLE_CALENDAR)
    assert (page.status_code, page.context["error"]) == (200, message)
