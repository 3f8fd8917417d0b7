"""What the ledger requires before a job reaches Slurm, and what a request may ask for.
slurmrestd is FakeSlurm: a refused job must never reach it."""

import hashlib
from datetime import date
from decimal import Decimal

import pytest

from allotment.integrations.slurm.tests.conftest import this_years_pool
from allotment.jobs import services
from allotment.jobs.models import Submission
from allotment.resources.models import Account

from .conftest import SCRIPT


def ask(**changes) -> services.Ask:
    return services.Ask(**{"script": SCRIPT, "project": "ProjectB", **changes})


def refusal(person, fake, **changes) -> str:
    with pytest.raises(services.JobRefused) as e:
        services.submit(person, ask(**changes))
    assert [c for c in fake.calls if c[0] == "submit"] == []
    assert not Submission.objects.exists()
    return str(e.value)


def this_years_cpu_hours(example, pid: str, hours: str) -> None:
    this_years_pool(example, pid, Decimal(hours))


def test_a_job_goes_to_slurm_as_the_persons_account_and_is_recorded(example, fake_slurm):
    alice = example.people["alice"]
    row = services.submit(alice, ask(cores=2, minutes=30, memory_mb=500, name="hello"))
    ((_, user, job),) = fake_slurm.calls
    assert user == "alice"
    assert job.body() == {
        "script": SCRIPT,
        "job": {
            "name": "hello", "account": "projectb", "time_limit": 30, "tasks": 1,
            "cpus_per_task": 2, "current_working_directory": "/tmp",
            "standard_output": "/tmp/allot-%j.out", "memory_per_node": 500,
            "environment": {"PATH": "/usr/local/bin:/usr/bin:/bin", "USER": "alice",
                            "LOGNAME": "alice"},
        },
    }  # fmt: skip
    assert (row.job_id, row.person, row.slurm_user, row.project.pid, row.via) == (
        101, alice, "alice", "ProjectB", "cli",
    )  # fmt: skip
    assert row.script_sha256 == hashlib.sha256(SCRIPT.encode()).hexdigest()
    assert row.script_bytes == 21  # "#!/bin/sh\n" + "echo hello\n"
    assert (row.state, row.output_path) == ("PENDING", "/tmp/allot-101.out")


def test_an_image_is_passed_in_the_comment_burst_reads(example, fake_slurm):
    services.submit(example.people["bob"], ask(partition="burst", image="ubuntu-22"))
    ((_, user, job),) = fake_slurm.calls
    assert (user, job.body()["job"]["comment"], job.body()["job"]["partition"]) == (
        "bob", "image=ubuntu-22", "burst",
    )  # fmt: skip


def test_refused_without_an_account_on_the_machine(example, fake_slurm):
    Account.objects.filter(person__username="alice").update(date_deleted=date.today())
    assert refusal(example.people["alice"], fake_slurm) == (
        'alice has no account on brecca (machine category "default"): a job there needs an '
        "active account."
    )


def test_refused_with_a_disabled_account(example, fake_slurm):
    Account.objects.filter(person__username="alice").update(login_enabled=False)
    assert refusal(example.people["alice"], fake_slurm).startswith(
        "alice has a disabled account on brecca"
    )


def test_refused_outside_the_project(example, fake_slurm):
    assert refusal(example.people["eve"], fake_slurm) == (
        "eve is not a member of project ProjectB, so cannot charge jobs to it."
    )


def test_refused_when_no_allocation_covers_today(example, fake_slurm):
    # ProjectA's only CPU allocation is for 2100: Slurm's limit today is 0 minutes.
    assert refusal(example.people["alice"], fake_slurm, project="ProjectA") == (
        "Project ProjectA has no CPU time left on brecca: its allocation for today's period "
        "is spent (or it has none covering today)."
    )


def test_refused_when_the_allocation_is_spent(example, fake_slurm):
    this_years_cpu_hours(example, "ProjectB", "0")
    assert refusal(example.people["bob"], fake_slurm).startswith(
        "Project ProjectB has no CPU time left on brecca"
    )


def test_refused_when_the_job_may_use_more_than_is_left(example, fake_slurm):
    # 1 hour of CPU Hours, shared by brecca and tango by their capacity: brecca's share.
    this_years_cpu_hours(example, "ProjectB", "1")
    pool = example.pools["CPU Hours"]
    here = sum(r.quantity for r in pool.resources.filter(machine__name="brecca"))
    total = sum(r.quantity * r.scaling_factor for r in pool.resources.all())
    left = int(Decimal(3600) * here / total // 60)
    message = refusal(example.people["bob"], fake_slurm, cores=4, minutes=60)
    assert message == (
        f"The job may use up to 240 CPU minutes (4 cores × 60 min) but project ProjectB has "
        f"{left} left on brecca: ask for fewer cores or less time."
    )
    services.submit(example.people["bob"], ask(cores=1, minutes=left))  # what is left fits


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"script": ""}, "The script is empty."),
        ({"script": "echo hi\n"}, "The script must begin with #! and its interpreter"),
        ({"script": "#!/bin/sh\n" + "x" * services.MAX_SCRIPT_BYTES}, "The script is 65546 bytes"),
        ({"cores": 0}, "Cores must be from 1 to 256, not 0."),
        ({"cores": 257}, "Cores must be from 1 to 256, not 257."),
        ({"minutes": 7 * 1440 + 1}, "The time limit must be from 1 to 10080 minutes"),
        ({"memory_mb": -1}, "Memory must be from 0 to 1048576 MB, not -1."),
        ({"partition": "debug;rm"}, 'The partition "debug;rm" is not a name'),
        ({"image": "a b"}, 'The image "a b" is not a name'),
        ({"project": "Nope"}, 'There is no project "Nope".'),
        ({"machine": "tango"}, "Machine tango takes no jobs through Allotment"),
    ],
)
def test_what_a_request_may_ask_is_bounded(example, fake_slurm, changes, message):
    assert refusal(example.people["alice"], fake_slurm, **changes).startswith(message)


def test_only_site_admins_act_as_someone_else(example, fake_slurm):
    with pytest.raises(services.JobRefused, match=r"Only site administrators may act as another"):
        services.submit(example.people["bob"], ask(), as_username="alice")
    admin = example.people["dana"]
    admin.is_staff = True
    admin.save()
    row = services.submit(admin, ask(), as_username="alice")
    assert (row.person.username, row.submitted_by.username, fake_slurm.calls[0][1]) == (
        "alice", "dana", "alice",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("90", 90), ("90m", 90), ("1h", 60), ("1h30m", 90), ("2d", 2880), ("1:30:00", 90),
     ("10:30", 11), ("0:0:59", 1)],
)  # fmt: skip
def test_time_limits_as_people_write_them(text, minutes):
    assert services.parse_minutes(text) == minutes


@pytest.mark.parametrize("text", ["", "h", "1x", "1:2:3:4", "-5", "1.5h"])
def test_a_time_limit_that_is_not_one_is_refused(text):
    with pytest.raises(services.JobRefused, match="is not a time limit"):
        services.parse_minutes(text)
