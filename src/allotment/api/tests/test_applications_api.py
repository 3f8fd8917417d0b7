"""The workflows over the API: join requests, invitations and project applications.

The example site (root conftest): alice leads InstituteA, ProjectA and ProjectB; bob is a
member of ProjectA and ProjectB; chen supervises ProjectA; dana leads InstituteB; eve leads
InstituteC and ProjectC and supervises ProjectD; farid is a member of ProjectD; grace leads
ProjectD. Mail goes out when a step commits: `committed()` runs those callbacks.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.core import mail
from django.db import close_old_connections, connection
from django.utils import timezone

from allotment.applications import services
from allotment.applications.models import Invitation, JoinRequest, ProjectApplication
from allotment.applications.tests.helpers import mail_to, recipients
from allotment.people.models import Person
from allotment.projects.models import Project, ProjectMembership
from allotment.projects.services import add_member

ROLES = ("admin", "eve", "grace", "alice", "chen", "bob", "farid", "outsider")


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run the block's on-commit callbacks (the mail) as if its transaction committed."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def as_(client_for, admin_person):
    """as_(role): an API client of the role (admin: a site administrator; outsider: a person
    with no memberships)."""

    def make(role: str):
        if role == "admin":
            return client_for(admin_person)
        if role == "outsider":
            outsider = Person.objects.filter(username="api-outsider").first()
            return client_for(outsider or Person.objects.create_user("api-outsider", "o@x.org"))
        return client_for(role)

    return make


def person(username: str) -> Person:
    return Person.objects.get(username=username)


def project(pid: str) -> Project:
    return Project.objects.get(pid=pid)


def memberships(username: str, pid: str) -> int:
    return ProjectMembership.objects.filter(person__username=username, project__pid=pid).count()


def no_reason(ref: str, noun: str) -> dict:
    return {
        "errors": {
            "reason": [f"Give a reason for declining {noun} {ref}: the applicant is told it."]
        }
    }


def admins_only(application: ProjectApplication) -> str:
    return f"Only a site administrator may decide {application.ref} now."


def audited(obj, action=LogEntry.Action.UPDATE) -> LogEntry:
    """The object's newest log entry of that action, which must say it came by the API."""
    entry = LogEntry.objects.get_for_object(obj).filter(action=action).latest("pk")
    assert entry.additional_data["via"] == "api"
    return entry


def ask(username: str, pid: str) -> JoinRequest:
    return services.request_to_join(person(username), project(pid))


def invited(pid: str, email: str, by: str) -> tuple[Invitation, str]:
    return services.invite(project(pid), email, person(by))


def applied(username: str, institute: str, pid: str) -> ProjectApplication:
    return services.apply_for_project(person(username), project(institute), pid, f"The {pid}")


def approved_first_by(username: str, monkeypatch) -> None:
    """Make the next approval lose a race: after the API has read the row, and before the
    service locks it, `username` approves it (as if at the same moment)."""
    approve = services.approve

    def someone_first(row, by, **options):
        approve(type(row).objects.get(pk=row.pk), person(username))
        return approve(row, by, **options)

    monkeypatch.setattr(services, "approve", someone_first)


