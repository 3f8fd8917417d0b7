"""How many jobs one person may submit: ALLOTMENT_JOB_SUBMIT_PER_HOUR in the last hour and
ALLOTMENT_JOB_UNFINISHED_MAX not finished, counted in services.check before Slurm is called,
on every surface, against the person a job is for; and the place a submission holds while
slurmrestd answers. slurmrestd is FakeSlurm."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from allotment.api import tokens
from allotment.integrations.slurm import rest
from allotment.jobs import services
from allotment.jobs.models import SENDING, UNCONFIRMED, Submission

from .conftest import SCRIPT, cli


def ask() -> services.Ask:
    return services.Ask(SCRIPT, "ProjectB")


def sent(fake) -> int:
    return len([c for c in fake.calls if c[0] == "submit"])


def three_in_the_last_hour(person, fake) -> None:
    """Three of the person's jobs, submitted 50, 40 and 30 minutes ago (and finished)."""
    for _ in range(3):
        services.submit(person, ask())
    now = timezone.now()
    for minutes, row in zip((50, 40, 30), Submission.objects.order_by("pk"), strict=True):
        row.submitted_at, row.state = now - timedelta(minutes=minutes), "COMPLETED"
        row.save()
    assert sent(fake) == 3


def test_the_hourly_limit_refuses_and_says_when_to_submit_again(example, fake_slurm, settings):
    settings.ALLOTMENT_JOB_SUBMIT_PER_HOUR = 3
    alice = example.people["alice"]
    three_in_the_last_hour(alice, fake_slurm)
    with pytest.raises(services.LimitReached) as refused:
        services.submit(alice, ask())
    # The oldest (50 minutes ago) leaves the hour in 10 minutes.
    assert 598 <= refused.value.retry_after <= 600
    assert str(refused.value).startswith(
        "alice has submitted 3 jobs in the last hour; at most 3 an hour are taken "
        "(ALLOTMENT_JOB_SUBMIT_PER_HOUR). Submit again after "
    )
    assert str(refused.value).endswith(f"(in {refused.value.retry_after} s).")
    assert sent(fake_slurm) == 3 and Submission.objects.count() == 3
    # Lowered to 2: the second oldest (40 minutes ago) must leave too: 20 minutes.
    settings.ALLOTMENT_JOB_SUBMIT_PER_HOUR = 2
    with pytest.raises(services.LimitReached) as refused:
        services.submit(alice, ask())
    assert 1198 <= refused.value.retry_after <= 1200
    # Others are not held back by alice's count.
    services.submit(example.people["bob"], ask())
    assert sent(fake_slurm) == 4


def test_submissions_older_than_an_hour_do_not_count(example, fake_slurm, settings):
    settings.ALLOTMENT_JOB_SUBMIT_PER_HOUR = 3
    alice = example.people["alice"]
    three_in_the_last_hour(alice, fake_slurm)
    Submission.objects.filter(pk=Submission.objects.order_by("pk")[0].pk).update(
        submitted_at=timezone.now() - timedelta(minutes=61)
    )
    services.submit(alice, ask())
    assert sent(fake_slurm) == 4


def test_the_unfinished_limit_counts_jobs_not_finished_as_last_seen(example, fake_slurm, settings):
    settings.ALLOTMENT_JOB_UNFINISHED_MAX = 2
    bob = example.people["bob"]
    first, _ = services.submit(bob, ask()), services.submit(bob, ask())
    fake_slurm.calls.clear()
    with pytest.raises(services.LimitReached) as refused:
        services.submit(bob, ask())
    assert str(refused.value) == (
        "bob has 2 jobs submitted through Allotment that have not finished (as last seen); "
        "at most 2 at once are taken (ALLOTMENT_JOB_UNFINISHED_MAX). Submit more once some "
        "have finished."
    )
    assert refused.value.retry_after is None
    # At the edge the states are read from Slurm first (as bob): one has ended since.
    assert fake_slurm.calls == [("jobs", "bob")]
    fake_slurm.state[first.job_id] = "COMPLETED"
    services.submit(bob, ask())
    first.refresh_from_db()
    assert first.state == "COMPLETED" and sent(fake_slurm) == 1


def test_a_site_administrators_submissions_as_someone_count_against_them(
    example, fake_slurm, settings
):
    settings.ALLOTMENT_JOB_SUBMIT_PER_HOUR = 2
    dana, alice = example.people["dana"], example.people["alice"]
    dana.is_staff = True
    dana.save()
    services.submit(dana, ask(), as_username="alice")
    services.submit(dana, ask(), as_username="alice")
    with pytest.raises(services.LimitReached, match=r"^alice has submitted 2 jobs"):
        services.submit(alice, ask())
    with pytest.raises(services.LimitReached, match=r"^alice has submitted 2 jobs"):
        services.submit(dana, ask(), as_username="alice")
    assert sent(fake_slurm) == 2


def test_a_submission_holds_its_place_while_slurmrestd_answers(example, fake_slurm, settings):
    # What a second request of alice's meets while her first one waits for slurmrestd:
    # the first's row (SENDING, no id yet) is counted, under the same lock it was written.
    settings.ALLOTMENT_JOB_SUBMIT_PER_HOUR = 1
    alice = example.people["alice"]
    met = []

    def second_request():
        (row,) = Submission.objects.all()
        met.append((row.state, row.job_id))
        with pytest.raises(services.LimitReached):
            services.check_limits(alice)

    fake_slurm.during_submit = second_request
    row = services.submit(alice, ask())
    assert met == [(SENDING, None)]
    assert (row.state, row.job_id) == ("PENDING", 101)


