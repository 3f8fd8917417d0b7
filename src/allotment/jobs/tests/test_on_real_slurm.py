"""Jobs on the real loopback Slurm through its slurmrestd (started by `allot dev slurm up`):
each runs as the person who submitted it, through the CLI and through the web form, its
output is shown to its owner (the portal and the nodes share this host), and another
person can neither see nor cancel it, in the ledger or in Slurm itself.

Each test syncs the example site's brecca first, so Slurm has the ledger's associations.
"""

import pwd
import subprocess
import time
from datetime import date
from pathlib import Path

import pytest
from django.test import Client

from allotment.integrations.slurm import devcluster, rest
from allotment.integrations.slurm.tests.conftest import unix_user
from allotment.jobs import services
from allotment.jobs.models import Submission
from allotment.resources.models import Account, Machine

from .conftest import cli
from .test_submit_checks import this_years_cpu_hours

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

WHOAMI = '#!/bin/sh\necho "user=$(id -un) job=$SLURM_JOB_ID"\n'
SLEEPER = "#!/bin/sh\nsleep 120\n"
FINISHED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT")


@pytest.fixture
def brecca(slurm_cluster, example):
    from allotment.integrations.slurm.sync import sync

    for name in ("alice", "bob"):
        unix_user(name)
    devcluster.point_machine_at(slurm_cluster)
    machine = Machine.objects.get(name="brecca")
    outcome = sync(machine)
    assert not outcome.failed, outcome.failed
    yield machine
    slurm("scancel", "-u", "alice")
    slurm("scancel", "-u", "bob")


def slurm(*command: str) -> str:
    env = devcluster.layout().env()
    return subprocess.run(command, env=env, capture_output=True, text=True).stdout.strip()


