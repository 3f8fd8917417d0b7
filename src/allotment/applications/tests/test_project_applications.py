"""A person applies for a new project: the institute's leaders, then a site administrator."""

from datetime import date, timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError

from allotment.applications import services
from allotment.applications.models import ProjectApplication
from allotment.people.models import Person
from allotment.projects.models import Project, ProjectMembership
from allotment.projects.services import create_project

from .helpers import recipients


def apply_by_page(as_, committed, username: str, pid: str, institute: str = "InstituteC"):
    with committed():
        return as_(username).post(
            "/apply/new-project/",
            {"institute": institute, "pid": pid, "name": f"The {pid} study",
             "description": "Simulating things."},
        )  # fmt: skip


def test_institute_leader_then_site_admin_approve_and_the_project_exists(
    as_, admin_user, client, committed
):
    response = apply_by_page(as_, committed, "farid", "ProjectE")
    assert response.status_code == 302, response.content.decode()
    application = ProjectApplication.objects.get(pid="ProjectE")
    assert recipients() == ["eve@institutec.example.org"]  # InstituteC's leader
    assert "ProjectE" in mail.outbox[0].subject

    # dana leads InstituteB, not InstituteC; an admin's stage is not a leader's.
    assert as_("dana").post(f"/apply/{application.ref}/approve/").status_code == 404
    mail.outbox.clear()
    with committed():
        as_("eve").post(f"/apply/{application.ref}/approve/")
    application.refresh_from_db()
    assert (application.state, application.leader_decided_by.username) == (
        "leader_approved",
        "eve",
    )
    assert not Project.objects.filter(pid="ProjectE").exists()
    assert recipients() == ["admin@example.com", "farid@institutec.example.org"]
    assert as_("eve").post(f"/apply/{application.ref}/approve/").status_code == 404

    mail.outbox.clear()
    client.force_login(admin_user)
    assert f"/apply/{application.ref}/approve/" in client.get("/apply/inbox/").content.decode()
    with committed():
        client.post(f"/apply/{application.ref}/approve/")
    project = Project.objects.get(pid="ProjectE")
    assert (project.parent.pid, project.name, project.approved_by) == (
        "InstituteC",
        "The ProjectE study",
        admin_user,
    )
    assert project.date_approved is not None
    leader = ProjectMembership.objects.get(project=project)
    assert (leader.person.username, leader.is_leader) == ("farid", True)
    application.refresh_from_db()
    assert (application.state, application.project) == ("approved", project)
    [notice] = mail.outbox
    assert notice.to == ["farid@institutec.example.org"]
    assert "approved" in notice.subject and "you are its leader" in notice.body


def test_without_the_admin_stage_the_leaders_approval_creates_the_project(as_, committed, settings):
    settings.ALLOTMENT_PROJECT_APPROVAL_BY_ADMIN = False
    apply_by_page(as_, committed, "bob", "Survey-2", institute="InstituteA")
    application = ProjectApplication.objects.get(pid="Survey-2")
    mail.outbox.clear()
    with committed():
        as_("alice").post(f"/apply/{application.ref}/approve/")
    project = Project.objects.get(pid="Survey-2")
    assert project.parent.pid == "InstituteA" and project.approved_by.username == "alice"
    assert ProjectMembership.objects.get(project=project, is_leader=True).person.username == "bob"
    assert recipients() == ["bob@institutea.example.org"]


@pytest.mark.parametrize(
    ("pid", "message"),
    [
        ("root", 'The project id "root" is reserved'),
        ("Project E!", "Enter a valid project id"),
        ("projecta", 'The project id "projecta" is already taken by project "ProjectA"'),
    ],
)
def test_an_impossible_pid_is_refused_when_applying(as_, committed, pid, message):
    page = apply_by_page(as_, committed, "farid", pid)
    assert page.status_code == 200
    assert message.replace('"', "&quot;") in page.content.decode()
    assert not ProjectApplication.objects.exists()
    assert mail.outbox == []


def test_two_open_applications_for_one_pid_are_refused(example, person):
    first = services.apply_for_project(person("farid"), example.projects["InstituteC"], "Pz", "Z")
    with pytest.raises(
        ValidationError, match=rf"already applied for a project \"Pz\" \({first.ref}\)"
    ):
        services.apply_for_project(person("bob"), example.projects["InstituteA"], "PZ", "Z")


def test_a_pid_taken_meanwhile_refuses_the_approval_and_the_application_stays_open(example, person):
    application = services.apply_for_project(
        person("farid"), example.projects["InstituteC"], "ProjectE", "E"
    )
    create_project("ProjectE", "Someone else's", parent=example.projects["InstituteA"])
    with pytest.raises(ValidationError) as e:
        services.approve(application, person("eve"))
    assert e.value.message_dict["pid"] == [
        'The project id "ProjectE" is already taken by project "ProjectE"; choose another '
        "project id."
    ]
    application.refresh_from_db()
    assert application.state == "pending" and application.leader_decided_by is None


def test_a_site_admin_approving_the_first_stage_approves_both(example, person, admin_user):
    application = services.apply_for_project(
        person("farid"), example.projects["InstituteC"], "ProjectF", "F"
    )
    services.approve(application, admin_user)
    application.refresh_from_db()
    assert application.state == "approved"
    assert application.project.approved_by == admin_user


def test_declining_needs_a_reason_and_tells_the_applicant(as_, committed):
    apply_by_page(as_, committed, "farid", "ProjectG")
    application = ProjectApplication.objects.get(pid="ProjectG")
    mail.outbox.clear()
    with committed():
        as_("eve").post(f"/apply/{application.ref}/decline/", {"reason": "Use ProjectD."})
    application.refresh_from_db()
    assert (application.state, application.reason) == ("declined", "Use ProjectD.")
    assert application.decided_by.username == "eve"
    assert recipients() == ["farid@institutec.example.org"]
    assert "Use ProjectD." in mail.outbox[0].body
    assert not Project.objects.filter(pid="ProjectG").exists()


def test_the_applicant_withdraws_and_the_approval_is_refused(example, person):
    application = services.apply_for_project(
        person("farid"), example.projects["InstituteC"], "ProjectH", "H"
    )
    with pytest.raises(PermissionDenied, match="Only Farid Fakhoury"):
        services.withdraw(application, person("eve"))
    services.withdraw(application, person("farid"))
    with pytest.raises(ValidationError, match="already withdrawn by Farid"):
        services.approve(application, person("eve"))
    assert not Project.objects.filter(pid="ProjectH").exists()


def test_an_institute_leader_whose_account_expired_is_not_mailed(as_, admin_user, committed):
    eve = Person.objects.get(username="eve")
    eve.expires = date.today() - timedelta(days=1)
    eve.save()
    apply_by_page(as_, committed, "farid", "ProjectE")
    # Nobody else leads InstituteC: the site administrators hear of it instead.
    assert recipients() == ["admin@example.com"]
