"""Storage snapshots fill max pools by their peak; usage reports group and total exactly.

ProjectA has 600 KB of Disk Space (a max pool, 1024 bytes per KB) in period 2100; the
storage resources are brecca-project and tango-project.
"""

import pytest

from allotment.usage.models import QuarantinedRecord, StorageSnapshot
from allotment.usage.parsing.common import ParseError

from .helpers import cli_json, daily, day, import_, pools_of, sacct_line, write_sacct

MARCH_1_2100 = 4107542400  # 2100-03-01T00:00:00Z
DAY = 86400
KB = 1024


def write_snapshots(path, rows):
    text = "timestamp,filesystem,project,person,bytes\n"
    text += "".join(",".join(str(v) for v in row) + "\n" for row in rows)
    path.write_text(text)
    return path


def import_storage(path, **options):
    return import_(path, fmt="storage-csv", machine=None, **options)


def test_a_max_pool_uses_the_peak_of_the_days(example, tmp_path, capsys):
    path = write_snapshots(
        tmp_path / "disk.csv",
        [
            (MARCH_1_2100 + 3600, "brecca-project", "ProjectA", "", 300 * KB),
            (MARCH_1_2100 + DAY + 3600, "brecca-project", "ProjectA", "", 500 * KB),
            (MARCH_1_2100 + 2 * DAY, "brecca-project", "ProjectA", "", 400 * KB),
        ],
    )
    summary = import_storage(path)
    assert (summary["read"], summary["new"], summary["quarantined"]) == (3, 3, 0)
    disk = pools_of(capsys, "ProjectA")["Disk Space"]
    assert (disk["allocated"], disk["used"], disk["remaining"]) == (600, 500, 100)
    assert daily("day", "kind", "raw", "charge", kind="storage") == [
        (day(3, 1), "storage", 300 * KB, "charged"),
        (day(3, 2), "storage", 500 * KB, "charged"),
        (day(3, 3), "storage", 400 * KB, "charged"),
    ]
    rows = cli_json(capsys, "usage", "report", "--pool", "Disk Space")
    assert rows == [{"period": "2100-03", "jobs": 3, "raw": 500, "used": 500}]
    assert pools_of(capsys, "ProjectA")["CPU Hours"]["used"] == 0


def test_within_a_day_a_max_pool_takes_the_largest_snapshot(example, tmp_path, capsys):
    path = write_snapshots(
        tmp_path / "disk.csv",
        [
            (MARCH_1_2100 + 3600, "brecca-project", "ProjectA", "", 550 * KB),
            (MARCH_1_2100 + 7200, "brecca-project", "ProjectA", "", 100 * KB),
        ],
    )
    import_storage(path)
    assert daily("day", "jobs", "raw", kind="storage") == [(day(3, 1), 2, 550 * KB)]
    assert pools_of(capsys, "ProjectA")["Disk Space"]["used"] == 550


def test_storage_reimport_changes_nothing_and_a_correction_follows(example, tmp_path, capsys):
    rows = [
        (MARCH_1_2100, "brecca-project", "ProjectA", "", 300 * KB),
        (MARCH_1_2100 + DAY, "brecca-project", "ProjectA", "", 500 * KB),
    ]
    path = write_snapshots(tmp_path / "disk.csv", rows)
    import_storage(path)
    again = import_storage(path)
    assert (again["new"], again["updated"], again["unchanged"]) == (0, 0, 2)
    rows[1] = (MARCH_1_2100 + DAY, "brecca-project", "ProjectA", "", 200 * KB)
    changed = import_storage(write_snapshots(tmp_path / "disk.csv", rows))
    assert (changed["new"], changed["updated"], changed["unchanged"]) == (0, 1, 1)
    assert StorageSnapshot.objects.count() == 2
    assert pools_of(capsys, "ProjectA")["Disk Space"]["used"] == 300


def test_unknown_filesystem_and_project_are_quarantined(example, tmp_path):
    path = write_snapshots(
        tmp_path / "disk.csv",
        [
            (MARCH_1_2100, "scratch", "ProjectA", "", 1),
            (MARCH_1_2100, "brecca-project", "ProjectZ", "", 2),
            (MARCH_1_2100, "brecca-project", "ProjectA", "nobody", 3),
        ],
    )
    summary = import_storage(path)
    assert (summary["new"], summary["quarantined"]) == (0, 3)
    assert sorted(QuarantinedRecord.objects.values_list("kind", "reason", "source")) == [
        ("storage", "unknown_person", f"{path}:4"),
        ("storage", "unknown_project", f"{path}:3"),
        ("storage", "unknown_resource", f"{path}:2"),
    ]
    assert not StorageSnapshot.objects.exists()


