"""A job is (machine, job id, submit time), as Slurm keys it: job ids are reused (MaxJobId
wraps; a cluster that lost its state restarts at 1) and each run of a requeued job is a
record of its own. A reused id must never overwrite an older job.

data/sacct_json_fresh_cluster.json is what `sacct --json --duplicates --state=...,RQ` printed
on a fresh loopback cluster (`allot dev slurm up`; steps dropped): jobs 1-3 cancelled while
pending (start null), 4-8 completed in 2 s, and job 9 requeued after 2 s (a REQUEUED
record, submitted 1796407819) and run again for 5 s (a second record, submitted 1796407821).
Its ids collide with the example site's year-2100 jobs, as `make demo-slurm` does.
"""

import shutil
from pathlib import Path

from allotment.demo import site
from allotment.usage.models import Job

from .helpers import cli_json, daily, import_, sacct_line, write_csv, write_sacct

FRESH_CLUSTER = Path(__file__).parent / "data" / "sacct_json_fresh_cluster.json"
HEADER = "JobID|User|Account|Partition|Submit|Start|End|AllocCPUS|NNodes|State"


def line(job_id, submit, start, end, cores=1, state="COMPLETED") -> str:
    return f"{job_id}|alice|ProjectA|work|{submit}|{start}|{end}|{cores}|1|{state}"


def sacct_file(path, *lines):
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return path


def counts(summary: dict) -> tuple:
    return tuple(summary[k] for k in ("new", "updated", "unchanged", "running", "never_ran"))


def test_a_job_id_reused_with_another_submit_time_is_a_job_of_its_own(example, tmp_path):
    march = line(5, "2100-03-01T09:00:00", "2100-03-01T10:00:00", "2100-03-01T11:00:00", 2)
    june = line(5, "2100-06-01T09:00:00", "2100-06-01T10:00:00", "2100-06-01T13:00:00", 4)
    assert counts(import_(sacct_file(tmp_path / "a.txt", march))) == (1, 0, 0, 0, 0)
    assert counts(import_(sacct_file(tmp_path / "b.txt", june))) == (1, 0, 0, 0, 0)
    assert sorted(Job.objects.values_list("job_id", "cores", "elapsed")) == [
        ("5", 2, 3600), ("5", 4, 10800),
    ]  # fmt: skip
    assert [(d.month, d.day, raw) for d, raw in daily("day", "raw")] == [
        (3, 1, 7200), (6, 1, 43200),
    ]  # fmt: skip


def test_importing_both_jobs_of_a_reused_id_again_changes_nothing(example, tmp_path):
    path = sacct_file(
        tmp_path / "both.txt",
        line(5, "2100-03-01T09:00:00", "2100-03-01T10:00:00", "2100-03-01T11:00:00"),
        line(5, "2100-06-01T09:00:00", "2100-06-01T10:00:00", "2100-06-01T13:00:00"),
    )
    assert counts(import_(path)) == (2, 0, 0, 0, 0)
    assert counts(import_(path)) == (0, 0, 2, 0, 0)
    assert Job.objects.count() == 2


def test_a_changed_record_of_the_same_job_and_submit_time_is_an_update(example, tmp_path):
    first = line(5, "2100-03-01T09:00:00", "2100-03-01T10:00:00", "2100-03-01T11:00:00")
    later = line(5, "2100-03-01T09:00:00", "2100-03-01T10:00:00", "2100-03-01T12:00:00")
    import_(sacct_file(tmp_path / "a.txt", first))
    assert counts(import_(sacct_file(tmp_path / "b.txt", later))) == (0, 1, 0, 0, 0)
    assert list(Job.objects.values_list("job_id", "elapsed")) == [("5", 7200)]
    assert daily("raw") == [(7200,)]


def test_without_a_submit_time_the_job_id_alone_is_the_key(example, tmp_path):
    # The generic CSV's submit column is optional: without it nothing tells a reused id
    # from a corrected record of the same job, so the later record replaces the earlier.
    march_1 = 4107542400
    write_csv(tmp_path / "a.csv", [(5, "alice", "ProjectA", march_1, march_1 + 3600, 1)])
    write_csv(tmp_path / "b.csv", [(5, "alice", "ProjectA", march_1, march_1 + 7200, 1)])
    assert counts(import_(tmp_path / "a.csv", fmt="csv")) == (1, 0, 0, 0, 0)
    assert counts(import_(tmp_path / "a.csv", fmt="csv")) == (0, 0, 1, 0, 0)
    assert counts(import_(tmp_path / "b.csv", fmt="csv")) == (0, 1, 0, 0, 0)
    assert list(Job.objects.values_list("job_id", "submit_ts", "elapsed")) == [("5", None, 7200)]


