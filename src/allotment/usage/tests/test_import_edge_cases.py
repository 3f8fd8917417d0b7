"""Edge cases found in review: each was a wrong result or a crash on some site's data."""

import os
import signal
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Sum

from allotment.core.validation import save_validated
from allotment.grants.models import AllocationCap, AllocationPeriod
from allotment.grants.services import allocate, create_grant, used_by_pool
from allotment.projects.models import AllocationMode
from allotment.projects.services import move_project
from allotment.resources.models import Machine, MachineCategory
from allotment.usage import ingest, pipeline, reports
from allotment.usage.models import DailyUsage, Job, QuarantinedRecord
from allotment.usage.parsing import sacct
from allotment.usage.parsing.common import LocalTimes, ParseError

from .helpers import SACCT_HEADER, import_, sacct_line, write_sacct
from .test_charging_through_the_tree import make_c_capped

YEAR = (date(2100, 1, 1), date(2100, 12, 31))


def test_bytes_that_are_not_utf8_stop_the_import_naming_the_line(example, tmp_path):
    path = tmp_path / "jobs.txt"
    good = sacct_line("1", "alice", "ProjectA", "2100-03-01T10:00:00", "2100-03-01T13:00:00", 4)
    path.write_bytes(f"{SACCT_HEADER}\n{good}\n2|b\xe9b|ProjectA|w\n".encode("latin-1"))
    with pytest.raises(ParseError) as e:
        import_(path)
    assert str(e.value) == f'{path}:3: field encoding: expected UTF-8 text, got "byte 0xe9"'
    assert not Job.objects.exists()


def test_requeue_reads_local_times_in_the_zone_of_the_machine_created_since(example, tmp_path):
    # Earlier versions quarantined records of an unknown machine, read as UTC; such records
    # are still in some sites' quarantine.
    line = sacct_line("1", "alice", "ProjectA", "2100-03-01T10:00:00", "2100-03-01T13:00:00", 4)
    (record,) = sacct.parse([SACCT_HEADER, line], "j.txt", "UTC")
    QuarantinedRecord.objects.create(
        kind="job", machine_name="newbox", key="1", reason="unknown_machine",
        detail='no machine "newbox"', source="j.txt:2",
        record=record._asdict() | {"_local_times_read_in": "UTC"},
    )  # fmt: skip
    save_validated(Machine(name="newbox", category=MachineCategory.objects.get(name="default"),
                           time_zone="Australia/Melbourne"))  # fmt: skip
    ingest.requeue()
    job = Job.objects.get(job_id="1", machine__name="newbox")
    melbourne = ZoneInfo("Australia/Melbourne")
    assert job.start_ts == int(datetime(2100, 3, 1, 10, tzinfo=melbourne).timestamp())
    assert job.end_ts - job.start_ts == 3 * 3600


@pytest.mark.parametrize("text", ["2100-10-03T02:45:00", "2100-10-03T02:30:00"])
def test_local_times_around_a_half_hour_clock_change(text):
    zone = ZoneInfo("Australia/Lord_Howe")
    expected = int(datetime.fromisoformat(text).replace(tzinfo=zone).timestamp())
    assert LocalTimes("Australia/Lord_Howe")(text) == expected


def test_overlapping_periods_do_not_restart_a_cap(example, tmp_path):
    pool_c = make_c_capped(example, 10)
    save_validated(AllocationPeriod(name="FY2101", start=date(2100, 7, 1), end=date(2101, 6, 30)))
    import_(write_sacct(
        tmp_path / "a.txt",
        sacct_line("1", "farid", "ProjectD", "2100-03-01T00:00:00", "2100-03-01T08:00:00", 1),
        sacct_line("2", "farid", "ProjectD", "2100-08-01T00:00:00", "2100-08-01T05:00:00", 1),
    ))  # fmt: skip
    import_(write_sacct(
        tmp_path / "b.txt",
        sacct_line("3", "farid", "ProjectD", "2101-02-01T00:00:00", "2101-02-01T01:00:00", 1),
    ))  # fmt: skip
    charged = DailyUsage.objects.filter(allocation_pool=pool_c, charge="charged")
    assert charged.aggregate(s=Sum("used"))["s"] == Decimal(10 * 3600)


