"""`allot usage import` on bad input: one line saying what and where, the right exit code,
never a traceback; and jobs that never ran are neither jobs nor waiting."""

import gzip
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from allotment.resources.models import Machine
from allotment.usage.models import DailyUsage, Job, QuarantinedRecord

from .helpers import cli_json, write_sacct
from .test_parse_slurm import slurm_22_job

MARCH_1_2100 = 4107542400  # 2100-03-01T00:00:00Z


def run(capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    code = 0
    try:
        call_command("usage", "import", *args)
    except SystemExit as e:
        code = e.code
    except CommandError as e:
        code = e.returncode
        print(f"error: {e}", file=__import__("sys").stderr)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_file_named_gz_that_is_not_gzip_is_one_line_and_exit_1(example, tmp_path, capsys):
    path = tmp_path / "jobs.txt.gz"
    path.write_bytes(b"JobID|User|Account\n1|alice|ProjectA\n")
    code, _, err = run(capsys, "--format", "sacct", "--machine", "brecca", str(path))
    assert code == 1
    assert err == f"error: {path}: not a gzip file\nerror: Nothing of that file was imported.\n"
    assert not Job.objects.exists()


def test_a_truncated_gzip_file_is_one_line_and_exit_1(example, tmp_path, capsys):
    lines = [f"{n}|alice|ProjectA|w|2100-03-01T10:00:00|2100-03-01T10:00:00|"
             f"2100-03-01T11:00:00|1|1|COMPLETED" for n in range(2000)]  # fmt: skip
    whole = gzip.compress(
        ("JobID|User|Account|Partition|Submit|Start|End|AllocCPUS|NNodes|State\n"
         + "\n".join(lines)).encode()
    )  # fmt: skip
    path = tmp_path / "jobs.txt.gz"
    path.write_bytes(whole[: len(whole) // 2])
    code, _, err = run(capsys, "--format", "sacct", "--machine", "brecca", str(path))
    assert code == 1
    assert err.splitlines()[0] == f"error: {path}: the gzip data ends early (a truncated file)"
    assert not Job.objects.exists()


def test_a_corrupt_gzip_storage_file_is_one_line_too(example, tmp_path, capsys):
    path = tmp_path / "storage.csv.gz"
    path.write_bytes(b"\x1f\x8bnot really")
    code, _, err = run(capsys, "--format", "storage-csv", str(path))
    assert (code, err.splitlines()[0]) == (1, f"error: {path}: not a gzip file")


def test_malformed_sacct_json_jobs_are_rejected_with_their_place(example, tmp_path, capsys):
    start = MARCH_1_2100
    good = slurm_22_job(50, start, start + 3600, 4)
    no_times = slurm_22_job(51, start, start + 3600, 4)
    del no_times["time"]
    bad_start = slurm_22_job(52, start, start + 3600, 4)
    bad_start["time"]["start"] = "soon"
    no_id = slurm_22_job(53, start, start + 3600, 4)
    del no_id["job_id"]
    path = tmp_path / "sacct.json"
    path.write_text(json.dumps({"jobs": [good, no_times, bad_start, no_id, "job"]}))
    summary = cli_json(
        capsys, "usage", "import", "--format", "sacct-json", "--machine", "brecca", str(path)
    )
    assert (summary["read"], summary["new"], summary["rejected"], summary["running"]) == (
        5, 1, 4, 0,
    )  # fmt: skip
    held = [
        (q.key, q.reason, q.source, q.detail) for q in QuarantinedRecord.objects.order_by("source")
    ]
    assert held == [
        ("51", "invalid", f"{path}:jobs[1]", "field time.start: expected epoch seconds "
         "(0 before it starts), got missing"),
        ("52", "invalid", f"{path}:jobs[2]", "field time.start: expected epoch seconds "
         '(0 before it starts), got "soon"'),
        ("jobs[3]", "invalid", f"{path}:jobs[3]",
         "field job_id: expected a job id (a positive number), got missing"),
        ("jobs[4]", "invalid", f"{path}:jobs[4]", 'field job: expected a job object, got "job"'),
    ]  # fmt: skip
    assert list(Job.objects.values_list("job_id", flat=True)) == ["50"]


def test_a_mistyped_machine_is_bad_usage_naming_the_option_and_the_machines(
    example, tmp_path, capsys
):
    path = write_sacct(tmp_path / "jobs.txt")
    code, _, err = run(capsys, "--format", "sacct", "--machine", "breca", str(path))
    assert code == 2
    assert err == (
        'error: --machine: there is no machine "breca"; the machines are: brecca, tango '
        "(--create-missing creates it)\n"
    )
    assert not QuarantinedRecord.objects.exists()


def test_create_missing_creates_the_machine_named(example, tmp_path, capsys):
    path = write_sacct(
        tmp_path / "jobs.txt",
        "1|alice|ProjectA|work|2100-03-01T10:00:00|2100-03-01T10:00:00|2100-03-01T11:00:00|1|1|"
        "COMPLETED",
    )
    summary = cli_json(
        capsys, "usage", "import", "--format", "sacct", "--machine", "newbox",
        "--create-missing", str(path),
    )  # fmt: skip
    assert (summary["new"], summary["created"]) == (1, ["machine newbox"])
    assert Machine.objects.filter(name="newbox").exists()


@pytest.mark.parametrize(
    "shape", ["sacct", "sacct-nodelist", "sacct-json", "sacct-json-held-by-begin"]
)
def test_a_job_cancelled_before_it_started_is_no_job_and_not_running(
    example, tmp_path, capsys, shape
):
    """Slurm 22.05 prints two shapes: Start None (start null in JSON) for a job held by a
    limit, and Start = End with no nodes assigned for one waiting on --begin."""
    start = MARCH_1_2100 + 36000
    fmt = "sacct-json" if shape.startswith("sacct-json") else "sacct"
    if shape == "sacct":
        path = write_sacct(
            tmp_path / "jobs.txt",
            "1|alice|ProjectA|work|2100-03-01T09:00:00|None|2100-03-01T09:30:00|0|0|CANCELLED by 0",
            "2|alice|ProjectA|work|2100-03-01T09:00:00|2100-03-01T10:00:00|Unknown|1|1|RUNNING",
        )
    elif shape == "sacct-nodelist":
        path = tmp_path / "jobs.txt"
        path.write_text(
            "JobID|User|Account|Submit|Start|End|ElapsedRaw|AllocCPUS|NodeList|State\n"
            "1|alice|ProjectA|2100-03-01T09:00:00|2100-03-01T09:30:00|2100-03-01T09:30:00|0|1|"
            "None assigned|CANCELLED by 0\n"
            "2|alice|ProjectA|2100-03-01T09:00:00|2100-03-01T10:00:00|Unknown|0|1|node1|RUNNING\n"
        )
    else:
        cancelled = slurm_22_job(1, start, start + 1800, 0, state="CANCELLED")
        if shape == "sacct-json":
            cancelled["time"]["start"] = None
        else:
            cancelled["time"].update(start=start + 1800, elapsed=0)
            cancelled.update(tres={"allocated": []}, allocation_nodes=0)
        running = slurm_22_job(2, start, 0, 1, state="RUNNING")
        path = tmp_path / "sacct.json"
        path.write_text(json.dumps({"jobs": [cancelled, running]}))
    args = ("usage", "import", "--format", fmt, "--machine", "brecca", str(path))
    summary = cli_json(capsys, *args)
    assert (summary["read"], summary["new"], summary["running"], summary["never_ran"]) == (
        2, 0, 1, 1,
    )  # fmt: skip
    assert not Job.objects.exists() and not DailyUsage.objects.exists()