def created(committed, client, path: str, body: dict) -> dict:
    """POST the body to /api/<path>/ (its mail sent, as on commit); the 201's answer."""
    with committed():
        response = client.post(f"/api/{path}/", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def ids(client, path: str, query: str = "") -> set[int]:
    response = client.get(f"/api/{path}/{query}")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["count"] == len(body["results"])
    return {row["id"] for row in body["results"]}


# Who sees what -----------------------------------------------------------------------------

# Each role's view of farid's request to join ProjectA, bob's to join ProjectD, an
# invitation to ProjectA and one to ProjectD, and bob's application under InstituteA and
# farid's under InstituteC.
SEES = {
    #            join requests       invitations          applications
    "admin":    ({"farid@A", "bob@D"}, {"A", "D"}, {"bob@InstituteA", "farid@InstituteC"}),
    "eve":      ({"bob@D"}, {"D"}, {"farid@InstituteC"}),
    "grace":    ({"bob@D"}, {"D"}, set()),
    "alice":    ({"farid@A"}, {"A"}, {"bob@InstituteA"}),
    "chen":     ({"farid@A"}, {"A"}, set()),
    "bob":      ({"bob@D"}, set(), {"bob@InstituteA"}),
    "farid":    ({"farid@A"}, set(), {"farid@InstituteC"}),
    "outsider": (set(), set(), set()),
}  # fmt: skip


@pytest.fixture
def some_of_each(example):
    return {
        "join-requests": {
            "farid@A": ask("farid", "ProjectA").pk,
            "bob@D": ask("bob", "ProjectD").pk,
        },
        "invitations": {
            "A": invited("ProjectA", "ann@uni.example", "chen")[0].pk,
            "D": invited("ProjectD", "dee@uni.example", "grace")[0].pk,
        },
        "project-applications": {
            "bob@InstituteA": applied("bob", "InstituteA", "ProjectBob").pk,
            "farid@InstituteC": applied("farid", "InstituteC", "ProjectFarid").pk,
        },
    }


@pytest.mark.parametrize("role", ROLES)
def test_each_role_lists_and_reads_only_what_it_may_see(as_, some_of_each, role):
    client = as_(role)
    for path, expected in zip(some_of_each, SEES[role], strict=True):
        made = some_of_each[path]
        visible = {made[name] for name in expected}
        assert ids(client, path) & set(made.values()) == visible, path
        for name, pk in made.items():
            status = client.get(f"/api/{path}/{pk}/").status_code
            assert status == (200 if name in expected else 404), (path, name)


def test_anonymous_gets_401_everywhere(anonymous, some_of_each):
    for path, made in some_of_each.items():
        assert anonymous.get(f"/api/{path}/").status_code == 401
        for pk in made.values():
            assert anonymous.get(f"/api/{path}/{pk}/").status_code == 401
    request = some_of_each["join-requests"]["farid@A"]
    assert anonymous.post(f"/api/join-requests/{request}/approve/").status_code == 401
    assert anonymous.post("/api/invitations/accept/", {"token": "x"}).status_code == 401
    assert anonymous.post("/api/project-applications/", {}).status_code == 401


def test_lists_filter_by_project_state_and_institute(as_, some_of_each):
    admin = as_("admin")
    made = some_of_each["join-requests"]
    assert ids(admin, "join-requests", "?project=ProjectA&state=pending") == {made["farid@A"]}
    assert ids(admin, "join-requests", "?state=approved") == set()
    assert ids(admin, "join-requests", "?person=bob") == {made["bob@D"]}
    apps = some_of_each["project-applications"]
    assert ids(admin, "project-applications", "?institute=InstituteC") == {apps["farid@InstituteC"]}
    assert ids(admin, "project-applications", "?pid=projectbob") == {apps["bob@InstituteA"]}
    response = admin.get("/api/join-requests/?state=maybe")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["state"]


# Join requests ------------------------------------------------------------------------------


def test_farid_asks_to_join_and_the_managers_are_told(as_, committed):
    body = created(
        committed,
        as_("farid"),
        "join-requests",
        {"project": "ProjectA", "message": "I work with Alice."},
    )
    assert (body["person"], body["project"], body["state"]) == ("farid", "ProjectA", "pending")
    assert body["ref"] == f"J{body['id']}" and body["message"] == "I work with Alice."
    assert body["decided_by"] is None
    # ProjectA's leader (and InstituteA's) and its supervisor.
    assert recipients() == ["alice@institutea.example.org", "chen@institutea.example.org"]
    assert "I work with Alice." in mail.outbox[0].body
    request = JoinRequest.objects.get(pk=body["id"])
    assert audited(request, LogEntry.Action.CREATE).actor.username == "farid"


@pytest.mark.parametrize(
    ("username", "pid", "field", "message"),
    [
        ("bob", "ProjectA", "non_field_errors", 'Bob Brennan (bob) is already a member of project "ProjectA".'),  # noqa: E501
        ("bob", "InstituteC", "non_field_errors", '"InstituteC" is an institute, not a project; ask to join one of its projects instead.'),  # noqa: E501
        ("bob", "Nowhere", "project", 'There is no active project "Nowhere".'),
    ],
)  # fmt: skip
def test_a_request_nobody_could_approve_is_refused(as_, example, username, pid, field, message):
    response = as_(username).post("/api/join-requests/", {"project": pid}, format="json")
    assert response.status_code == 400
    assert response.json() == {"errors": {field: [message]}}
    assert not JoinRequest.objects.exists()


def test_asking_twice_is_refused(as_, example):
    farid = as_("farid")
    assert farid.post("/api/join-requests/", {"project": "ProjectB"}).status_code == 201
    again = farid.post("/api/join-requests/", {"project": "ProjectB"})
    assert again.status_code == 400
    [message] = again.json()["errors"]["non_field_errors"]
    assert "already asked to join" in message and "still pending" in message


def test_alice_approves_with_a_level_and_farid_becomes_a_member(as_, example, committed):
    request = ask("farid", "ProjectA")
    mail.outbox.clear()
    with committed():
        response = as_("alice").post(
            f"/api/join-requests/{request.pk}/approve/", {"project_level": "Student"}, format="json"
        )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["state"], body["decided_by"]) == ("approved", "alice")
    assert body["decided_at"] is not None
    membership = ProjectMembership.objects.get(person__username="farid", project__pid="ProjectA")
    assert membership.project_level.name == "Student"
    [notice] = mail_to("farid@institutec.example.org")
    assert "now a member of ProjectA" in notice.subject
    assert recipients() == ["farid@institutec.example.org"]
    assert audited(JoinRequest.objects.get(pk=request.pk)).actor.username == "alice"
    assert audited(membership, LogEntry.Action.CREATE).actor.username == "alice"


