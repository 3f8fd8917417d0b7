"""Importing jobs charges the right pool with exact numbers; re-imports change nothing.

The example site: brecca's CPU Hours resource scales by 1.0, tango's by 1.5; one CPU hour is
3600 core-seconds. ProjectA has 60 CPU hours and 600 KB of disk in period 2100.
"""

import json

import pytest
from django.core.management import call_command

from allotment.grants.models import AllocationPool
from allotment.resources.models import Machine
from allotment.usage import ingest
from allotment.usage.models import DailyUsage, ImportRun, Job
from allotment.usage.parsing.common import ParseError

from .helpers import cli_json, daily, day, dec, import_, pools_of, sacct_line, write_sacct


def test_four_cores_for_three_hours_on_brecca_use_12_of_project_a_60_hours(
    example, tmp_path, capsys
):
    path = write_sacct(
        tmp_path / "jobs.txt",
        sacct_line("1", "alice", "ProjectA", "2100-03-01T10:00:00", "2100-03-01T13:00:00", 4),
    )
    summary = import_(path)
    assert (summary["read"], summary["new"], summary["quarantined"]) == (1, 1, 0)
    cpu = pools_of(capsys, "ProjectA")["CPU Hours"]
    assert (cpu["allocated"], cpu["used"], cpu["remaining"]) == (60, 12, 48)
    pool = AllocationPool.objects.get(project__pid="ProjectA", resource_pool__name="CPU Hours")
    (row,) = DailyUsage.objects.all()
    assert (row.day, row.kind, row.jobs, row.raw, row.used) == (
        day(3, 1), "job", 1, 43200, dec(43200),
    )  # fmt: skip
    assert (row.machine.name, row.resource.name, row.resource_pool.name) == (
        "brecca", "brecca-cores", "CPU Hours",
    )  # fmt: skip
    assert row.submitted_project.pid == row.charged_project.pid == "ProjectA"
    assert (row.allocation_pool_id, row.charge, row.non_member) == (pool.pk, "charged", False)
    assert (row.person.username, row.institute.pid) == ("alice", "InstituteA")
    assert (row.career_level.name, row.project_level.name) == (
        "Academic staff", "Chief investigator",
    )  # fmt: skip


def test_the_same_job_on_tango_uses_18_hours_from_12_raw(example, tmp_path, capsys):
    path = write_sacct(
        tmp_path / "jobs.txt",
        sacct_line("1", "alice", "ProjectA", "2100-03-01T10:00:00", "2100-03-01T13:00:00", 4),
    )
    import_(path, machine="tango")
    cpu = pools_of(capsys, "ProjectA")["CPU Hours"]
    assert (cpu["used"], cpu["remaining"]) == (18, 42)
    rows = cli_json(capsys, "usage", "report", "--machine", "tango")
    assert rows == [{"period": "2100-03", "jobs": 1, "raw": 12, "used": 18}]
    assert daily("raw", "used") == [(43200, dec(64800))]


def test_a_job_crossing_midnight_is_split_in_proportion(example, tmp_path, capsys):
    path = write_sacct(  # 3 cores: 1 hour on March 1, 3 hours on March 2
        tmp_path / "jobs.txt",
        sacct_line("1", "bob", "ProjectA", "2100-03-01T23:00:00", "2100-03-02T03:00:00", 3),
    )
    import_(path)
    assert daily("day", "jobs", "raw", "used") == [
        (day(3, 1), 0, 10800, dec(10800)),
        (day(3, 2), 1, 32400, dec(32400)),
    ]
    rows = cli_json(capsys, "usage", "report", "--by", "day")
    assert rows == [
        {"period": "2100-03-01", "jobs": 0, "raw": 3, "used": 3},
        {"period": "2100-03-02", "jobs": 1, "raw": 9, "used": 9},
    ]
    assert pools_of(capsys, "ProjectA")["CPU Hours"]["used"] == 12


def test_local_times_are_the_machine_zone_and_days_the_site_zone(example, tmp_path):
    Machine.objects.filter(name="brecca").update(time_zone="Europe/Stockholm")
    path = write_sacct(  # 01:00 to 03:00 CEST is 23:00 to 01:00 UTC
        tmp_path / "jobs.txt",
        sacct_line("1", "alice", "ProjectA", "2100-07-01T01:00:00", "2100-07-01T03:00:00", 2),
    )
    import_(path)
    job = Job.objects.get()
    assert (job.start_ts, job.end_ts, job.elapsed) == (4118079600, 4118086800, 7200)
    assert daily("day", "jobs", "raw") == [(day(6, 30), 0, 7200), (day(7, 1), 1, 7200)]