def submitted(submit, timeout: float = 30):
    """submit() once slurmctld knows the synced associations (it learns them from slurmdbd a
    moment after the sync: until then a job is refused as an invalid account)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return submit()
        except services.JobRefused as e:
            if "may not charge that account" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def sacct(job_id: int, fields: str = "User,State") -> list[str]:
    return slurm("sacct", "-n", "-X", "-P", "-j", str(job_id), "-o", fields).split("|")


def finished(job_id: int, timeout: float = 60) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = sacct(job_id)
        if len(row) > 1 and row[1].split()[0] in FINISHED:
            return [row[0], row[1].split()[0]]  # "CANCELLED by 1001": the state alone
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {row}")


def running_or_pending(job_id: int) -> str:
    return slurm("squeue", "-h", "-j", str(job_id), "-o", "%T")


def test_a_job_submitted_through_the_cli_runs_as_its_person(
    brecca, example, tmp_path, capsys, monkeypatch
):
    script = tmp_path / "whoami.sh"
    script.write_text(WHOAMI)

    def submit():
        code, out, err = cli(
            capsys, monkeypatch, "alice", "submit", str(script), "--project", "ProjectB",
            "--time", "5",
        )  # fmt: skip
        if code:
            raise services.JobRefused(err)
        return out

    out = submitted(submit)
    row = Submission.objects.get(person__username="alice")
    assert out.split() == (
        f"Submitted job {row.job_id} on brecca as alice, charged to ProjectB.".split()
    )
    assert finished(row.job_id) == ["alice", "COMPLETED"]
    output = Path(brecca.engine_options["jobs_dir"]) / f"allot-{row.job_id}.out"
    assert row.output_path == str(output)
    assert output.read_text() == f"user=alice job={row.job_id}\n"
    assert pwd.getpwuid(output.stat().st_uid).pw_name == "alice"
    code, out, _ = cli(capsys, monkeypatch, "alice", "list", "--json")
    assert code == 0 and f'"job_id": {row.job_id}' in out
    # What the job printed, for alice; bob is told there is no such job of his.
    code, out, _ = cli(capsys, monkeypatch, "alice", "output", str(row.job_id))
    assert (code, out) == (0, f"user=alice job={row.job_id}\n")
    code, _, err = cli(capsys, monkeypatch, "bob", "output", str(row.job_id))
    assert (code, err) == (1, f"error: bob has no job {row.job_id} submitted through Allotment.\n")


def test_a_job_submitted_through_the_web_form_runs_as_its_person(brecca, example):
    browser = Client()
    browser.force_login(example.people["bob"])
    form = {"script": WHOAMI, "project": "ProjectB", "machine": "brecca", "cores": "1",
            "memory_mb": "0", "time": "5", "partition": "", "image": "", "name": "web"}  # fmt: skip

    def submit():
        answer = browser.post("/jobs/", form)
        if answer.status_code != 302:
            raise services.JobRefused(answer.content.decode())
        return answer

    answer = submitted(submit)
    row = Submission.objects.get(person__username="bob")
    assert answer["Location"] == f"/jobs/brecca/{row.job_id}/"
    assert (row.via, row.slurm_user, row.name) == ("web", "bob", "web")
    assert finished(row.job_id) == ["bob", "COMPLETED"]
    page = browser.get(f"/jobs/brecca/{row.job_id}/")
    assert page.status_code == 200 and b"COMPLETED" in page.content
    assert "<h2>Output</h2>" in page.content.decode()
    assert f">user=bob job={row.job_id}\n</pre>" in page.content.decode()
    alice = Client()
    alice.force_login(example.people["alice"])
    assert alice.get(f"/jobs/brecca/{row.job_id}/").status_code == 404


def test_bob_cannot_cancel_alices_job_neither_in_allotment_nor_in_slurm(
    brecca, example, capsys, monkeypatch
):
    ask = services.Ask(script=SLEEPER, project="ProjectB", minutes=5)
    row = submitted(lambda: services.submit(example.people["alice"], ask))
    job = row.job_id
    assert running_or_pending(job) in ("PENDING", "RUNNING")

    # The CLI and the web form, as bob: not his job, answered as missing.
    code, _, err = cli(capsys, monkeypatch, "bob", "cancel", str(job))
    assert (code, err) == (1, f"error: bob has no job {job} submitted through Allotment.\n")
    browser = Client()
    browser.force_login(example.people["bob"])
    assert browser.post(f"/jobs/brecca/{job}/cancel/").status_code == 404
    assert browser.get(f"/jobs/brecca/{job}/").status_code == 404

    # slurmrestd itself, with a token for bob: refused, and alice's job is not shown to him.
    slurmrestd = rest.SlurmRest.for_options("brecca", brecca.engine_options)
    with pytest.raises(rest.RestError) as refused:
        slurmrestd.cancel("bob", job)
    assert (refused.value.kind, refused.value.status, refused.value.code) == ("denied", 500, 2002)
    assert str(refused.value) == (
        f"Slurm on brecca refused to let bob cancel job {job}: permission denied (only the "
        "job's owner or an operator may)."
    )
    with pytest.raises(rest.RestError) as hidden:
        slurmrestd.job("bob", job)
    assert hidden.value.kind == "not_found"
    assert job not in {j.job_id for j in slurmrestd.jobs("bob")}
    assert running_or_pending(job) in ("PENDING", "RUNNING")

    # alice cancels it herself.
    code, out, _ = cli(capsys, monkeypatch, "alice", "cancel", str(job))
    assert (code, out.split()) == (0, f"Cancelled job {job} on brecca.".split())
    assert finished(job) == ["alice", "CANCELLED"]
    uid = pwd.getpwnam("alice").pw_uid
    assert slurm("sacct", "-n", "-X", "-j", str(job), "-o", "State%30").strip() == (
        f"CANCELLED by {uid}"
    )


def test_an_expired_token_is_refused_with_a_clear_message(brecca):
    conf = brecca.engine_options["slurm_conf"]
    expired = rest.SlurmRest(
        devcluster.rest_url(), lambda user: rest.token_from_scontrol(conf, user, -5), "brecca"
    )
    job = rest.JobRequest(script=SLEEPER, account="projectb", working_dir="/tmp")
    with pytest.raises(rest.RestError) as e:
        expired.submit("alice", job)
    assert (e.value.kind, e.value.status, e.value.code) == ("auth", 500, 5005)
    assert str(e.value).startswith(
        "Slurm on brecca did not accept the token for alice, or slurmctld is not answering; "
        "could not submit a job"
    )


def test_a_token_signed_with_the_key_is_accepted(brecca):
    key = devcluster.layout().jwt_key
    signed = rest.SlurmRest(
        devcluster.rest_url(), lambda user: rest.token_from_key(key, user), "brecca"
    )
    assert signed.ping("alice") is True


def test_refused_without_an_account_and_nothing_reaches_slurm(brecca, example):
    Account.objects.filter(person__username="alice").update(date_deleted=date.today())
    before = slurm("squeue", "-h", "-u", "alice", "-o", "%i")
    with pytest.raises(services.JobRefused, match=r"^alice has no account on brecca"):
        services.submit(example.people["alice"], services.Ask(SLEEPER, "ProjectB"))
    assert slurm("squeue", "-h", "-u", "alice", "-o", "%i") == before
    assert not Submission.objects.exists()


def test_refused_with_the_allocation_spent_and_nothing_reaches_slurm(brecca, example):
    this_years_cpu_hours(example, "ProjectB", "0")
    before = slurm("squeue", "-h", "-u", "bob", "-o", "%i")
    with pytest.raises(services.JobRefused, match=r"^Project ProjectB has no CPU time left"):
        services.submit(example.people["bob"], services.Ask(SLEEPER, "ProjectB"))
    assert slurm("squeue", "-h", "-u", "bob", "-o", "%i") == before
    assert not Submission.objects.exists()


def test_a_running_job_shows_what_it_printed_so_far_and_its_submit_time(brecca, example):
    # slurmrestd's view carries the submit time (and requeue count) the id-reuse check
    # compares with the row's; a running job's output is read while it grows.
    script = "#!/bin/sh\necho started\nsleep 120\n"
    ask = services.Ask(script=script, project="ProjectB", minutes=5)
    alice = example.people["alice"]
    row = submitted(lambda: services.submit(alice, ask))
    deadline = time.monotonic() + 30
    while (found := services.output(alice, row.job_id)).text != "started\n":
        assert time.monotonic() < deadline, found
        time.sleep(0.3)
    shown, view = services.show(alice, row.job_id)
    assert view is not None and view.restarts == 0
    assert abs(view.submitted - row.submitted_at.timestamp()) < 5
    assert services.same_job(shown, view) and shown.state == "RUNNING"
    services.cancel(alice, row.job_id)
