"""A storage snapshot's value holds until the next snapshot of the same project and person.

Disk usage is measured now and then (weekly, say); between two measurements the disk held
what the first one read. So in the fact table every day from a snapshot until the day
before the next one reads the snapshot's value, never 0, and at most 31 days after it
(a key no longer measured fades out) and never past the resource's newest snapshot
(nothing is known beyond it). Reports, the explorer, charts and pool peaks all read it.

Disk Space is a max pool in KB (1024 bytes); ProjectA is allocated 600 KB of it in 2100;
ProjectD has no pool of its own.
"""

from datetime import date

import pytest

from allotment.usage.explorer import Filters, explore

from .helpers import cli_json, daily, day, import_, pools_of

MARCH_1 = 4107542400  # 2100-03-01T00:00:00Z
DAY, KB = 86400, 1024


def snapshots(tmp_path, name: str, *rows) -> dict:
    """rows: (day of March 2100 (1-based, may pass the month's end), project, KB)."""
    path = tmp_path / name
    lines = ["timestamp,filesystem,project,person,bytes"]
    for n, project, kb in rows:
        lines.append(f"{MARCH_1 + (n - 1) * DAY + 3600},brecca-project,{project},,{kb * KB}")
    path.write_text("\n".join(lines) + "\n")
    return import_(path, fmt="storage-csv", machine=None)


def disk(project: str) -> list[tuple]:
    """(day, snapshots, KB) of a project's storage rows, day by day."""
    return [
        (when, n, raw // KB)
        for when, n, raw in daily(
            "day", "jobs", "raw", kind="storage", submitted_project__pid=project
        )
    ]


def test_days_between_snapshots_read_the_earlier_one(example, tmp_path, capsys):
    snapshots(tmp_path, "disk.csv", (1, "ProjectA", 100), (8, "ProjectA", 300))
    assert disk("ProjectA") == [
        (day(3, 1), 1, 100),
        *[(day(3, n), 0, 100) for n in range(2, 8)],
        (day(3, 8), 1, 300),
    ]
    assert cli_json(capsys, "usage", "report", "--pool", "Disk Space", "--by", "month") == [
        {"period": "2100-03", "jobs": 2, "raw": 300, "used": 300}
    ]
    assert pools_of(capsys, "ProjectA")["Disk Space"]["used"] == 300


def test_the_peak_adds_what_each_project_holds_that_day(
    example, tmp_path, capsys, django_user_model
):
    """ProjectA 100 KB on the 1st and 300 on the 8th; ProjectD 200 on the 3rd. Every day's
    total: 100, 100, 300 (100 + 200) ... 300, then 500 (300 + 200) on the 8th."""
    snapshots(
        tmp_path, "disk.csv", (1, "ProjectA", 100), (3, "ProjectD", 200), (8, "ProjectA", 300)
    )
    admin = django_user_model.objects.create_superuser("root", "root@example.org", "x")
    filters = Filters(date_from=date(2100, 3, 1), date_to=date(2100, 3, 9))
    by_day = explore(admin, "used", "resource_pool", "day", filters)
    assert [(s.label, s.values) for s in by_day.groups] == [
        ("Disk Space", [100, 100, 300, 300, 300, 300, 300, 500, None])
    ]
    by_month = explore(admin, "used", "resource_pool", "month", filters)
    assert [(s.label, s.values, s.total) for s in by_month.groups] == [("Disk Space", [500], 500)]
    assert cli_json(capsys, "usage", "report", "--pool", "Disk Space", "--by", "day",
                    "--from", "2100-03-07", "--to", "2100-03-08") == [
        {"period": "2100-03-07", "jobs": 0, "raw": 300, "used": 300},
        {"period": "2100-03-08", "jobs": 1, "raw": 500, "used": 500},
    ]  # fmt: skip


def test_a_value_holds_at_most_31_days_and_never_past_the_newest_snapshot(example, tmp_path):
    snapshots(tmp_path, "disk.csv", (1, "ProjectA", 100), (40, "ProjectD", 50))
    assert disk("ProjectA") == [(day(3, 1), 1, 100)] + [
        (date.fromordinal(day(3, 1).toordinal() + n), 0, 100) for n in range(1, 32)
    ]
    assert disk("ProjectA")[-1][0] == date(2100, 4, 1)
    assert disk("ProjectD") == [(date(2100, 4, 9), 1, 50)]


def test_a_later_import_extends_what_earlier_snapshots_hold(example, tmp_path):
    snapshots(tmp_path, "first.csv", (1, "ProjectA", 100))
    assert disk("ProjectA") == [(day(3, 1), 1, 100)]  # nothing is known past the 1st yet
    snapshots(tmp_path, "much-later.csv", (100, "ProjectD", 50))
    assert len(disk("ProjectA")) == 32
    assert disk("ProjectA")[-1] == (date(2100, 4, 1), 0, 100)
    snapshots(tmp_path, "between.csv", (5, "ProjectA", 70))
    assert disk("ProjectA")[3:6] == [(day(3, 4), 0, 100), (day(3, 5), 1, 70), (day(3, 6), 0, 70)]
    assert disk("ProjectA")[-1] == (date(2100, 4, 5), 0, 70)


def test_a_correction_changes_the_days_it_held(example, tmp_path):
    snapshots(tmp_path, "disk.csv", (1, "ProjectA", 100), (4, "ProjectA", 300))
    snapshots(tmp_path, "disk.csv", (1, "ProjectA", 150), (4, "ProjectA", 300))
    assert disk("ProjectA") == [
        (day(3, 1), 1, 150),
        (day(3, 2), 0, 150),
        (day(3, 3), 0, 150),
        (day(3, 4), 1, 300),
    ]


@pytest.mark.parametrize("when", ["2100-03-02", "2100-03-05"])
def test_rebuilding_days_keeps_the_carried_values(example, tmp_path, capsys, when):
    from allotment.usage.rebuild import rebuild_days

    snapshots(tmp_path, "disk.csv", (1, "ProjectA", 100), (8, "ProjectA", 300))
    before = disk("ProjectA")
    rebuild_days(date.fromisoformat(when), date.fromisoformat(when))
    assert disk("ProjectA") == before