def test_a_second_approval_is_a_409_naming_who_approved(as_, example):
    request = ask("farid", "ProjectA")
    assert as_("alice").post(f"/api/join-requests/{request.pk}/approve/").status_code == 200
    second = as_("chen").post(f"/api/join-requests/{request.pk}/approve/")
    assert second.status_code == 409
    detail = second.json()["detail"]
    assert detail.startswith('The request of Farid Fakhoury (farid) to join project "ProjectA"')
    assert "was already approved by Alice Anand (alice) on " in detail
    assert memberships("farid", "ProjectA") == 1
    # Declining or withdrawing it now is the same conflict.
    url = f"/api/join-requests/{request.pk}"
    assert as_("chen").post(f"{url}/decline/", {"reason": "no"}).status_code == 409
    assert as_("farid").post(f"{url}/withdraw/").status_code == 409


def test_an_approval_that_loses_the_race_is_a_409(as_, example, monkeypatch):
    """chen reads the request, alice approves it, then chen's approval reaches the lock."""
    request = ask("farid", "ProjectA")
    approved_first_by("alice", monkeypatch)
    response = as_("chen").post(f"/api/join-requests/{request.pk}/approve/")
    assert response.status_code == 409
    assert "was already approved by Alice Anand (alice)" in response.json()["detail"]
    request.refresh_from_db()
    assert (request.state, request.decided_by.username) == ("approved", "alice")


def test_who_may_decide_and_withdraw_a_join_request(as_, example, committed):
    request = ask("farid", "ProjectA")
    url = f"/api/join-requests/{request.pk}"
    # farid sees his request but may not decide it; bob and eve may not see it.
    refused = as_("farid").post(f"{url}/approve/")
    assert refused.status_code == 403
    assert refused.json() == {
        "detail": "Farid Fakhoury (farid) may not decide requests to join ProjectA."
    }
    assert as_("bob").post(f"{url}/approve/").status_code == 404
    assert as_("eve").post(f"{url}/decline/", {"reason": "x"}).status_code == 404
    # Only farid withdraws it, though alice sees it.
    withdrawn = as_("alice").post(f"{url}/withdraw/")
    assert withdrawn.status_code == 403
    only = f"Only Farid Fakhoury (farid) may withdraw request {request.ref}."
    assert withdrawn.json() == {"detail": only}
    # A decline needs a reason, named as the field.
    blank = as_("chen").post(f"{url}/decline/", {"reason": "  "}, format="json")
    assert blank.status_code == 400
    assert blank.json() == no_reason(request.ref, "request")
    assert as_("chen").post(f"{url}/decline/").status_code == 400  # no body: no reason
    assert JoinRequest.objects.get(pk=request.pk).state == "pending"
    mail.outbox.clear()
    with committed():
        declined = as_("chen").post(f"{url}/decline/", {"reason": "ProjectA is full."})
    assert declined.status_code == 200
    assert (declined.json()["state"], declined.json()["reason"]) == (
        "declined",
        "ProjectA is full.",
    )
    [notice] = mail.outbox
    assert notice.to == ["farid@institutec.example.org"] and "ProjectA is full." in notice.body
    assert audited(JoinRequest.objects.get(pk=request.pk)).actor.username == "chen"


def test_farid_withdraws_his_request(as_, example):
    request = ask("farid", "ProjectB")
    response = as_("farid").post(f"/api/join-requests/{request.pk}/withdraw/")
    assert response.status_code == 200
    assert (response.json()["state"], response.json()["decided_by"]) == ("withdrawn", "farid")
    assert audited(JoinRequest.objects.get(pk=request.pk)).actor.username == "farid"


