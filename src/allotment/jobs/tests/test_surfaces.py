"""The CLI, the web pages and the API act as the signed-in (or running) person through
jobs.services; another person's job is answered as missing everywhere. slurmrestd is
FakeSlurm here (the real one: test_on_real_slurm)."""

import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from allotment.api import tokens
from allotment.jobs import services

from .conftest import SCRIPT, cli


@pytest.fixture
def alices_job(example, fake_slurm):
    return services.submit(example.people["alice"], services.Ask(SCRIPT, "ProjectB"))


def api(person) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.issue(person).token}")
    return client


def test_the_cli_submits_as_the_person_running_it(example, fake_slurm, tmp_path, capsys,
                                                  monkeypatch):  # fmt: skip
    script = tmp_path / "run.sh"
    script.write_text(SCRIPT)
    code, out, _ = cli(capsys, monkeypatch, "bob", "submit", str(script), "--project",
                       "ProjectB", "--cores", "2", "--time", "1h30m", "--json")  # fmt: skip
    data = json.loads(out)
    assert (code, data["person"], data["cores"], data["time_minutes"], data["name"]) == (
        0, "bob", 2, 90, "run.sh",
    )  # fmt: skip
    assert fake_slurm.calls[0][1] == "bob"


def test_the_cli_refuses_someone_not_in_the_ledger(example, fake_slurm, capsys, monkeypatch):
    code, _, err = cli(capsys, monkeypatch, "nobody-here", "list")
    assert (code, err.startswith("error: You (")) == (1, True)


def test_bob_cannot_see_or_cancel_alices_job_through_the_cli(alices_job, fake_slurm, capsys,
                                                             monkeypatch):  # fmt: skip
    job = alices_job.job_id
    for verb in ("show", "cancel"):
        code, _, err = cli(capsys, monkeypatch, "bob", verb, str(job))
        assert (code, err) == (1, f"error: bob has no job {job} submitted through Allotment.\n")
    code, out, _ = cli(capsys, monkeypatch, "bob", "list", "--json")
    assert (code, json.loads(out)) == (0, [])
    assert [c for c in fake_slurm.calls if c[0] == "cancel"] == []


def test_the_web_form_submits_and_lists_the_persons_jobs(example, fake_slurm):
    browser = Client()
    browser.force_login(example.people["alice"])
    page = browser.get("/jobs/")
    assert page.status_code == 200 and b'href="/jobs/"' in page.content  # the nav link
    answer = browser.post("/jobs/", {"script": SCRIPT, "project": "ProjectB",
                                     "machine": "brecca", "cores": "1", "memory_mb": "0",
                                     "time": "10"})  # fmt: skip
    assert answer.status_code == 302 and answer["Location"] == "/jobs/brecca/101/"
    assert fake_slurm.calls[0][1] == "alice"
    assert b"/jobs/brecca/101/" in browser.get("/jobs/").content


def test_the_web_form_shows_a_refusal(example, fake_slurm):
    browser = Client()
    browser.force_login(example.people["alice"])
    answer = browser.post("/jobs/", {"script": SCRIPT, "project": "ProjectA",
                                     "machine": "brecca", "cores": "1", "memory_mb": "0",
                                     "time": "10"})  # fmt: skip
    assert answer.status_code == 400
    assert b"Project ProjectA has no CPU time left on brecca" in answer.content
    assert fake_slurm.calls == []


def test_bob_cannot_cancel_alices_job_through_the_web_form(example, alices_job, fake_slurm):
    browser = Client()
    browser.force_login(example.people["bob"])
    url = f"/jobs/brecca/{alices_job.job_id}/"
    assert browser.get(url).status_code == 404
    assert browser.post(url + "cancel/").status_code == 404
    assert [c for c in fake_slurm.calls if c[0] == "cancel"] == []


def test_the_api_submits_shows_and_cancels_as_the_caller(example, fake_slurm):
    alice = api(example.people["alice"])
    answer = alice.post("/api/jobs/", {"script": SCRIPT, "project": "ProjectB", "time": "5"},
                        format="json")  # fmt: skip
    assert answer.status_code == 201, answer.content
    job = answer.json()["job_id"]
    shown = alice.get(f"/api/jobs/brecca/{job}/").json()
    assert (shown["person"], shown["slurm"]["user"], shown["slurm"]["state"]) == (
        "alice", "alice", "PENDING",
    )  # fmt: skip
    bob = api(example.people["bob"])
    assert bob.get(f"/api/jobs/brecca/{job}/").status_code == 404
    assert bob.delete(f"/api/jobs/brecca/{job}/").status_code == 404
    assert bob.get("/api/jobs/").json() == []
    assert alice.delete(f"/api/jobs/brecca/{job}/").json()["state"] == "CANCELLED"
    assert ("cancel", "alice", job) in fake_slurm.calls


def test_the_api_refuses_with_the_reason_and_bounds_the_input(example, fake_slurm):
    alice = api(example.people["alice"])
    spent = alice.post("/api/jobs/", {"script": SCRIPT, "project": "ProjectA"}, format="json")
    assert spent.status_code == 400
    (reason,) = spent.json()["errors"]["non_field_errors"]
    assert reason.startswith("Project ProjectA has no CPU time left on brecca")
    big = alice.post("/api/jobs/", {"script": "#!/bin/sh\n" + "x" * 70000,
                                    "project": "ProjectB"}, format="json")  # fmt: skip
    assert big.status_code == 400 and list(big.json()["errors"]) == ["script"]
    assert alice.get("/api/jobs/?limit=201").status_code == 400
    assert Client().get("/api/jobs/").status_code == 401
    assert fake_slurm.calls == []


@pytest.mark.parametrize(
    "path",
    ["/api/jobs/?as_user=alice", "/api/jobs/brecca/101/?as_user=alice",
     "/api/jobs/brecca/101/output/?as_user=alice"],
)  # fmt: skip
def test_as_user_does_not_let_anyone_but_a_site_administrator_read_anothers_jobs(
    example, alices_job, fake_slurm, path
):
    answer = api(example.people["bob"]).get(path)
    assert answer.status_code == 400
    assert "Only site administrators may act as another person (alice)" in answer.content.decode()
    assert not [c for c in fake_slurm.calls if c[1] == "alice" and c[0] != "submit"]
