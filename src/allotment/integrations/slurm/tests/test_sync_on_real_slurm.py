"""Sync and usage pull against the real slurmdbd and slurmctld of `allot dev slurm`."""

import json
import subprocess
import time
from decimal import Decimal

import pytest
from django.core.management import call_command

from allotment.integrations.slurm.sacctmgr import Cluster
from allotment.integrations.slurm.sync import observed, sync
from allotment.projects.services import move_project, remove_member
from allotment.usage.models import Job, QuarantinedRecord

from .conftest import pending_reason, run_job, submit, this_years_pool, unix_user

pytestmark = pytest.mark.slurm


def test_a_synced_cluster_equals_the_ledger_and_a_second_sync_plans_nothing(brecca, capsys):
    have = observed(Cluster.of(brecca))
    assert have.accounts["projectd"] == ("projectc", "institutec")
    assert ("bob", "projectb") in have.associations
    assert have.defaults["bob"] == "projecta"
    capsys.readouterr()
    call_command("slurm", "sync", "brecca", "--json")
    assert json.loads(capsys.readouterr().out)["commands"] == []


def test_dry_run_prints_the_plan_and_changes_nothing(brecca, example, capsys):
    remove_member(example.projects["ProjectB"], example.people["bob"])
    capsys.readouterr()
    call_command("slurm", "sync", "brecca", "--dry-run", "--json")
    planned = json.loads(capsys.readouterr().out)["commands"]
    assert planned == ["remove user where name=bob account=projectb cluster=brecca"]
    assert ("bob", "projectb") in observed(Cluster.of(brecca)).associations
    outcome = sync(brecca)
    assert outcome.applied == planned
    assert ("bob", "projectb") not in observed(Cluster.of(brecca)).associations
    assert sync(brecca, dry_run=True).plan.empty


def test_a_moved_project_moves_its_account(brecca, example):
    move_project(example.projects["ProjectD"], example.projects["InstituteC"])
    outcome = sync(brecca)
    assert outcome.applied == [
        "modify account where name=projectd cluster=brecca set parent=institutec"
    ]
    assert observed(Cluster.of(brecca)).accounts["projectd"][0] == "institutec"


def test_a_real_job_is_pulled_and_charged_once(brecca, example):
    pool = this_years_pool(example, "ProjectA", Decimal(100))
    sync(brecca)  # the new allocation becomes projecta's limit
    cluster = Cluster.of(brecca)
    job = run_job(cluster, unix_user("alice"), "projecta")
    from allotment.integrations.slurm.usage import pull

    for _ in range(30):  # sacct's time windows lag a job's end by a few seconds
        summary = pull(brecca)
        if Job.objects.filter(machine=brecca, job_id=job).exists():
            break
        time.sleep(0.5)
    row = Job.objects.get(machine=brecca, job_id=job)
    assert (row.username, row.account, row.cores) == ("alice", "projecta", 1)
    assert row.project == example.projects["ProjectA"] and row.person == example.people["alice"]
    again = pull(brecca)
    assert again["new"] == 0 and summary["read"] >= 1
    # Other jobs of the last hour on the dev cluster (by hand, or of accounts a test made
    # and the next sync removed) may be quarantined; this one is not.
    assert not QuarantinedRecord.objects.filter(
        machine_name="brecca", key__startswith=f"{job}@"
    ).exists()
    from allotment.grants.services import used_by_pool

    # The cluster outlives test runs, so earlier jobs of ProjectA are pulled too: the pool
    # holds exactly the pulled jobs of ProjectA, each once.
    pulled = Job.objects.filter(machine=brecca, project=example.projects["ProjectA"])
    core_seconds = sum(j.cores * j.elapsed for j in pulled)
    assert used_by_pool([pool.pk])[pool.pk] == Decimal(core_seconds) / 3600