def test_of_two_requests_at_the_edge_only_one_passes(example, fake_slurm, settings,
                                                    monkeypatch):  # fmt: skip
    # Both pass the early (unlocked) count; the other then goes all the way through before
    # this one reserves its place: the count under the lock refuses this one.
    settings.ALLOTMENT_JOB_SUBMIT_PER_HOUR = 1
    alice = example.people["alice"]
    unlocked = services.check_limits
    other = []

    def racing(person, refresh=False):
        unlocked(person, refresh)
        if refresh and not other:
            other.append(None)
            other[0] = services.submit(alice, ask())

    monkeypatch.setattr(services, "check_limits", racing)
    with pytest.raises(services.LimitReached, match=r"^alice has submitted 1 job in the last"):
        services.submit(alice, ask())
    assert sent(fake_slurm) == 1
    assert list(Submission.objects.values_list("pk", "state")) == [(other[0].pk, "PENDING")]


def test_a_job_slurm_refuses_leaves_no_row_and_no_place_held(example, fake_slurm):
    def refuse():
        raise rest.RestError("Slurm on brecca refused alice's job: no such partition.", "refused")

    fake_slurm.during_submit = refuse
    with pytest.raises(services.JobRefused, match="no such partition"):
        services.submit(example.people["alice"], ask())
    assert not Submission.objects.exists()


def test_no_answer_from_slurmrestd_leaves_an_unconfirmed_row_that_counts_in_the_hour(
    example, fake_slurm, settings
):
    settings.ALLOTMENT_JOB_SUBMIT_PER_HOUR = 1

    def no_answer():
        raise rest.RestError("slurmrestd of brecca did not answer", "unreachable")

    fake_slurm.during_submit = no_answer
    alice = example.people["alice"]
    with pytest.raises(services.JobRefused, match="did not answer"):
        services.submit(alice, ask())
    assert list(Submission.objects.values_list("state", "job_id")) == [(UNCONFIRMED, None)]
    assert services.submissions(alice) == []  # no job id: nothing to show or cancel
    fake_slurm.during_submit = lambda: None
    with pytest.raises(services.LimitReached):
        services.submit(alice, ask())


def test_a_place_held_past_the_deadline_becomes_unconfirmed(example, fake_slurm, settings):
    # The process stopped while slurmrestd was being called: its row stays SENDING.
    settings.ALLOTMENT_JOB_UNFINISHED_MAX = 1
    alice = example.people["alice"]
    services.submit(alice, ask())
    Submission.objects.update(
        state=SENDING, job_id=None,
        submitted_at=timezone.now() - services.SENDING_DEADLINE - timedelta(seconds=1),
    )  # fmt: skip
    row = services.submit(alice, ask())
    states = list(Submission.objects.order_by("pk").values_list("state", flat=True))
    assert states == [UNCONFIRMED, "PENDING"] and row.job_id == 102


def test_the_api_answers_429_with_retry_after(example, fake_slurm, settings):
    settings.ALLOTMENT_JOB_SUBMIT_PER_HOUR = 3
    alice = example.people["alice"]
    three_in_the_last_hour(alice, fake_slurm)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.issue(alice).token}")
    answer = client.post("/api/jobs/", {"script": SCRIPT, "project": "ProjectB"}, format="json")
    assert answer.status_code == 429
    assert 598 <= int(answer["Retry-After"]) <= 600
    assert answer.json()["detail"].startswith("alice has submitted 3 jobs in the last hour")
    settings.ALLOTMENT_JOB_SUBMIT_PER_HOUR, settings.ALLOTMENT_JOB_UNFINISHED_MAX = 10, 3
    Submission.objects.update(state="RUNNING")
    answer = client.post("/api/jobs/", {"script": SCRIPT, "project": "ProjectB"}, format="json")
    assert answer.status_code == 429 and "Retry-After" not in answer
    assert "ALLOTMENT_JOB_UNFINISHED_MAX" in answer.json()["detail"]


def test_the_web_form_and_the_cli_show_the_limit(example, fake_slurm, settings, tmp_path,
                                                 capsys, monkeypatch):  # fmt: skip
    settings.ALLOTMENT_JOB_SUBMIT_PER_HOUR = 3
    alice = example.people["alice"]
    three_in_the_last_hour(alice, fake_slurm)
    browser = Client()
    browser.force_login(alice)
    answer = browser.post("/jobs/", {"script": SCRIPT, "project": "ProjectB",
                                     "machine": "brecca", "cores": "1", "memory_mb": "0",
                                     "time": "10"})  # fmt: skip
    assert answer.status_code == 400
    assert b"alice has submitted 3 jobs in the last hour; at most 3" in answer.content
    script = tmp_path / "run.sh"
    script.write_text(SCRIPT)
    code, _, err = cli(capsys, monkeypatch, "alice", "submit", str(script), "--project",
                       "ProjectB")  # fmt: skip
    assert code == 1 and err.startswith("error: alice has submitted 3 jobs in the last hour")
    assert sent(fake_slurm) == 3
