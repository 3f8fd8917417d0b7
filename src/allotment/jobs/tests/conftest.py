"""The example site's brecca taking jobs, with slurmrestd played by FakeSlurm (which keeps
what it was asked, and as whom) unless a test uses the real one (test_on_real_slurm)."""

import time

import pytest
from django.core.management import call_command

from allotment.integrations.slurm import rest
from allotment.jobs import services
from allotment.resources.models import Machine

SCRIPT = "#!/bin/sh\necho hello\n"


def cli(capsys, monkeypatch, actor: str, *args: str) -> tuple[int, str, str]:
    """`allot job ARGS` run by `actor` ($ALLOTMENT_ACTOR): (exit code, stdout, stderr)."""
    monkeypatch.setenv("ALLOTMENT_ACTOR", actor)
    capsys.readouterr()
    try:
        call_command("job", *args)
    except SystemExit as e:
        out = capsys.readouterr()
        return e.code, out.out, out.err
    out = capsys.readouterr()
    return 0, out.out, out.err


class FakeSlurm:
    """slurmrestd as seen through rest.SlurmRest: each call names its user; a job may be
    shown or cancelled only by the user who submitted it, as PrivateData=jobs has it."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.owner: dict[int, str] = {}
        self.state: dict[int, str] = {}
        self.submitted: dict[int, int] = {}
        self.restarts: dict[int, int] = {}
        self.forgotten: set[int] = set()  # ended MinJobAge ago: only accounting has them
        self.next_id = 100
        self.during_submit = lambda: None  # what happens while slurmrestd is being called

    def submit(self, user: str, job: rest.JobRequest) -> int:
        self.calls.append(("submit", user, job))
        self.during_submit()
        self.next_id += 1
        self.owner[self.next_id], self.state[self.next_id] = user, "PENDING"
        self.submitted[self.next_id] = int(time.time())
        self.restarts[self.next_id] = 0
        return self.next_id

    def jobs(self, user: str) -> list[rest.JobView]:
        self.calls.append(("jobs", user))
        return [self._view(j) for j, u in self.owner.items()
                if u == user and j not in self.forgotten]  # fmt: skip

    def job(self, user: str, job_id: int) -> rest.JobView:
        self.calls.append(("job", user, job_id))
        if self.owner.get(job_id) != user:
            raise rest.RestError(f"no job {job_id} for {user}", "not_found", 500, 2017)
        return self._view(job_id)

    def cancel(self, user: str, job_id: int) -> None:
        self.calls.append(("cancel", user, job_id))
        if self.owner.get(job_id) != user:
            raise rest.RestError(f"{user} may not cancel {job_id}", "denied", 500, 2002)
        self.state[job_id] = "CANCELLED"

    def _view(self, job_id: int) -> rest.JobView:
        return rest.JobView(
            job_id, "allot-job", self.owner[job_id], "projectb", "debug", self.state[job_id],
            "", 1, 60, self.submitted[job_id], None, None, None, self.restarts[job_id],
        )  # fmt: skip


@pytest.fixture
def brecca_rest(example):
    """brecca as `allot dev slurm up` points it, without starting anything."""
    Machine.objects.filter(name="brecca").update(
        engine="slurm",
        engine_options={
            "cluster": "brecca",
            "slurm_conf": "/nonexistent/slurm.conf",
            "slurmrestd": "http://127.0.0.1:9",
            "jobs_dir": "/tmp",
            "burst": {"partitions": ["burst"], "nodes": "burst[1-8]"},
        },
    )
    return Machine.objects.get(name="brecca")


@pytest.fixture
def fake_slurm(brecca_rest, monkeypatch):
    fake = FakeSlurm()
    monkeypatch.setattr(services, "client", lambda machine: fake)
    return fake