def test_each_run_of_a_requeued_job_is_charged_once_and_the_job_counted_once(example, tmp_path):
    # `sacct --duplicates` shows every run; without it, only the latest record of an id.
    runs = sacct_file(
        tmp_path / "duplicates.txt",
        line(9, "2100-03-01T09:00:00", "2100-03-01T10:00:00", "2100-03-01T10:30:00", 4,
             "REQUEUED"),
        line(9, "2100-03-01T10:30:01", "2100-03-01T10:35:00", "2100-03-01T11:35:00", 4),
    )  # fmt: skip
    latest = sacct_file(
        tmp_path / "latest.txt",
        line(9, "2100-03-01T10:30:01", "2100-03-01T10:35:00", "2100-03-01T11:35:00", 4),
    )
    assert counts(import_(runs)) == (2, 0, 0, 0, 0)
    assert counts(import_(latest)) == (0, 0, 1, 0, 0)
    assert counts(import_(runs)) == (0, 0, 2, 0, 0)
    assert daily("jobs", "raw") == [(1, 4 * 1800 + 4 * 3600)]


def test_the_same_unknown_job_id_twice_waits_twice_in_the_quarantine(example, tmp_path):
    path = write_sacct(
        tmp_path / "zed.txt",
        sacct_line("7", "zed", "ProjectA", "2100-03-01T10:00:00", "2100-03-01T11:00:00", 1),
        sacct_line("7", "zed", "ProjectA", "2100-06-01T10:00:00", "2100-06-01T12:00:00", 1),
    )
    assert import_(path)["quarantined"] == 2
    from allotment.usage.models import QuarantinedRecord

    assert sorted(QuarantinedRecord.objects.values_list("key", flat=True)) == [
        "7@2100-03-01T10:00:00Z", "7@2100-06-01T10:00:00Z",
    ]  # fmt: skip


def test_a_fresh_clusters_jobs_do_not_replace_the_example_sites_jobs_of_the_same_ids(
    example, tmp_path, capsys
):
    """`make demo-slurm`: the first pull of a fresh cluster, whose ids start at 1, replaced
    the example site's year-2100 jobs as "updates", and ProjectA's used hours fell."""
    site.load_usage()
    before = set(Job.objects.values_list("machine__name", "job_id", "submit_ts", "elapsed"))
    year_2100 = {
        r["period"]: r
        for r in cli_json(capsys, "usage", "report", "--project", "ProjectA", "--by", "year")
    }["2100"]
    path = shutil.copy(FRESH_CLUSTER, tmp_path / "sacct.json")
    args = ("usage", "import", "--format", "sacct-json", "--machine", "brecca", str(path))
    summary = cli_json(capsys, *args)
    assert (summary["read"], summary["rejected"], summary["quarantined"]) == (10, 0, 0)
    assert counts(summary) == (7, 0, 0, 0, 3)
    after = set(Job.objects.values_list("machine__name", "job_id", "submit_ts", "elapsed"))
    assert before <= after
    assert sorted(after - before) == sorted(
        [("brecca", str(n), 1796407796, 2) for n in (4, 5, 6, 7, 8)]
        + [("brecca", "9", 1796407819, 2), ("brecca", "9", 1796407821, 5)]
    )
    report = {
        r["period"]: r
        for r in cli_json(capsys, "usage", "report", "--project", "ProjectA", "--by", "year")
    }
    assert report["2100"] == year_2100
    # Seven runs, six jobs: job 9's requeued run is charged, not counted.
    assert (report["2026"]["jobs"], report["2026"]["raw"]) == (6, round(17 / 3600, 6))
    # Pulled again (a pull reads the last hour again): nothing changes, nothing waits.
    again = cli_json(capsys, *args)
    assert counts(again) == (0, 0, 7, 0, 3)
    assert report == {
        r["period"]: r
        for r in cli_json(capsys, "usage", "report", "--project", "ProjectA", "--by", "year")
    }


def test_the_migration_gives_quarantined_jobs_their_submit_time_in_the_key(example):
    import importlib

    from django.apps import apps

    from allotment.usage.models import QuarantinedRecord

    migration = importlib.import_module("allotment.usage.migrations.0002_job_key_with_submit_time")
    for key, submit in (("7", 4107542400), ("8", None)):
        QuarantinedRecord.objects.create(
            kind="job", machine_name="brecca", key=key, reason="unknown_person", detail="",
            source="jobs.txt:2", record={"job_id": key, "submit": submit},
        )  # fmt: skip
    migration.keys_with_submit_time(apps, None)
    assert sorted(QuarantinedRecord.objects.values_list("key", flat=True)) == [
        "7@2100-03-01T00:00:00Z", "8",
    ]  # fmt: skip
    migration.keys_without_submit_time(apps, None)
    assert sorted(QuarantinedRecord.objects.values_list("key", flat=True)) == ["7", "8"]