# Invitations -----------------------------------------------------------------------------------


def test_the_token_is_shown_once_and_the_email_carries_it(as_, example, committed):
    alice = as_("alice")
    body = created(
        committed, alice, "invitations",
        {"project": "ProjectA", "email": "Noor@Uni.Example", "project_level": "Researcher",
         "message": "Welcome aboard."},
    )  # fmt: skip
    token = body["token"]
    assert body["link"] == f"http://127.0.0.1:8000/apply/invitation/{token}/"
    assert (body["project"], body["email"], body["state"], body["invited_by"]) == (
        "ProjectA", "Noor@uni.example", "pending", "alice"
    )  # fmt: skip
    invitation = Invitation.objects.get(pk=body["id"])
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    [message] = mail.outbox
    assert message.to == ["Noor@uni.example"]
    assert body["link"] in message.body and "Welcome aboard." in message.body
    assert audited(invitation, LogEntry.Action.CREATE).actor.username == "alice"

    detail = alice.get(f"/api/invitations/{invitation.pk}/")
    listed = alice.get("/api/invitations/")
    for answer in (detail, listed):
        assert answer.status_code == 200
        text = answer.content.decode()
        assert token not in text and invitation.token_hash not in text
        assert '"token"' not in text and '"link"' not in text
    assert set(detail.json()) == set(body) - {"token", "link"}


def test_who_may_invite(as_, example):
    def invite(role: str, pid: str, email: str = "new@uni.example"):
        return as_(role).post("/api/invitations/", {"project": pid, "email": email}, format="json")

    # Managing no members: refused whatever the body.
    for role in ("bob", "outsider"):
        response = invite(role, "ProjectA")
        assert response.status_code == 403
        assert response.json()["detail"].startswith("Only site administrators and a project's")
    # A project one cannot see is no project; one seen but not managed is refused.
    assert invite("eve", "ProjectA").json() == {
        "errors": {"project": ['There is no project "ProjectA".']}
    }
    # bob supervises ProjectB now: he manages some members, but not ProjectA's.
    ProjectMembership.objects.filter(project__pid="ProjectB", person__username="bob").update(
        is_supervisor=True
    )
    refused = invite("bob", "ProjectA")
    assert refused.status_code == 403
    assert refused.json() == {"detail": "Bob Brennan (bob) may not invite people to ProjectA."}
    institute = invite("alice", "InstituteA")
    assert institute.status_code == 400
    assert list(institute.json()["errors"]) == ["project"]
    member = invite("alice", "ProjectA", "bob@institutea.example.org")
    already = (
        'Bob Brennan (bob) (bob@institutea.example.org) is already a member of project "ProjectA".'
    )
    assert member.json() == {"errors": {"email": [already]}}
    assert invite("chen", "ProjectA").status_code == 201
    twice = invite("alice", "ProjectA")
    assert twice.status_code == 400
    assert "was already invited" in twice.json()["errors"]["email"][0]
    assert invite("admin", "ProjectC").status_code == 201
    assert Invitation.objects.count() == 2


def test_a_signed_in_person_accepts_and_the_inviter_is_told(as_, example, committed):
    invitation, token = invited("ProjectA", "farid@elsewhere.example", "alice")
    mail.outbox.clear()
    with committed():
        response = as_("farid").post("/api/invitations/accept/", {"token": token}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["project"], body["person"], body["is_leader"]) == ("ProjectA", "farid", False)
    [notice] = mail.outbox
    assert notice.to == ["alice@institutea.example.org"] and "accepted" in notice.subject
    invitation.refresh_from_db()
    assert (invitation.state, invitation.accepted_by.username) == ("accepted", "farid")
    assert audited(invitation).actor.username == "farid"
    membership = ProjectMembership.objects.get(pk=body["id"])
    assert audited(membership, LogEntry.Action.CREATE).actor.username == "farid"
    # farid now sees the invitation he accepted; accepting again is a conflict.
    seen = as_("farid").get(f"/api/invitations/{invitation.pk}/").json()
    assert (seen["state"], seen["accepted_by"]) == ("accepted", "farid")
    again = as_("grace").post("/api/invitations/accept/", {"token": token})
    assert again.status_code == 409
    assert "was already accepted by Farid Fakhoury (farid)" in again.json()["detail"]


