"""Issue 5's end-to-end chain as one test, on the real daemons of `allot dev slurm`.

The ledger (people, the project tree, an allocation) → sync → a job by a real Unix user
under the project's account runs → `allot slurm pull-usage` charges it to the project's
pool, which that usage exhausts → sync → the next job is held (AssocGrpCPUMinutesLimit)
→ a new grant → sync → it runs.

Why one job takes a minute: the cluster enforces `limits,safe`, so a job starts only if
its CPUs times its time limit fit in what the limit leaves, and Slurm's shortest time limit is a
minute. A job that uses up an allocation on its own therefore runs for its whole time
limit: 3 CPUs for 60 s against 3 CPU-minutes (0.05 hours, exact in the pool's units).
"""

import json
import subprocess
import time
from decimal import Decimal

import pytest
from django.core.management import call_command

from allotment.core.validation import save_validated
from allotment.grants.models import AllocationPool
from allotment.grants.services import summarise, used_by_pool
from allotment.integrations.slurm.sacctmgr import Cluster
from allotment.integrations.slurm.sync import observed, sync
from allotment.resources.models import Resource
from allotment.usage.models import Job, QuarantinedRecord

from .conftest import FINISHED, pending_reason, submit, this_years_pool, unix_user

pytestmark = pytest.mark.slurm

ACCOUNT = "projectd"  # ProjectD: a leaf project no other test runs jobs under


def until(check, seconds: float, what: str, every: float = 0.3):
    """Poll `check()` until it returns something true; fail saying `what` at the deadline."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what} (after {seconds:.0f} s): {found!r}"
        time.sleep(every)


def raw_usage(cluster: Cluster, account: str) -> str:
    """Slurm's own count for the account (sshare RawUsage, CPU-seconds), as printed."""
    out = cluster.run("sshare", "-n", "-P", f"--clusters={cluster.name}", f"--accounts={account}",
                      "-o", "Account,User,RawUsage")  # fmt: skip
    rows = [row.split("|") for row in out.splitlines()]
    return next((row[2] for row in rows if len(row) == 3 and row[0] == account and not row[1]), "")


def finished(cluster: Cluster, job: str) -> dict[str, str] | None:
    """sacct's record of a job once it has ended (queried by id: no window lag), else None."""
    out = cluster.run("sacct", "-n", "-X", "-P", "-j", job, "-o", "State,AllocCPUS,ElapsedRaw")
    state, cpus, elapsed = (out.strip().splitlines() or ["||"])[0].split("|")
    state = state.split(" ")[0]  # "CANCELLED by 0"
    return {"state": state, "cpus": cpus, "elapsed": elapsed} if state in FINISHED else None


def test_usage_pulled_from_slurm_exhausts_the_allocation_and_a_new_grant_lifts_the_hold(
    brecca, example, capsys
):
    cluster = Cluster.of(brecca)
    farid = unix_user("farid")  # a member of ProjectD (default project on brecca)
    # brecca alone feeds the CPU pool here, so its limit is the whole allocation (with
    # tango's share the limit is 4/7 of it, and one brecca job can never exhaust it).
    tango = Resource.objects.get(machine__name="tango", pool=example.pools["CPU Hours"])
    tango.quantity = Decimal(0)
    save_validated(tango)
    # The dev cluster outlives test runs: start from zero in Slurm's count for the account.
    cluster.run("sacctmgr", "-i", "modify", "account", "where", f"name={ACCOUNT}",
                f"cluster={cluster.name}", "set", "RawUsage=0")  # fmt: skip
    until(lambda: raw_usage(cluster, ACCOUNT) == "0", 10, "Slurm's count did not reset")
    pool = this_years_pool(example, "ProjectD", Decimal("0.05"))  # 3 CPU-minutes
    jobs: list[str] = []
    try:
        assert sync(brecca).applied == [
            f"modify account where name={ACCOUNT} cluster=brecca set GrpTRESMins=cpu=3"
        ]
        # The job runs, under the limit, for its whole minute on 3 CPUs.
        jobs.append(submit(cluster, farid, ACCOUNT, 60, minutes=1, tasks=3))
        until(lambda: pending_reason(cluster, jobs[0])[0] in ("RUNNING", "DONE"), 20,
              f"job {jobs[0]} did not start")  # fmt: skip
        done = until(lambda: finished(cluster, jobs[0]), 100, f"job {jobs[0]} did not end")
        assert done["cpus"] == "3" and int(done["elapsed"]) >= 60, done

        # Pulled (sacct's time windows lag a job's end by a few seconds) and charged.
        def pulled() -> Job | None:
            capsys.readouterr()
            call_command("slurm", "pull-usage", "brecca", "--json")
            assert json.loads(capsys.readouterr().out)["until"]
            return Job.objects.filter(machine=brecca, job_id=jobs[0]).first()

        row = until(pulled, 30, f"job {jobs[0]} was not pulled", every=0.5)
        assert not QuarantinedRecord.objects.filter(machine_name="brecca", key=jobs[0]).exists()
        assert (row.project, row.person) == (example.projects["ProjectD"], example.people["farid"])
        assert row.cores * row.elapsed >= 180
        charged = Job.objects.filter(machine=brecca, project=example.projects["ProjectD"])
        used = used_by_pool([pool.pk])[pool.pk]
        assert used == Decimal(sum(j.cores * j.elapsed for j in charged)) / 3600
        (left,) = summarise(AllocationPool.objects.filter(pk=pool.pk))
        assert left.remaining <= 0, left  # exhausted by the pulled usage

        # The sync holds the account at what Slurm has counted: the next job waits.
        outcome = sync(brecca)
        assert not outcome.failed, outcome.failed
        have = observed(cluster)
        assert have.limits[ACCOUNT] <= have.used_minutes[ACCOUNT], have.limits[ACCOUNT]
        jobs.append(submit(cluster, farid, ACCOUNT, 1, minutes=1))
        until(lambda: pending_reason(cluster, jobs[1]) == ("PENDING", "AssocGrpCPUMinutesLimit"),
              20, f"job {jobs[1]} was not held by the limit")  # fmt: skip

        # A new grant, a sync, and it runs.
        this_years_pool(example, "ProjectD", Decimal(1))
        outcome = sync(brecca)
        assert [c for c in outcome.applied if ACCOUNT in c and "GrpTRESMins" in c], outcome.applied
        assert observed(cluster).limits[ACCOUNT] >= 1 + have.used_minutes[ACCOUNT]
        end = until(lambda: finished(cluster, jobs[1]), 60, f"job {jobs[1]} stayed held")
        assert end["state"] == "COMPLETED", end
    finally:
        for job in jobs:
            subprocess.run(["scancel", job], env=cluster.env(), check=False)