def test_a_storage_cap_holds_across_resources_when_one_is_corrected(example, tmp_path):
    project_c = example.projects["ProjectC"]
    project_c.allocation_mode = AllocationMode.CAPPED
    save_validated(project_c)
    grant = create_grant(project_c, example.scheme, *YEAR, awarded=YEAR[0])
    disk = example.pools["Disk Space"]
    pool = allocate(grant, example.period, disk, Decimal(1000)).allocation_pool
    save_validated(AllocationCap(project=example.projects["ProjectD"], resource_pool=disk,
                                 quantity=Decimal(100)))  # fmt: skip

    def snapshots(name, *rows):
        path = tmp_path / name
        path.write_text("timestamp,filesystem,project,person,bytes\n" + "".join(rows))
        ingest.import_files([path], ingest.Options(format="storage-csv"))

    kb = 1024
    snapshots("a.csv", f"2100-03-01T10:00:00,brecca-project,ProjectD,,{80 * kb}\n",
              f"2100-03-01T10:00:00,tango-project,ProjectD,,{80 * kb}\n")  # fmt: skip
    assert used_by_pool([pool.pk])[pool.pk] == 100
    snapshots("b.csv", f"2100-03-01T10:00:00,tango-project,ProjectD,,{90 * kb}\n")
    assert used_by_pool([pool.pk])[pool.pk] == 100


def test_the_same_unknown_job_twice_in_a_file_is_quarantined_once(example, tmp_path):
    line = sacct_line("7", "zed", "ProjectA", "2100-03-01T10:00:00", "2100-03-01T13:00:00", 4)
    import_(write_sacct(tmp_path / "j.txt", line, line))
    assert QuarantinedRecord.objects.filter(key="7@2100-03-01T10:00:00Z").count() == 1


def test_a_moved_project_reports_under_its_new_institute(example, tmp_path):
    import_(write_sacct(
        tmp_path / "j.txt",
        sacct_line("1", "farid", "ProjectD", "2100-03-01T10:00:00", "2100-03-01T13:00:00", 4),
    ))  # fmt: skip
    assert reports.report(group_by="institute")[0]["institute"] == "InstituteC"
    move_project(example.projects["ProjectD"], example.projects["InstituteA"])
    assert reports.report(group_by="institute")[0]["institute"] == "InstituteA"
    assert reports.report(group_by="institute", by="year")[0]["institute"] == "InstituteA"


def test_heterogeneous_steps_are_not_jobs(example, tmp_path):
    times = "2100-03-01T10:00:00|2100-03-01T10:00:00|2100-03-01T13:00:00|4|1|COMPLETED"
    lines = [f"123|alice|ProjectA|work|{times}", f"123.0+0||ProjectA||{times}",
             f"123.batch||ProjectA||{times}"]  # fmt: skip
    import_(write_sacct(tmp_path / "j.txt", *lines))
    assert list(Job.objects.values_list("job_id", flat=True)) == ["123"]


def test_an_unusable_swf_record_crosses_from_the_parsing_process(example, tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "PARALLEL_BYTES", 0)
    path = tmp_path / "t.swf"
    path.write_text("; UnixStartTime: 4102444800\n"
                    "1 0 10 3600 4 -1 -1 4 3600 -1 1 1 1 -1 -1 -1 -1 -1\n"
                    "2 -1 -1 -1 -1 -1 -1 -1 -1 -1 0 1 1 -1 -1 -1 -1 -1\n")  # fmt: skip
    summary = ingest.import_files(
        [path], ingest.Options(format="swf", machine="brecca", create_missing=True,
                               institute="InstituteA"),
    )  # fmt: skip
    assert (summary.new, summary.rejected) == (1, 1)


def test_a_parsing_process_that_dies_fails_the_import_instead_of_hanging():
    def produce(report):
        os.kill(os.getpid(), signal.SIGKILL)
        yield []

    with pytest.raises(RuntimeError, match="the parsing process died"):
        list(pipeline.in_child(produce))
