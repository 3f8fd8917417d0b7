"""/api/usage/report/: the CLI's report, counting only what the caller may see."""

from datetime import UTC, datetime

import pytest

from allotment.usage.tests.helpers import import_, write_csv


def epoch(day: int, hour: int) -> int:
    return int(datetime(2100, 3, day, hour, tzinfo=UTC).timestamp())


@pytest.fixture
def usage(example, tmp_path):
    """Two hours on 4 cores for bob in ProjectA, one hour on 2 cores for farid in ProjectD."""
    path = write_csv(
        tmp_path / "jobs.csv",
        [
            (1, "bob", "ProjectA", epoch(1, 10), epoch(1, 12), 4),
            (2, "farid", "ProjectD", epoch(2, 10), epoch(2, 11), 2),
        ],
    )
    import_(path, fmt="csv")


def rows(client, query: str = "") -> list[dict]:
    response = client.get(f"/api/usage/report/{query}")
    assert response.status_code == 200, response.json()
    return response.json()


def test_an_administrator_sees_all_usage_grouped_as_asked(admin, usage):
    assert rows(admin, "?by=month&group_by=project") == [
        {"period": "2100-03", "project": "ProjectA", "jobs": 1, "raw": 8, "used": 8},
        {"period": "2100-03", "project": "ProjectD", "jobs": 1, "raw": 2, "used": 2},
    ]
    assert rows(admin, "?by=day&from=2100-03-02&to=2100-03-02") == [
        {"period": "2100-03-02", "jobs": 1, "raw": 2, "used": 2}
    ]


def test_a_member_sees_only_the_usage_of_their_projects(client_for, usage):
    bob = client_for("bob")
    assert rows(bob, "?group_by=project") == [
        {"period": "2100-03", "project": "ProjectA", "jobs": 1, "raw": 8, "used": 8}
    ]
    assert [r["project"] for r in rows(client_for("eve"), "?group_by=project")] == ["ProjectD"]


def test_a_project_the_caller_cannot_see_is_unknown_to_the_report(client_for, usage):
    response = client_for("bob").get("/api/usage/report/?project=ProjectD")
    assert response.status_code == 400
    assert response.json() == {"errors": {"project": ['There is no project "ProjectD".']}}


def test_the_subtree_of_a_project_includes_its_sub_projects(client_for, usage):
    eve = client_for("eve")
    assert rows(eve, "?project=ProjectC") == []
    assert rows(eve, "?project=ProjectC&subtree=true") == [
        {"period": "2100-03", "jobs": 1, "raw": 2, "used": 2}
    ]


@pytest.mark.parametrize(
    "query, parameter",
    [
        ("?by=week", "by"),
        ("?group_by=colour", "group_by"),
        ("?from=2100-02-30", "from"),
        ("?to=tomorrow", "to"),
        ("?from=2100-03-02&to=2100-03-01", "to"),
        ("?machine=nowhere", "machine"),
        ("?pool=Gold", "pool"),
        ("?subtree=maybe", "subtree"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(admin, example, query, parameter):
    response = admin.get(f"/api/usage/report/{query}")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [parameter]


def test_the_ends_of_the_calendar_are_a_range_like_any_other(admin, usage):
    assert rows(admin, "?by=day&from=0001-01-01&to=9999-12-31") == [
        {"period": "2100-03-01", "jobs": 1, "raw": 8, "used": 8},
        {"period": "2100-03-02", "jobs": 1, "raw": 2, "used": 2},
    ]
    assert rows(admin, "?by=quarter&from=9999-12-31&to=9999-12-31") == []


def test_more_periods_than_the_limit_are_a_400_naming_it(admin, usage, monkeypatch):
    from allotment.usage import periods

    monkeypatch.setitem(periods.MAX_PERIODS, "day", 1)
    response = admin.get("/api/usage/report/?by=day&from=0001-01-01&to=9999-12-31")
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "from": [
            "from/to: at most 1 day per request (this range has usage on 2 days); "
            "ask by month, or for a shorter range."
        ]
    }
