"""Slurm reuses job ids (after MaxJobId, or a slurmctld whose state was reset): a second job
with an old job's id is recorded too, a lookup by id takes the person's newest, and Slurm's
view of the id is written only onto the row whose job it is. slurmrestd is FakeSlurm,
whose `next_id` is set back to hand out an id again."""

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from allotment.api import tokens
from allotment.integrations.slurm import rest
from allotment.jobs import services
from allotment.jobs.models import FINISHED, GONE, Submission

from .conftest import SCRIPT, cli


def submit(person) -> Submission:
    return services.submit(person, services.Ask(SCRIPT, "ProjectB"))


@pytest.fixture
def reused(example, fake_slurm):
    """alice's job 101 ran and finished; slurmctld then gave 101 to her next job."""
    alice = example.people["alice"]
    first = submit(alice)
    fake_slurm.state[101] = "COMPLETED"
    services.submissions(alice)  # she looks: the first is seen COMPLETED
    fake_slurm.next_id = 100
    second = submit(alice)
    return first, second


def test_a_second_job_with_an_old_jobs_id_is_recorded_too(reused):
    first, second = reused
    rows = Submission.objects.filter(machine__name="brecca", job_id=101).order_by("pk")
    assert [(r.pk, r.state) for r in rows] == [(first.pk, "COMPLETED"), (second.pk, "PENDING")]
    assert second.output_path == first.output_path == "/tmp/allot-101.out"


def test_show_and_cancel_act_on_the_newest_job_with_the_id(example, reused, fake_slurm):
    first, second = reused
    alice = example.people["alice"]
    row, view = services.show(alice, 101)
    assert (row.pk, view.state) == (second.pk, "PENDING")
    assert services.cancel(alice, 101, "brecca").pk == second.pk
    assert ("cancel", "alice", 101) in fake_slurm.calls
    states = dict(Submission.objects.values_list("pk", "state"))
    assert states == {first.pk: "COMPLETED", second.pk: "CANCELLED"}


def test_the_api_and_the_cli_show_the_newest(example, reused, capsys, monkeypatch):
    _, second = reused
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.issue(example.people['alice']).token}")
    shown = client.get("/api/jobs/brecca/101/").json()
    assert (shown["submitted_at"], shown["state"]) == (second.submitted_at.isoformat(), "PENDING")
    code, out, _ = cli(capsys, monkeypatch, "alice", "show", "101", "--json")
    assert code == 0 and f'"submitted_at": "{second.submitted_at.isoformat()}"' in out


def test_a_finished_job_is_not_cancelled_in_slurm_again(example, fake_slurm):
    alice = example.people["alice"]
    submit(alice)
    fake_slurm.state[101] = "COMPLETED"
    services.show(alice, 101)
    with pytest.raises(services.JobRefused, match=r"^Job 101 on brecca has finished \(COMPLETED\)"):
        services.cancel(alice, 101)
    assert [c for c in fake_slurm.calls if c[0] == "cancel"] == []


def test_an_unfinished_row_whose_id_is_given_again_is_gone_not_the_new_jobs(example, fake_slurm):
    # slurmctld's state was reset while bob's job was pending: it forgot it and starts
    # again at low ids, handing alice the same id.
    bob, alice = example.people["bob"], example.people["alice"]
    old = submit(bob)
    fake_slurm.owner.clear()
    fake_slurm.next_id = 100
    new = submit(alice)
    fake_slurm.state[101] = "RUNNING"
    assert [r.state for r in services.submissions(alice)] == ["RUNNING"]
    assert [r.state for r in services.submissions(bob)] == [GONE]
    old.refresh_from_db()
    assert old.finished and old.job_id == new.job_id == 101


def test_a_later_job_slurm_shows_under_the_rows_id_does_not_write_its_state(example, fake_slurm):
    # The id came round again outside Allotment (alice's own sbatch, say): Slurm's job 101
    # was submitted an hour after the row was recorded.
    alice = example.people["alice"]
    row = submit(alice)
    fake_slurm.submitted[101] = int((row.submitted_at + timedelta(hours=1)).timestamp())
    fake_slurm.state[101] = "RUNNING"
    assert [r.state for r in services.submissions(alice)] == ["PENDING"]
    shown, view = services.show(alice, 101)
    assert (shown.state, view) == ("PENDING", None)
    # A requeue moves a job's submit time too: that one is still the row's job.
    fake_slurm.restarts[101] = 1
    assert [r.state for r in services.submissions(alice)] == ["RUNNING"]


@pytest.mark.parametrize(
    ("after", "restarts", "same"),
    [(-3600, 0, True), (0, 0, True), (services.CLOCK_SKEW, 0, True),
     (services.CLOCK_SKEW + 1, 0, False), (3600, 2, True), (None, 0, True)],
)  # fmt: skip
def test_a_view_is_the_rows_job_unless_submitted_later(example, fake_slurm, after, restarts, same):
    row = submit(example.people["alice"])
    at = None if after is None else int(row.submitted_at.timestamp()) + after
    view = rest.JobView(101, "j", "alice", "projectb", "", "RUNNING", "", 1, 60, at,
                        None, None, None, restarts)  # fmt: skip
    assert services.same_job(row, view) is same
    other = rest.JobView(102, "j", "alice", "projectb", "", "RUNNING", "", 1, 60, None,
                         None, None, None)  # fmt: skip
    assert services.same_job(row, other) is False


def test_a_job_slurmctld_forgot_stops_counting_as_unfinished_and_show_reads_its_end(
    example, fake_slurm
):
    alice = example.people["alice"]
    row = submit(alice)
    # Submitted an hour ago, by both clocks.
    Submission.objects.filter(pk=row.pk).update(submitted_at=row.submitted_at - timedelta(hours=1))
    fake_slurm.submitted[101] -= 3600
    # It ran and ended while nobody looked; slurmctld forgot it, accounting keeps it.
    fake_slurm.state[101] = "COMPLETED"
    fake_slurm.forgotten.add(101)
    services.submissions(alice)
    assert Submission.objects.get(pk=row.pk).state == GONE
    assert not Submission.objects.filter(person=alice).exclude(state__in=FINISHED).exists()
    shown, view = services.show(alice, 101)
    assert (shown.state, view.state) == ("COMPLETED", "COMPLETED")


def test_a_job_recorded_just_now_is_not_taken_for_ended_before_slurmctld_lists_it(
    example, fake_slurm
):
    alice = example.people["alice"]
    row = submit(alice)
    fake_slurm.forgotten.add(101)  # not listed yet
    services.submissions(alice)
    assert Submission.objects.get(pk=row.pk).state == "PENDING"
