"""`allot application`: list with --json, decide by reference, refusals with exit code 1."""

import json

import pytest
from auditlog.models import LogEntry
from django.core import mail
from django.core.management import call_command

from allotment.applications import services
from allotment.projects.models import ProjectMembership

from .helpers import link_token


def run_json(capsys, *args):
    capsys.readouterr()
    call_command("application", *args, "--json")
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def requests_(example, person):
    """farid asks to join ProjectA; bob applies for a project under InstituteA."""
    join = services.request_to_join(person("farid"), example.projects["ProjectA"], "please")
    project = services.apply_for_project(
        person("bob"), example.projects["InstituteA"], "Thesis", "Bob's thesis"
    )
    return join, project


def test_list_shows_pending_requests_of_every_kind(requests_, capsys):
    join, project = requests_
    rows = run_json(capsys, "list", "--state", "pending")
    assert {(r["ref"], r["kind"], r["who"], r["project"]) for r in rows} == {
        (join.ref, "join", "farid", "ProjectA"),
        (project.ref, "project", "bob", "Thesis"),
    }
    assert run_json(capsys, "list", "--kind", "join", "--state", "approved") == []
    assert [r["ref"] for r in run_json(capsys, "list", "--project", "ProjectA")] == [join.ref]


def test_approve_by_reference_creates_the_membership_as_the_actor(
    requests_, capsys, monkeypatch, django_capture_on_commit_callbacks
):
    join, _ = requests_
    monkeypatch.setenv("ALLOTMENT_ACTOR", "alice")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("application", "approve", join.ref.lower(), "--level", "Student")
    assert f"Approved {join.ref}" in capsys.readouterr().out
    membership = ProjectMembership.objects.get(person__username="farid", project__pid="ProjectA")
    assert membership.project_level.name == "Student"
    entry = LogEntry.objects.get_for_object(membership).get()
    assert entry.actor.username == "alice"
    assert entry.additional_data["via"] == "cli"
    assert [m.to for m in mail.outbox] == [["farid@institutec.example.org"]]

    with pytest.raises(SystemExit) as e:
        call_command("application", "approve", join.ref)
    assert e.value.code == 1
    assert "was already approved by Alice Anand (alice)" in capsys.readouterr().err


def test_decline_needs_a_reason_and_records_it(requests_, capsys):
    _, project = requests_
    with pytest.raises(SystemExit) as e:
        call_command("application", "decline", project.ref, "--reason", " ")
    assert e.value.code == 1
    assert "error: reason: Give a reason for declining" in capsys.readouterr().err
    call_command("application", "decline", project.ref, "--reason", "Not now.")
    data = run_json(capsys, "show", project.ref)
    assert (data["state"], data["reason"]) == ("declined", "Not now.")


def test_invite_prints_the_link_and_revoke_stops_it(example, capsys):
    call_command("application", "invite", "ProjectB", "guest@uni.example")
    out = capsys.readouterr().out
    token = link_token(out)
    assert services.invitation_refusal(services.find_invitation(token)) is None
    [row] = run_json(capsys, "list", "--kind", "invitation")
    call_command("application", "revoke", row["ref"])
    assert "was revoked by" in services.invitation_refusal(services.find_invitation(token))


def test_an_unknown_reference_fails_with_exit_code_1(example, capsys):
    for ref in ("J999", "X1"):
        with pytest.raises(SystemExit) as e:
            call_command("application", "show", ref)
        assert e.value.code == 1
    err = capsys.readouterr().err
    assert "There is no join request J999." in err
    assert '"X1" is not a reference' in err


def test_list_and_show_print_tables_for_people(requests_, capsys):
    join, project = requests_
    call_command("application", "list", "--state", "open")
    table = capsys.readouterr().out
    assert join.ref in table and project.ref in table and "Thesis" in table
    call_command("application", "show", join.ref)
    shown = capsys.readouterr().out
    assert "farid" in shown and "please" in shown