def test_importing_the_same_file_again_changes_nothing(example, tmp_path, capsys):
    path = write_sacct(
        tmp_path / "jobs.txt",
        sacct_line("1", "alice", "ProjectA", "2100-03-01T10:00:00", "2100-03-01T13:00:00", 4),
        sacct_line("2", "bob", "ProjectA", "2100-03-01T23:00:00", "2100-03-02T01:00:00", 1),
        sacct_line("3", "eve", "ProjectD", "2100-03-03T00:00:00", "2100-03-03T02:00:00", 2),
    )
    first = import_(path)
    assert (first["read"], first["new"], first["updated"], first["unchanged"]) == (3, 3, 0, 0)
    fields = [f.attname for f in DailyUsage._meta.fields if f.name != "id"]
    before = sorted(DailyUsage.objects.values_list(*fields))
    capsys.readouterr()
    call_command("usage", "import", "--format", "sacct", "--machine", "brecca", str(path), "--json")
    again = json.loads(capsys.readouterr().out)
    keys = ("read", "new", "updated", "unchanged", "quarantined", "rejected")
    assert [again[k] for k in keys] == [3, 0, 0, 3, 0, 0]
    assert sorted(DailyUsage.objects.values_list(*fields)) == before
    assert Job.objects.count() == 3
    assert ImportRun.objects.filter(summary__new=0, summary__unchanged=3).count() == 1


def test_a_changed_record_is_updated_and_its_days_follow(example, tmp_path):
    lines = [
        sacct_line("1", "alice", "ProjectA", "2100-03-01T10:00:00", "2100-03-01T13:00:00", 4),
        sacct_line("2", "bob", "ProjectA", "2100-03-05T10:00:00", "2100-03-05T11:00:00", 1),
    ]
    import_(write_sacct(tmp_path / "a.txt", *lines))
    lines[0] = lines[0].replace("2100-03-01T13:00:00", "2100-03-02T02:00:00")  # now 16 hours
    summary = import_(write_sacct(tmp_path / "b.txt", *lines))
    assert (summary["new"], summary["updated"], summary["unchanged"]) == (0, 1, 1)
    assert Job.objects.get(job_id="1").elapsed == 16 * 3600
    assert daily("day", "jobs", "raw") == [
        (day(3, 1), 0, 4 * 14 * 3600),
        (day(3, 2), 1, 4 * 2 * 3600),
        (day(3, 5), 1, 3600),
    ]


def test_a_running_job_is_skipped_and_picked_up_later(example, tmp_path):
    running = sacct_line("1", "alice", "ProjectA", "2100-03-01T10:00:00", "Unknown", 4, "RUNNING")
    summary = import_(write_sacct(tmp_path / "a.txt", running))
    assert (summary["read"], summary["running"], summary["new"]) == (1, 1, 0)
    assert not Job.objects.exists()
    done = sacct_line("1", "alice", "ProjectA", "2100-03-01T10:00:00", "2100-03-01T11:00:00", 4)
    assert import_(write_sacct(tmp_path / "b.txt", done))["new"] == 1
    assert daily("raw") == [(14400,)]


def test_a_job_by_someone_outside_the_project_is_kept_charged_and_flagged(
    example, tmp_path, capsys
):
    path = write_sacct(
        tmp_path / "jobs.txt",
        sacct_line("1", "dana", "ProjectA", "2100-03-01T10:00:00", "2100-03-01T12:00:00", 1),
        sacct_line("2", "bob", "ProjectA", "2100-03-01T10:00:00", "2100-03-01T11:00:00", 1),
    )
    import_(path)
    fields = ("person__username", "raw", "charge", "non_member", "charged_project__pid")
    assert sorted(daily(*fields)) == [
        ("bob", 3600, "charged", False, "ProjectA"),
        ("dana", 7200, "charged", True, "ProjectA"),
    ]
    assert pools_of(capsys, "ProjectA")["CPU Hours"]["used"] == 3


def test_malformed_line_stops_the_file_and_leaves_nothing_of_it(example, tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "BATCH", 1)  # rows 1 and 2 are written before line 3 is read
    lines = [
        sacct_line(str(n), "alice", "ProjectA", "2100-03-01T10:00:00", "2100-03-01T11:00:00", n)
        for n in range(1, 6)
    ]
    good = list(lines)
    lines[2] = lines[2].replace("2100-03-01T11:00:00", "2100-03-01 11:00")
    path = write_sacct(tmp_path / "jobs.txt", *lines)
    with pytest.raises(ParseError) as e:
        import_(path)
    assert f"{path}:4: field End" in str(e.value)
    assert not Job.objects.exists() and not DailyUsage.objects.exists()
    write_sacct(path, *good)
    assert import_(path)["new"] == 5
    assert daily("jobs", "raw") == [(5, 15 * 3600)]


def test_each_file_is_atomic_on_its_own(example, tmp_path):
    good = write_sacct(
        tmp_path / "good.txt",
        sacct_line("1", "alice", "ProjectA", "2100-03-01T10:00:00", "2100-03-01T11:00:00", 1),
    )
    bad = write_sacct(
        tmp_path / "bad.txt",
        sacct_line("2", "alice", "ProjectA", "2100-03-01T10:00:00", "2100-03-01T11:00:00", 1),
        "3|alice|ProjectA|work",
    )
    with pytest.raises(ParseError):
        ingest.import_files([good, bad], ingest.Options(format="sacct", machine="brecca"))
    assert list(Job.objects.values_list("job_id", flat=True)) == ["1"]