def test_removing_an_association_with_a_running_job_is_deferred(brecca, example):
    this_years_pool(example, "ProjectA", Decimal(100))
    sync(brecca)
    cluster = Cluster.of(brecca)
    user = unix_user("chen")
    job = submit(cluster, user, "projecta", 60)
    try:
        deadline = time.monotonic() + 30
        while cluster.run("squeue", "-h", "-j", job, "-o", "%T").strip() != "RUNNING":
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.2)
        remove_member(example.projects["ProjectA"], example.people["chen"])
        outcome = sync(brecca)
        assert [d["command"] for d in outcome.deferred] == [
            "remove user where name=chen cluster=brecca"
        ]
        assert not outcome.failed
        assert ("chen", "projecta") in observed(cluster).associations
    finally:
        subprocess.run(["scancel", job], env=cluster.env(), check=False)
    deadline = time.monotonic() + 30
    while cluster.run("squeue", "-h", "-j", job, "-o", "%T").strip():
        assert time.monotonic() < deadline, "the job did not go away"
        time.sleep(0.2)
    outcome = sync(brecca)
    assert outcome.applied == ["remove user where name=chen cluster=brecca"]
    assert ("chen", "projecta") not in observed(cluster).associations


def test_a_cluster_populated_by_hand_is_adopted_and_then_in_sync(brecca, capsys):
    cluster = Cluster.of(brecca)
    for command in (
        "add account physics cluster=brecca parent=root",
        "add account lasers,optics cluster=brecca parent=physics",
        "add user zoe account=lasers,optics cluster=brecca defaultaccount=optics",
        "add user yan account=lasers cluster=brecca",
    ):
        cluster.run("sacctmgr", "-i", *command.split(" "))
    capsys.readouterr()
    call_command("slurm", "import", "brecca", "--json")
    made = json.loads(capsys.readouterr().out)
    assert made == {"projects": 3, "people": 2, "accounts": 2, "memberships": 3}
    from allotment.people.models import Person
    from allotment.projects.models import Project

    assert Project.objects.get(pid="optics").parent.pid == "physics"
    zoe = Person.objects.get(username="zoe")
    assert zoe.institute.pid == "physics"
    assert zoe.memberships.get(is_default_project=True).project.pid == "optics"
    plan = sync(brecca, dry_run=True).plan
    assert plan.load == "" and not [c for c in plan.commands if c.startswith("remove")]
    call_command("slurm", "import", "brecca", "--json")
    assert json.loads(capsys.readouterr().out) == {
        "projects": 0, "people": 0, "accounts": 0, "memberships": 0
    }  # fmt: skip


def test_an_allocation_run_out_holds_the_next_job_until_a_new_grant(brecca, example):
    this_years_pool(example, "ProjectB", Decimal("0.01"))  # 36 core-seconds
    outcome = sync(brecca)
    assert "modify account where name=projectb cluster=brecca set GrpTRESMins=cpu=0" in (
        outcome.applied
    )  # 36 core-seconds are less than a whole minute
    cluster = Cluster.of(brecca)
    bob = unix_user("bob")
    deadline = time.monotonic() + 60
    while True:  # slurmctld hears of the limit from slurmdbd a moment after the sync
        code, out = cluster.attempt(
            "sbatch", "--parsable", f"--uid={bob}", "--account=projectb", "--time=1",
            "--output=/dev/null", "--chdir=/tmp", "--wrap=sleep 1",
        )  # fmt: skip
        assert code == 0 or ("Invalid account" in out and time.monotonic() < deadline), out
        if code == 0:
            job = out.strip().split(";")[0]
            break
        time.sleep(0.3)
    deadline = time.monotonic() + 20
    while pending_reason(cluster, job) != ("PENDING", "AssocGrpCPUMinutesLimit"):
        assert time.monotonic() < deadline, pending_reason(cluster, job)
        time.sleep(0.3)
    this_years_pool(example, "ProjectB", Decimal(2))  # two more hours
    outcome = sync(brecca)
    assert any("set GrpTRESMins=cpu=" in c and "projectb" in c for c in outcome.applied)
    deadline = time.monotonic() + 60
    while pending_reason(cluster, job)[0] == "PENDING":
        assert time.monotonic() < deadline, pending_reason(cluster, job)
        time.sleep(0.3)


def test_the_agent_syncs_a_ledger_change_and_pulls_usage(brecca, example, capsys):
    remove_member(example.projects["ProjectB"], example.people["bob"])
    capsys.readouterr()
    call_command("agent", "--once", "--json")
    done = [d for d in json.loads(capsys.readouterr().out) if d.get("machine")]
    assert [(d["machine"], d["step"], d["ok"]) for d in done] == [
        ("brecca", "sync", True), ("brecca", "pull", True)
    ]  # fmt: skip
    assert done[0]["result"]["applied"] == [
        "remove user where name=bob account=projectb cluster=brecca"
    ]
    assert ("bob", "projectb") not in observed(Cluster.of(brecca)).associations