def test_accepting_a_bad_or_closed_invitation(as_, example):
    unknown = as_("farid").post("/api/invitations/accept/", {"token": "not-a-token"})
    assert unknown.status_code == 400
    [message] = unknown.json()["errors"]["token"]
    assert message.startswith("This invitation link is not valid")
    assert as_("farid").post("/api/invitations/accept/", {}).status_code == 400
    # Already a member: the invitation stays open for whoever it was meant for.
    invitation, token = invited("ProjectA", "someone@uni.example", "alice")
    member = as_("bob").post("/api/invitations/accept/", {"token": token})
    assert member.status_code == 400
    assert member.json() == {
        "errors": {
            "non_field_errors": ['Bob Brennan (bob) is already a member of project "ProjectA".']
        }
    }
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(days=1)
    )
    expired = as_("farid").post("/api/invitations/accept/", {"token": token})
    assert expired.status_code == 409
    assert "expired on" in expired.json()["detail"]
    assert ids(as_("alice"), "invitations", "?state=expired") == {invitation.pk}
    assert ids(as_("alice"), "invitations", "?state=pending") == set()
    assert memberships("farid", "ProjectA") == 0


def test_revoking_stops_the_link(as_, example):
    invitation, token = invited("ProjectD", "dee@uni.example", "grace")
    url = f"/api/invitations/{invitation.pk}/revoke/"
    assert as_("alice").post(url).status_code == 404  # not her project
    response = as_("eve").post(url)
    assert response.status_code == 200
    assert (response.json()["state"], response.json()["revoked_by"]) == ("revoked", "eve")
    assert audited(Invitation.objects.get(pk=invitation.pk)).actor.username == "eve"
    assert as_("grace").post(url).status_code == 409
    refused = as_("farid").post("/api/invitations/accept/", {"token": token})
    assert refused.status_code == 409
    assert "was revoked by Eve Eriksen (eve)" in refused.json()["detail"]


# Project applications -------------------------------------------------------------------------


def test_institute_leader_then_site_admin_approve_and_the_project_is_made(
    as_, admin_person, committed
):
    body = created(
        committed, as_("farid"), "project-applications",
        {"institute": "InstituteC", "pid": "ProjectE", "name": "The survey",
         "description": "Simulating things."},
    )  # fmt: skip
    assert (body["applicant"], body["state"], body["project"]) == ("farid", "pending", None)
    assert recipients() == ["eve@institutec.example.org"]
    url = f"/api/project-applications/{body['id']}"
    application = ProjectApplication.objects.get(pk=body["id"])
    assert audited(application, LogEntry.Action.CREATE).actor.username == "farid"

    # Stage 1: InstituteC's leader; not dana (InstituteB), not the applicant.
    assert as_("dana").post(f"{url}/approve/").status_code == 404
    assert as_("farid").post(f"{url}/approve/").status_code == 403
    mail.outbox.clear()
    with committed():
        first = as_("eve").post(f"{url}/approve/")
    assert first.status_code == 200
    assert (first.json()["state"], first.json()["leader_decided_by"]) == ("leader_approved", "eve")
    assert not Project.objects.filter(pid="ProjectE").exists()
    assert recipients() == ["api-admin@example.org", "farid@institutec.example.org"]
    assert audited(ProjectApplication.objects.get(pk=application.pk)).actor.username == "eve"

    # Stage 2 is a site administrator's.
    stage2 = as_("eve").post(f"{url}/approve/")
    assert stage2.status_code == 403
    assert stage2.json() == {"detail": admins_only(application)}
    mail.outbox.clear()
    with committed():
        final = as_("admin").post(f"{url}/approve/")
    assert final.status_code == 200
    body = final.json()
    assert (body["state"], body["decided_by"]) == ("approved", "api-admin")
    assert body["project"] == "ProjectE"
    made = Project.objects.get(pid="ProjectE")
    assert (made.parent.pid, made.name, made.approved_by) == (
        "InstituteC",
        "The survey",
        admin_person,
    )
    assert ProjectMembership.objects.get(project=made).person.username == "farid"
    assert recipients() == ["farid@institutec.example.org"]
    assert audited(made, LogEntry.Action.CREATE).actor == admin_person
    assert as_("admin").post(f"{url}/approve/").status_code == 409


def test_two_leaders_approving_stage_one_at_once_make_one_approval(as_, example, monkeypatch):
    """grace, now also leading InstituteC, reads the application; eve approves it; grace's
    approval reaches the lock to find it waiting for a site administrator."""
    add_member(project("InstituteC"), person("grace"), leader=True)
    application = applied("farid", "InstituteC", "ProjectE")
    approved_first_by("eve", monkeypatch)
    response = as_("grace").post(f"/api/project-applications/{application.pk}/approve/")
    assert response.status_code == 409
    assert response.json() == {"detail": admins_only(application)}
    application.refresh_from_db()
    assert (application.state, application.leader_decided_by.username) == ("leader_approved", "eve")