def test_bad_bytes_stop_the_storage_import_and_write_nothing(example, tmp_path):
    path = write_snapshots(
        tmp_path / "disk.csv",
        [
            (MARCH_1_2100, "brecca-project", "ProjectA", "", 300 * KB),
            (MARCH_1_2100 + DAY, "brecca-project", "ProjectA", "", "500KB"),
        ],
    )
    with pytest.raises(ParseError) as e:
        import_storage(path)
    assert f"{path}:3: field bytes" in str(e.value)
    assert not StorageSnapshot.objects.exists()


# --- reports -----------------------------------------------------------------------------


@pytest.fixture
def four_jobs(example, tmp_path):
    """alice 2, bob 2 and eve 3 core-hours on brecca; chen 2 core-hours on tango (3 used)."""
    import_(
        write_sacct(
            tmp_path / "brecca.txt",
            sacct_line("1", "alice", "ProjectA", "2100-03-01T10:00:00", "2100-03-01T11:00:00", 2),
            sacct_line("2", "bob", "ProjectA", "2100-03-01T10:00:00", "2100-03-01T12:00:00", 1),
            sacct_line("3", "eve", "ProjectD", "2100-04-01T10:00:00", "2100-04-01T11:00:00", 3),
        )
    )
    import_(
        write_sacct(
            tmp_path / "tango.txt",
            sacct_line("1", "chen", "ProjectA", "2100-03-01T10:00:00", "2100-03-01T11:00:00", 2),
        ),
        machine="tango",
    )


def report(capsys, *args):
    return cli_json(capsys, "usage", "report", "--by", "year", *args)


@pytest.mark.parametrize(
    ("group", "key", "expected"),
    [
        ("person", "person", [("alice", 1, 2, 2), ("bob", 1, 2, 2), ("chen", 1, 2, 3),
                              ("eve", 1, 3, 3)]),
        ("project", "project", [("ProjectA", 3, 6, 7), ("ProjectD", 1, 3, 3)]),
        ("institute", "institute", [("InstituteA", 3, 6, 7), ("InstituteC", 1, 3, 3)]),
        ("machine", "machine", [("brecca", 3, 7, 7), ("tango", 1, 2, 3)]),
        ("career-level", "career_level", [("Academic staff", 2, 5, 5),
                                          ("Postdoctoral researcher", 1, 2, 3),
                                          ("Postgraduate", 1, 2, 2)]),
        ("project-level", "project_level", [("Chief investigator", 1, 2, 2),
                                            ("Researcher", 2, 5, 6), ("Student", 1, 2, 2)]),
    ],
)  # fmt: skip
def test_report_groups_give_period_key_jobs_raw_and_used(four_jobs, capsys, group, key, expected):
    rows = report(capsys, "--group-by", group)
    for row in rows:
        assert set(row) == {"period", key, "jobs", "raw", "used"}
    assert [(r["period"], r[key], r["jobs"], r["raw"], r["used"]) for r in rows] == [
        ("2100", *values) for values in expected
    ]


def test_report_periods_and_filters(four_jobs, capsys):
    assert report(capsys) == [{"period": "2100", "jobs": 4, "raw": 9, "used": 10}]
    rows = cli_json(capsys, "usage", "report", "--by", "quarter")
    assert rows == [{"period": "2100-Q1", "jobs": 3, "raw": 6, "used": 7},
                    {"period": "2100-Q2", "jobs": 1, "raw": 3, "used": 3}]  # fmt: skip
    rows = cli_json(capsys, "usage", "report", "--from", "2100-04-01", "--to", "2100-04-30")
    assert rows == [{"period": "2100-04", "jobs": 1, "raw": 3, "used": 3}]
    assert report(capsys, "--project", "ProjectA", "--machine", "tango") == [
        {"period": "2100", "jobs": 1, "raw": 2, "used": 3}
    ]


def test_report_csv_has_a_header_and_a_row_per_group(four_jobs, capsys):
    from django.core.management import call_command

    capsys.readouterr()
    call_command("usage", "report", "--by", "year", "--group-by", "machine", "--csv")
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["period,machine,jobs,raw,used", "2100,brecca,3,7,7", "2100,tango,1,2,3"]
