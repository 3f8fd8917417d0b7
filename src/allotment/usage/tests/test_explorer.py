"""The usage explorer totals exactly what was imported, per group and period, as the viewer
may see it.

The jobs below (imported the normal way, so the daily and monthly facts are the
pipeline's) give, in CPU hours (tango's hours count 1.5x):

| job | person | project  | machine | day      | cores x hours | raw | used | wait |
| --- | ------ | -------- | ------- | -------- | ------------- | --- | ---- | ---- |
| 1   | alice  | ProjectA | brecca  | 2100-03-01 | 2 x 2       | 4   | 4    | 1 h  |
| 2   | bob    | ProjectA | tango   | 2100-03-02 | 4 x 1       | 4   | 6    |      |
| 3   | bob    | ProjectB | brecca  | 2100-04-10 | 1 x 3       | 3   | 3    |      |
| 4   | farid  | ProjectD | brecca  | 2100-03-05 | 2 x 1       | 2   | 2    |      |
| 5   | eve    | ProjectC | brecca  | 2100-03-06 | 1 x 2       | 2   | 2    | 2 h  |

and Disk Space (a max pool, KB): ProjectA 300 on 03-01 and 500 on 03-02; ProjectB 100 on
03-01; ProjectD 100 on 03-01 and 250 on 03-03. A snapshot holds until the next one (here
until 03-03, the newest), so the daily totals are 03-01: 300 + 100 + 100 = 500; 03-02:
500 + 100 + 100 = 700; 03-03: 500 + 100 + 250 = 850.
"""

import csv
import io
from datetime import date

import pytest
from django.core.exceptions import ValidationError

from allotment.usage.explorer import Filters, explore

from .helpers import import_

MARCH_1 = 4107542400  # 2100-03-01T00:00:00Z
DAY, HOUR, KB = 86400, 3600, 1024


@pytest.fixture
def usage(example, tmp_path):
    jobs = {
        "brecca": [
            (1, "alice", "ProjectA", MARCH_1 - HOUR, MARCH_1, MARCH_1 + 2 * HOUR, 2),
            (3, "bob", "ProjectB", MARCH_1 + 40 * DAY, MARCH_1 + 40 * DAY, 0, 1),
            (4, "farid", "ProjectD", MARCH_1 + 4 * DAY, MARCH_1 + 4 * DAY, 0, 2),
            (5, "eve", "ProjectC", MARCH_1 + 5 * DAY - 2 * HOUR, MARCH_1 + 5 * DAY, 0, 1),
        ],
        "tango": [(2, "bob", "ProjectA", MARCH_1 + DAY, MARCH_1 + DAY, 0, 4)],
    }
    hours = {1: 2, 2: 1, 3: 3, 4: 1, 5: 2}
    for machine, rows in jobs.items():
        path = tmp_path / f"{machine}.csv"
        lines = ["job_id,user,account,submit,start,end,cores"]
        for job, user, account, submit, start, _, cores in rows:
            end = start + hours[job] * HOUR
            lines.append(f"{job},{user},{account},{submit},{start},{end},{cores}")
        path.write_text("\n".join(lines) + "\n")
        assert import_(path, fmt="csv", machine=machine)["new"] == len(rows)
    disk = tmp_path / "disk.csv"
    disk.write_text(
        "timestamp,filesystem,project,person,bytes\n"
        f"{MARCH_1},brecca-project,ProjectA,,{300 * KB}\n"
        f"{MARCH_1 + DAY},brecca-project,ProjectA,,{500 * KB}\n"
        f"{MARCH_1},brecca-project,ProjectB,,{100 * KB}\n"
        f"{MARCH_1},brecca-project,ProjectD,,{100 * KB}\n"
        f"{MARCH_1 + 2 * DAY},brecca-project,ProjectD,,{250 * KB}\n"
    )
    assert import_(disk, fmt="storage-csv", machine=None)["new"] == 5
    return example