def test_a_site_admin_approving_stage_one_makes_the_project_at_once(as_, example):
    application = applied("bob", "InstituteA", "ProjectBob")
    response = as_("admin").post(f"/api/project-applications/{application.pk}/approve/")
    assert response.status_code == 200
    assert (response.json()["state"], response.json()["project"]) == ("approved", "ProjectBob")


def test_declining_and_withdrawing_an_application(as_, example, committed):
    application = applied("bob", "InstituteA", "ProjectBob")
    url = f"/api/project-applications/{application.pk}"
    assert as_("chen").post(f"{url}/decline/", {"reason": "no"}).status_code == 404
    assert as_("alice").post(f"{url}/decline/").json() == no_reason(application.ref, "application")
    assert as_("alice").post(f"{url}/withdraw/").status_code == 403
    mail.outbox.clear()
    with committed():
        declined = as_("alice").post(f"{url}/decline/", {"reason": "Use ProjectA."})
    assert declined.status_code == 200
    assert (declined.json()["state"], declined.json()["leader_decided_by"]) == ("declined", "alice")
    [notice] = mail.outbox
    assert notice.to == ["bob@institutea.example.org"] and "Use ProjectA." in notice.body
    assert as_("bob").post(f"{url}/withdraw/").status_code == 409

    other = applied("bob", "InstituteA", "ProjectBob2")
    withdrawn = as_("bob").post(f"/api/project-applications/{other.pk}/withdraw/")
    assert withdrawn.status_code == 200 and withdrawn.json()["state"] == "withdrawn"
    assert audited(ProjectApplication.objects.get(pk=other.pk)).actor.username == "bob"


@pytest.mark.parametrize(
    ("body", "field", "start"),
    [
        ({"institute": "InstituteA", "pid": "ProjectA", "name": "x"}, "pid", 'The project id "ProjectA" is already taken'),  # noqa: E501
        ({"institute": "Nowhere", "pid": "ProjectE", "name": "x"}, "institute", 'There is no institute "Nowhere".'),  # noqa: E501
        ({"institute": "ProjectA", "pid": "ProjectE", "name": "x"}, "institute", 'There is no institute "ProjectA".'),  # noqa: E501
        ({"institute": "InstituteA", "pid": "no spaces", "name": "x"}, "pid", "Enter a valid project id"),  # noqa: E501
        ({"institute": "InstituteA", "pid": "ProjectE"}, "name", "This field is required."),
    ],
)  # fmt: skip
def test_an_application_that_could_never_be_approved_is_refused(as_, example, body, field, start):
    response = as_("bob").post("/api/project-applications/", body, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert list(errors) == [field] and errors[field][0].startswith(start)
    assert not ProjectApplication.objects.exists()


def test_the_same_pid_twice_is_refused(as_, example):
    applied("farid", "InstituteC", "ProjectE")
    response = as_("bob").post(
        "/api/project-applications/",
        {"institute": "InstituteA", "pid": "projecte", "name": "x"},
        format="json",
    )
    assert response.status_code == 400
    assert "has already applied for a project" in response.json()["errors"]["pid"][0]


# The real race (PostgreSQL) -------------------------------------------------------------------


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL (row locks across two connections); set DATABASE_URL",
)
@pytest.mark.django_db(transaction=True)
def test_two_leaders_approving_through_the_api_at_once_make_one_membership(client_for):
    request = ask("farid", "ProjectA")
    clients = {username: client_for(username) for username in ("alice", "chen")}
    start = threading.Barrier(2)
    answers: dict[str, object] = {}

    def approve_as(username: str) -> None:
        try:
            start.wait(timeout=10)
            answers[username] = clients[username].post(f"/api/join-requests/{request.pk}/approve/")
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=approve_as, args=(u,)) for u in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    statuses = sorted(answer.status_code for answer in answers.values())
    assert statuses == [200, 409]
    [winner] = [u for u, answer in answers.items() if answer.status_code == 200]
    [loser] = [u for u in answers if u != winner]
    assert f"was already approved by {person(winner)}" in answers[loser].json()["detail"]
    assert memberships("farid", "ProjectA") == 1
    request.refresh_from_db()
    assert (request.state, request.decided_by.username) == ("approved", winner)