def test_the_cli_names_the_line_of_malformed_input(example, tmp_path, capsys):
    path = write_sacct(
        tmp_path / "jobs.txt",
        sacct_line("1", "alice", "ProjectA", "2100-03-01T10:00:00", "2100-03-01T11:00:00", 1),
        sacct_line("2", "alice", "ProjectA", "2100-03-01T10:00:00", "2100-03-01T11:00:00", "x"),
    )
    with pytest.raises(SystemExit) as e:
        call_command("usage", "import", "--format", "sacct", "--machine", "brecca", str(path))
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert f"{path}:3: field AllocCPUS: expected a whole number of CPUs" in err
    assert "Nothing of that file was imported." in err
    assert not Job.objects.exists()


def test_waiting_time_is_counted_on_the_day_the_job_ends(example, tmp_path):
    path = tmp_path / "jobs.txt"
    path.write_text(
        "JobID|User|Account|Submit|Eligible|Start|End|AllocCPUS\n"
        "1|alice|ProjectA|2100-03-01T09:00:00|2100-03-01T09:00:05|2100-03-01T23:00:00|"
        "2100-03-02T01:00:00|16\n"
        "2|bob|ProjectA|2100-03-02T09:00:00|Unknown|2100-03-02T09:30:00|2100-03-02T10:00:00|1\n"
    )
    import_(path)
    assert daily("day", "person__username", "jobs", "raw", "wait") == [
        (day(3, 1), "alice", 0, 16 * 3600, 0),
        (day(3, 2), "alice", 1, 16 * 3600, 14 * 3600 - 5),  # from Eligible
        (day(3, 2), "bob", 1, 1800, 1800),  # Eligible unknown: from Submit
    ]


@pytest.fixture
def parse_in_a_child(monkeypatch):
    """Large files are parsed in a forked child: force that path for a small file."""
    from allotment.usage import pipeline

    if not pipeline.available():
        pytest.skip("no fork or a single CPU: files are always parsed in-process")
    monkeypatch.setattr(ingest, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(pipeline, "BATCH", 1)
    monkeypatch.setattr(ingest, "BATCH", 1)
    calls = []
    real = pipeline.in_child

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "in_child", counted)
    return calls


def test_parsing_in_a_child_process_gives_the_same_ledger(example, tmp_path, parse_in_a_child):
    lines = [
        sacct_line("1", "alice", "ProjectA", "2100-03-01T23:00:00", "2100-03-02T03:00:00", 3),
        sacct_line("1.batch", "alice", "ProjectA", "2100-03-01T23:00:00", "2100-03-02T03:00:00", 3),
        sacct_line("2", "zed", "ProjectA", "2100-03-01T10:00:00", "2100-03-01T11:00:00", 1),
        sacct_line("3", "bob", "ProjectA", "2100-03-01T10:00:00", "Unknown", 1, "RUNNING"),
    ]
    path = write_sacct(tmp_path / "jobs.txt", *lines)
    summary = import_(path)
    assert [summary[k] for k in ("read", "new", "quarantined", "running")] == [3, 1, 1, 1]
    assert daily("day", "jobs", "raw") == [(day(3, 1), 0, 10800), (day(3, 2), 1, 32400)]
    assert len(parse_in_a_child) == 1
    again = import_(path)
    assert [again[k] for k in ("new", "updated", "unchanged", "quarantined")] == [0, 0, 1, 1]


def test_a_parse_error_in_the_child_leaves_nothing(example, tmp_path, parse_in_a_child):
    lines = [
        sacct_line(str(n), "alice", "ProjectA", "2100-03-01T10:00:00", "2100-03-01T11:00:00", n)
        for n in range(1, 6)
    ]
    lines[2] = lines[2].replace("|3|1|", "|three|1|")
    path = write_sacct(tmp_path / "jobs.txt", *lines)
    with pytest.raises(ParseError) as e:
        import_(path)
    assert f"{path}:4: field AllocCPUS" in str(e.value)
    assert len(parse_in_a_child) == 1
    assert not Job.objects.exists() and not DailyUsage.objects.exists()


def test_rebuild_applies_a_new_scaling_factor_to_stored_usage(example, tmp_path, capsys):
    from django.core.management import call_command

    from allotment.resources.models import Resource

    lines = [sacct_line("7", "alice", "ProjectA", "2100-03-01T10:00:00", "2100-03-01T13:00:00", 4)]
    import_(write_sacct(tmp_path / "jobs.txt", *lines))
    assert pools_of(capsys, "ProjectA")["CPU Hours"]["used"] == 12
    Resource.objects.filter(name="brecca-cores").update(scaling_factor=2)
    assert pools_of(capsys, "ProjectA")["CPU Hours"]["used"] == 12  # history is not rewritten
    call_command("usage", "rebuild", "--from", "2100-03-01", "--to", "2100-03-31")
    assert pools_of(capsys, "ProjectA")["CPU Hours"]["used"] == 24
