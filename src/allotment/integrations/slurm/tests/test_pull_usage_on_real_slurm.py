"""`allot slurm pull-usage` against the real slurmdbd of `allot dev slurm`: job ids the
cluster reuses, and jobs cancelled before they started."""

import json
import time
from decimal import Decimal

import pytest
from django.core.management import call_command

from allotment.integrations.slurm.sacctmgr import Cluster
from allotment.integrations.slurm.sync import sync
from allotment.usage import ingest
from allotment.usage.models import Job

from .conftest import run_job, this_years_pool, unix_user

pytestmark = pytest.mark.slurm

MARCH_1_2100 = 4107542400


def pull_json(capsys) -> dict:
    capsys.readouterr()
    call_command("slurm", "pull-usage", "brecca", "--json")
    return json.loads(capsys.readouterr().out)


def pull_until(capsys, found, seconds: float = 30) -> dict:
    """Pull until `found()`: sacct's time windows lag a job's end by a few seconds."""
    deadline = time.monotonic() + seconds
    while True:
        summary = pull_json(capsys)
        if found() or time.monotonic() > deadline:
            return summary
        time.sleep(0.5)


def test_a_job_id_the_cluster_reuses_does_not_replace_the_older_job(
    brecca, example, tmp_path, capsys
):
    """As `make demo-slurm` did: the example site holds year-2100 jobs whose ids a fresh
    cluster hands out again; the pull must add the cluster's job, not overwrite the old."""
    this_years_pool(example, "ProjectA", Decimal(100))
    sync(brecca)
    cluster = Cluster.of(brecca)
    job = run_job(cluster, unix_user("alice"), "projecta")
    old = tmp_path / "2100.csv"
    old.write_text(
        "job_id,user,account,submit,start,end,cores\n"
        f"{job},bob,ProjectA,{MARCH_1_2100},{MARCH_1_2100 + 60},{MARCH_1_2100 + 3660},8\n"
    )
    ingest.import_files([old], ingest.Options(format="csv", machine="brecca"))
    summary = pull_until(capsys, lambda: Job.objects.filter(job_id=job).count() == 2)
    assert summary["updated"] == 0
    rows = sorted(Job.objects.filter(machine=brecca, job_id=job).values_list(
        "submit_ts", "username", "cores", "elapsed"))  # fmt: skip
    assert rows[-1] == (MARCH_1_2100, "bob", 8, 3600)
    assert rows[0][1:3] == ("alice", 1) and rows[0][0] < MARCH_1_2100
    # Pulled again (a job's record may still change a moment after its end: an update).
    assert pull_json(capsys)["new"] == 0
    assert Job.objects.filter(machine=brecca, job_id=job).count() == 2
    assert Job.objects.filter(job_id=job, submit_ts=MARCH_1_2100, username="bob").exists()


def test_a_job_cancelled_before_it_started_is_never_ran_not_running(brecca, example, capsys):
    cluster = Cluster.of(brecca)
    job = cluster.run(
        "sbatch", "--parsable", f"--uid={unix_user('alice')}", "--account=projecta",
        "--begin=now+3600", "--time=2", "--output=/dev/null", "--chdir=/tmp", "--wrap=sleep 1",
    ).strip().split(";")[0]  # fmt: skip
    cluster.run("scancel", job)

    def cancelled() -> bool:
        state = cluster.run("sacct", "-n", "-X", "-P", "-j", job, "-o", "State,NodeList")
        return state.strip().startswith("CANCELLED") and state.strip().endswith("None assigned")

    deadline = time.monotonic() + 30
    while not cancelled():
        assert time.monotonic() < deadline, "the job was not cancelled while pending"
        time.sleep(0.3)
    summary = pull_until(capsys, lambda: False, seconds=3)
    assert summary["never_ran"] >= 1 and summary["running"] == 0
    assert not Job.objects.filter(machine=brecca, job_id=job).exists()
    capsys.readouterr()
    call_command("slurm", "pull-usage", "brecca")
    line = capsys.readouterr().out
    assert "running 0" in line and "never_ran" in line
