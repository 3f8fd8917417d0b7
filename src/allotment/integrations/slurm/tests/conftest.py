"""The example site's brecca on the real Slurm cluster (slurm_cluster: slurm.testing, a
plugin of the whole suite). Each test first syncs, which makes the cluster equal to the
ledger the test starts from."""

import pwd
import subprocess
import time
from datetime import date
from decimal import Decimal

import pytest

from allotment.core.validation import save_validated
from allotment.grants.models import AllocationPeriod
from allotment.grants.services import allocate, create_grant
from allotment.integrations.slurm import devcluster
from allotment.integrations.slurm.sacctmgr import Cluster


@pytest.fixture
def brecca(slurm_cluster, example):
    """The example site's brecca, pointed at the real cluster and synced."""
    from allotment.integrations.slurm.sync import sync
    from allotment.resources.models import Machine

    devcluster.point_machine_at(slurm_cluster)
    machine = Machine.objects.get(name="brecca")
    outcome = sync(machine)
    assert not outcome.failed, outcome.failed
    return machine


def unix_user(name: str) -> str:
    """A real Unix user to run jobs as (Slurm runs a job as its submitter).

    slurmctld resolves a user's uid when it learns of their associations, and does not look
    again for one that was unknown then (its jobs are refused as "Invalid account") until
    it is reconfigured: so a user created here is followed by `scontrol reconfigure`."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "-M", "-s", "/bin/sh", name], check=True)
        subprocess.run(["scontrol", "reconfigure"], env=devcluster.layout().env(), check=True)
    return name


def submit(
    cluster: Cluster, user: str, account: str, seconds: int, minutes: int = 2, tasks: int = 1
) -> str:
    """sbatch as `user` (a time limit of `minutes`, `tasks` CPUs); slurmctld learns new
    associations from slurmdbd a moment after a sync, so a refusal for an unknown account
    is retried for a few seconds."""
    deadline = time.monotonic() + 60
    while True:
        code, out = cluster.attempt(
            "sbatch", "--parsable", f"--uid={user}", f"--account={account}",
            f"--time={minutes}", f"--ntasks={tasks}", "--output=/dev/null", "--chdir=/tmp",
            f"--wrap=sleep {seconds}",
        )  # fmt: skip
        if code == 0:
            return out.strip().split(";")[0]
        assert "Invalid account" in out and time.monotonic() < deadline, out
        time.sleep(0.3)


FINISHED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT")


def run_job(cluster: Cluster, user: str, account: str, seconds: int = 1) -> str:
    job = submit(cluster, user, account, seconds)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = cluster.run("sacct", "-n", "-X", "-P", "-j", job, "-o", "State").strip()
        if state and state.split()[0] in FINISHED:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job} did not finish: {state!r}")


def this_years_pool(example, pid: str, hours: Decimal):
    """An allocation for the period covering today (the example site's is in 2100)."""
    today = date.today()
    period = AllocationPeriod.objects.filter(name=str(today.year)).first() or save_validated(
        AllocationPeriod(name=str(today.year), start=date(today.year, 1, 1),
                         end=date(today.year, 12, 31))
    )  # fmt: skip
    grant = create_grant(example.projects[pid], example.scheme, period.start, period.end)
    return allocate(grant, period, example.pools["CPU Hours"], hours).allocation_pool


def pending_reason(cluster: Cluster, job: str) -> tuple[str, str]:
    """squeue's state and reason for a job; ("DONE", "") once squeue has forgotten it."""
    out = cluster.run("squeue", "-h", "-j", job, "-o", "%T|%r").strip()
    if not out:
        return ("DONE", "")
    state, reason = out.split("|")
    return state, reason
