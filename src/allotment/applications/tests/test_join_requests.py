"""A person asks to join a project; its leaders and supervisors approve or decline."""

import pytest
from auditlog.models import LogEntry
from django.core import mail
from django.core.exceptions import ValidationError

from allotment.applications import services
from allotment.applications.models import JoinRequest
from allotment.projects.models import ProjectLevel, ProjectMembership

from .helpers import mail_to, recipients


def is_member(username: str, pid: str) -> bool:
    return ProjectMembership.objects.filter(person__username=username, project__pid=pid).exists()


def ask(as_, committed, username: str, pid: str, message: str = "") -> JoinRequest:
    with committed():
        response = as_(username).post(f"/apply/join/{pid}/", {"message": message})
    assert response.status_code == 302, response.content.decode()
    assert response.url == "/apply/"
    return JoinRequest.objects.get(person__username=username, project__pid=pid, state="pending")


def test_farid_asks_to_join_project_a_and_alice_approves(as_, committed):
    page = as_("farid").get("/apply/join/")
    assert page.status_code == 200
    assert 'href="/apply/join/ProjectA/"' in page.content.decode()
    assert 'href="/apply/join/ProjectD/"' not in page.content.decode()  # already a member

    request = ask(as_, committed, "farid", "ProjectA", "I work with Alice on the survey.")
    # The leaders of ProjectA and of InstituteA above it, and ProjectA's supervisor, hear.
    assert recipients() == ["alice@institutea.example.org", "chen@institutea.example.org"]
    assert "farid" in mail.outbox[0].subject and "ProjectA" in mail.outbox[0].subject
    assert "I work with Alice on the survey." in mail.outbox[0].body
    assert "http://127.0.0.1:8000/apply/inbox/" in mail.outbox[0].body

    inbox = as_("alice").get("/apply/inbox/")
    assert f'action="/apply/{request.ref}/approve/"' in inbox.content.decode()
    mail.outbox.clear()
    level = ProjectLevel.objects.get(name="Student")
    with committed():
        response = as_("alice").post(f"/apply/{request.ref}/approve/", {"level": level.pk})
    assert response.status_code == 302

    membership = ProjectMembership.objects.get(person__username="farid", project__pid="ProjectA")
    assert membership.project_level == level
    assert not membership.is_leader
    request.refresh_from_db()
    assert (request.state, request.decided_by.username) == ("approved", "alice")
    [notice] = mail_to("farid@institutec.example.org")
    assert "now a member of ProjectA" in notice.subject
    assert recipients() == ["farid@institutec.example.org"]

    entries = LogEntry.objects.get_for_object(request).order_by("pk")
    assert [(e.action, e.actor.username) for e in entries] == [
        (LogEntry.Action.CREATE, "farid"),
        (LogEntry.Action.UPDATE, "alice"),
    ]
    assert LogEntry.objects.get_for_object(membership).get().actor.username == "alice"

    mine = as_("farid").get("/apply/").content.decode()
    assert request.ref in mine and "Approved" in mine


def test_alice_declines_with_a_reason_and_farid_reads_it(as_, committed):
    request = ask(as_, committed, "farid", "ProjectB")
    mail.outbox.clear()
    with committed():
        refused = as_("alice").post(f"/apply/{request.ref}/decline/", {"reason": "  "})
    assert "Give a reason for declining" in as_("alice").get("/apply/inbox/").content.decode()
    assert refused.status_code == 302 and mail.outbox == []
    with committed():
        as_("alice").post(f"/apply/{request.ref}/decline/", {"reason": "ProjectB is closing."})
    request.refresh_from_db()
    assert (request.state, request.reason) == ("declined", "ProjectB is closing.")
    assert not is_member("farid", "ProjectB")
    [notice] = mail.outbox
    assert notice.to == ["farid@institutec.example.org"]
    assert "declined" in notice.subject and "ProjectB is closing." in notice.body


def test_bob_cannot_see_or_decide_requests_to_join_project_c(as_, committed):
    request = ask(as_, committed, "farid", "ProjectC")
    approve_form = f'action="/apply/{request.ref}/approve/"'
    assert approve_form not in as_("bob").get("/apply/inbox/").content.decode()
    for action in ("approve", "decline"):
        response = as_("bob").post(f"/apply/{request.ref}/{action}/", {"reason": "no"})
        assert response.status_code == 404
    request.refresh_from_db()
    assert request.state == "pending"
    assert approve_form in as_("eve").get("/apply/inbox/").content.decode()


def test_a_second_request_while_one_is_pending_is_refused(as_, committed):
    ask(as_, committed, "farid", "ProjectA")
    page = as_("farid").post("/apply/join/ProjectA/", {"message": "again"})
    assert page.status_code == 200
    assert "already asked to join project &quot;ProjectA&quot;" in page.content.decode()
    assert JoinRequest.objects.filter(person__username="farid").count() == 1


def test_a_member_cannot_ask_to_join_again(person, example):
    with pytest.raises(ValidationError) as e:
        services.request_to_join(person("bob"), example.projects["ProjectA"])
    assert e.value.messages == ['Bob Brennan (bob) is already a member of project "ProjectA".']


def test_an_institute_cannot_be_joined(person, example):
    with pytest.raises(ValidationError, match="is an institute, not a project"):
        services.request_to_join(person("farid"), example.projects["InstituteA"])


def test_the_requester_withdraws_and_the_request_can_no_longer_be_approved(as_, committed, person):
    request = ask(as_, committed, "farid", "ProjectA")
    assert as_("bob").post(f"/apply/{request.ref}/withdraw/").status_code == 404
    as_("farid").post(f"/apply/{request.ref}/withdraw/")
    request.refresh_from_db()
    assert (request.state, request.decided_by.username) == ("withdrawn", "farid")
    with pytest.raises(ValidationError, match=r"was already withdrawn by Farid Fakhoury \(farid\)"):
        services.approve(request, person("alice"))
    assert not is_member("farid", "ProjectA")


def test_two_managers_approving_give_one_membership_and_name_the_winner(person, example):
    request = services.request_to_join(person("farid"), example.projects["ProjectA"])
    services.approve(request, person("alice"))
    with pytest.raises(ValidationError) as e:
        services.approve(request, person("chen"))  # ProjectA's supervisor, a moment later
    assert e.value.messages[0].startswith(
        'The request of Farid Fakhoury (farid) to join project "ProjectA" '
        f"({request.ref}) was already approved by Alice Anand (alice) on "
    )
    with pytest.raises(ValidationError, match="already approved by Alice"):
        services.decline(request, person("chen"), "too late")
    assert ProjectMembership.objects.filter(person__username="farid").count() == 2  # D and A
    request.refresh_from_db()
    assert request.decided_by.username == "alice"


def test_a_refused_approval_writes_nothing_and_sends_nothing(person, example, committed):
    request = services.request_to_join(person("farid"), example.projects["ProjectA"])
    # farid becomes a member some other way before the request is decided.
    ProjectMembership.objects.create(person=person("farid"), project=example.projects["ProjectA"])
    mail.outbox.clear()
    with committed(), pytest.raises(ValidationError, match="already a member"):
        services.approve(request, person("alice"))
    request.refresh_from_db()
    assert request.state == "pending"
    assert mail.outbox == []


def test_strangers_are_sent_to_sign_in(client, example):
    for url in ("/apply/", "/apply/inbox/", "/apply/join/", "/apply/join/ProjectA/"):
        response = client.get(url)
        assert response.status_code == 302
        assert f"?next={url}" in response.url