@pytest.fixture
def admin(db, django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.org", "pw")


def table(result) -> dict:
    """{group label: [value per period]}, every group."""
    return {s.label: s.values for s in result.groups}


def test_used_by_project_and_month_for_an_administrator(usage, admin):
    result = explore(admin, "used", "project", "month")
    assert result.periods == ["2100-03", "2100-04"]
    assert (result.unit, result.pool.name) == ("hours", "CPU Hours")
    assert table(result) == {
        "ProjectA": [10, None],
        "ProjectB": [None, 3],
        "ProjectC": [2, None],
        "ProjectD": [2, None],
    }
    assert [s.total for s in result.groups] == [10, 3, 2, 2]


def test_a_member_sees_only_their_projects_and_own_usage(usage):
    bob = usage.people["bob"]
    result = explore(bob, "used", "project", "month")
    assert table(result) == {"ProjectA": [10, None], "ProjectB": [None, 3]}
    farid = usage.people["farid"]
    assert table(explore(farid, "used", "person", "year")) == {"farid": [2]}


def test_raw_is_unscaled_and_quarters_merge_months(usage, admin):
    result = explore(admin, "raw", "person", "quarter")
    assert result.periods == ["2100-Q1", "2100-Q2"]
    assert table(result) == {
        "bob": [4, 3],
        "alice": [4, None],
        "eve": [2, None],
        "farid": [2, None],
    }


def test_jobs_cpu_hours_per_job_and_wait(usage, admin):
    assert table(explore(admin, "jobs", "machine", "year")) == {"brecca": [4], "tango": [1]}
    per_job = explore(admin, "cpu_hours_per_job", "machine", "year")
    assert table(per_job) == {"tango": [4], "brecca": [2.75]}
    assert per_job.unit == "hours"
    wait = explore(admin, "wait_hours", "project", "month")
    assert table(wait) == {
        "ProjectC": [2, None],
        "ProjectA": [1, None],
        "ProjectB": [None, 0],
        "ProjectD": [0, None],
    }


def test_a_date_range_inside_months_reads_the_days(usage, admin):
    filters = Filters(date_from=date(2100, 3, 2), date_to=date(2100, 4, 30))
    result = explore(admin, "used", "project", "month", filters)
    assert table(result) == {
        "ProjectA": [6, None],
        "ProjectB": [None, 3],
        "ProjectC": [2, None],
        "ProjectD": [2, None],
    }
    daily = explore(
        admin,
        "used",
        "machine",
        "day",
        Filters(date_from=date(2100, 3, 1), date_to=date(2100, 3, 3)),
    )
    assert daily.periods == ["2100-03-01", "2100-03-02", "2100-03-03"]
    assert table(daily) == {"tango": [None, 6, None], "brecca": [4, None, None]}


def test_filters_project_subtree_machine_and_institute(usage, admin):
    institute_c = usage.projects["InstituteC"]
    subtree = Filters(project=institute_c, subtree=True)
    assert table(explore(admin, "used", "project", "year", subtree)) == {
        "ProjectC": [2],
        "ProjectD": [2],
    }
    assert explore(admin, "used", "project", "year", Filters(project=institute_c)).groups == []
    tango = Filters(machine=usage.pools["CPU Hours"].resources.get(name="tango-cores").machine)
    assert table(explore(admin, "used", "person", "year", tango)) == {"bob": [6]}
    institute_a = Filters(institute=usage.projects["InstituteA"])
    assert table(explore(admin, "used", "institute", "year", institute_a)) == {"InstituteA": [13]}


def test_a_max_pool_takes_the_peak_of_daily_totals(usage, admin):
    disk = Filters(resource_pool=usage.pools["Disk Space"])
    result = explore(admin, "used", "project", "month", disk)
    assert result.unit == "KB"
    assert table(result) == {"ProjectA": [500], "ProjectD": [250], "ProjectB": [100]}
    # Other is the peak of the others' daily totals (03-01 and 03-02: 100 + 100; 03-03:
    # 100 + 250), computed from the rows, day by day:
    top = explore(admin, "used", "project", "month", disk, top=1)
    assert [(s.label, s.values, s.total) for s in top.chart] == [
        ("ProjectA", [500], 500),
        ("Other (2 more)", [350], 350),
    ]
    by_day = explore(admin, "used", "project", "day", disk, top=1)
    assert [(s.label, s.values) for s in by_day.chart] == [
        ("ProjectA", [300, 500, 500]),
        ("Other (2 more)", [200, 200, 350]),
    ]


def test_grouped_by_pool_each_pool_keeps_its_units_and_aggregation(usage, admin):
    result = explore(admin, "used", "resource_pool", "month")
    assert result.unit == "" and result.pool is None
    assert [(s.label, s.unit, s.values) for s in result.groups] == [
        ("Disk Space", "KB", [850, None]),
        ("CPU Hours", "hours", [14, 3]),
    ]


def test_top_groups_and_other_for_the_chart(usage, admin):
    result = explore(admin, "used", "project", "month", top=2)
    assert [(s.label, s.values) for s in result.chart] == [
        ("ProjectA", [10, None]),
        ("ProjectB", [None, 3]),
        ("Other (2 more)", [4, None]),
    ]
    data = result.chart_data()
    assert data["labels"] == ["2100-03", "2100-04"]
    assert data["series"][2] == {
        "label": "Other (2 more)",
        "unit": "hours",
        "data": [4, 0],
        "other": True,
    }


def test_csv_rows(usage, admin):
    out = io.StringIO()
    csv.writer(out).writerows(explore(admin, "used", "project", "month").csv_rows())
    assert out.getvalue().splitlines() == [
        "period,project,used,unit",
        "2100-03,ProjectA,10,hours",
        "2100-03,ProjectC,2,hours",
        "2100-03,ProjectD,2,hours",
        "2100-04,ProjectB,3,hours",
    ]


def test_refusals(usage, admin):
    with pytest.raises(ValidationError, match="batch jobs"):
        explore(
            admin,
            "cpu_hours_per_job",
            "project",
            "month",
            Filters(resource_pool=usage.pools["Disk Space"]),
        )
    with pytest.raises(ValidationError, match="metric"):
        explore(admin, "bogus", "project", "month")
    with pytest.raises(ValidationError, match="ends"):
        explore(
            admin,
            "used",
            "project",
            "month",
            Filters(date_from=date(2100, 2, 1), date_to=date(2100, 1, 1)),
        )
    assert explore(None, "used", "project", "month").groups == []
