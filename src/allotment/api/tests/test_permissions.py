"""The API answers exactly as access.policy says, role by role on the example site.

alice leads InstituteA, ProjectA, ProjectB; bob is a member of ProjectA and ProjectB; chen
supervises ProjectA; eve leads InstituteC and ProjectC and supervises ProjectD.
"""

import pytest
from auditlog.models import LogEntry

from allotment.projects.models import Project, ProjectMembership

LISTS = [
    "people",
    "projects",
    "memberships",
    "groups",
    "machines",
    "resource-pools",
    "resources",
    "schemes",
    "grants",
    "periods",
    "allocation-pools",
    "allocations",
]


def pids(response) -> list[str]:
    return [p["pid"] for p in response.json()["results"]]


def membership(pid: str, username: str) -> ProjectMembership:
    return ProjectMembership.objects.get(project__pid=pid, person__username=username)


@pytest.mark.parametrize("name", LISTS)
def test_anonymous_callers_get_401_and_no_data(example, anonymous, name):
    for response in (anonymous.get(f"/api/{name}/"), anonymous.post(f"/api/{name}/", {})):
        assert response.status_code == 401
        assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert anonymous.get("/api/usage/report/").status_code == 401
    assert anonymous.get("/api/projects/ProjectA/").status_code == 401


def test_a_member_sees_only_their_projects(example, client_for):
    bob = client_for("bob")
    assert pids(bob.get("/api/projects/")) == ["ProjectA", "ProjectB"]
    assert bob.get("/api/projects/ProjectA/").status_code == 200


def test_a_project_the_person_cannot_see_is_not_found(example, client_for):
    bob = client_for("bob")
    response = bob.get("/api/projects/ProjectC/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
    assert bob.patch("/api/projects/ProjectC/", {"name": "x"}).status_code == 404
    hidden = membership("ProjectC", "eve").pk
    assert bob.get(f"/api/memberships/{hidden}/").status_code == 404
    assert bob.get("/api/people/farid/").status_code == 404
    assert bob.get("/api/grants/?project=ProjectD").json()["count"] == 0


def test_lists_of_related_records_follow_the_visible_projects(example, client_for):
    bob = client_for("bob")
    grants = bob.get("/api/grants/").json()["results"]
    assert {g["project"] for g in grants} == {"ProjectA"}
    pools = bob.get("/api/allocation-pools/").json()["results"]
    assert {p["project"] for p in pools} == {"ProjectA"}
    groups = bob.get("/api/groups/").json()["results"]
    assert {g["project"] for g in groups} == {"ProjectA", "ProjectB"}
    people = {p["username"] for p in bob.get("/api/people/").json()["results"]}
    assert people == {"alice", "bob", "chen"}
    members = bob.get("/api/memberships/").json()["results"]
    assert {m["project"] for m in members} == {"ProjectA", "ProjectB"}
    # Shared catalogue tables are readable by anyone signed in.
    assert bob.get("/api/machines/").json()["count"] == 2
    assert bob.get("/api/periods/").json()["count"] >= 1


def test_a_member_cannot_change_a_membership_of_a_visible_project(example, client_for):
    bob = client_for("bob")
    target = membership("ProjectA", "chen").pk
    response = bob.patch(f"/api/memberships/{target}/", {"is_supervisor": False}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": 'You may not manage the members of "ProjectA".'}
    assert bob.delete(f"/api/memberships/{target}/").status_code == 403
    response = bob.post("/api/memberships/", {"project": "ProjectA", "person": "dana"})
    assert response.status_code == 403
    assert response.json()["detail"].startswith("Only site administrators and a project's")
    assert membership("ProjectA", "chen").is_supervisor


def test_a_supervisor_adds_a_member_to_their_project(example, client_for):
    chen = client_for("chen")
    response = chen.post(
        "/api/memberships/",
        {"project": "ProjectA", "person": "dana", "project_level": "Researcher"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["person"] == "dana"
    added = membership("ProjectA", "dana")
    assert added.project_level.name == "Researcher"
    entry = LogEntry.objects.get_for_object(added).get()
    assert entry.actor.username == "chen"
    assert entry.additional_data["via"] == "api"


def test_a_supervisor_cannot_hand_out_leadership(example, client_for):
    chen = client_for("chen")
    response = chen.post(
        "/api/memberships/", {"project": "ProjectA", "person": "dana", "is_leader": True}
    )
    assert response.status_code == 403
    assert response.json() == {
        "detail": 'You may not change the field is_leader: only leaders of "ProjectA" may hand '
        "out or take back its roles (is_leader, is_primary_contact, is_supervisor)."
    }
    mine = membership("ProjectA", "chen").pk
    response = chen.patch(f"/api/memberships/{mine}/", {"is_leader": True})
    assert response.status_code == 403
    assert not membership("ProjectA", "chen").is_leader


def test_a_supervisor_removes_a_member(example, client_for):
    chen = client_for("chen")
    target = membership("ProjectA", "bob").pk
    assert chen.delete(f"/api/memberships/{target}/").status_code == 204
    assert not ProjectMembership.objects.filter(pk=target).exists()


def test_a_leader_creates_a_sub_project_under_a_project_they_lead(example, client_for):
    eve = client_for("eve")
    response = eve.post(
        "/api/projects/", {"pid": "ProjectE", "name": "Project E", "parent": "ProjectC"}
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["parent"], body["institute"], body["depth"]) == ("ProjectC", "InstituteC", 2)
    created = Project.objects.get(pid="ProjectE")
    assert created.group is not None  # made by the same service as the CLI's
    assert LogEntry.objects.get_for_object(created).get().actor.username == "eve"


def test_a_leader_cannot_create_under_a_project_they_do_not_lead(example, client_for):
    eve = client_for("eve")
    response = eve.post("/api/projects/", {"pid": "Px", "name": "X", "parent": "ProjectA"})
    # eve cannot see ProjectA, so for her it does not exist.
    assert response.status_code == 400
    assert response.json() == {"errors": {"parent": ['There is no project "ProjectA".']}}
    # grace leads ProjectD but not its parent ProjectC, which she can see.
    grace = client_for("grace")
    assert (
        grace.post("/api/projects/", {"pid": "Py", "name": "Y", "parent": "ProjectD"}).status_code
        == 201
    )
    response = client_for("alice").post("/api/projects/", {"pid": "Pz", "name": "Z"})
    assert response.status_code == 403
    assert "institutes" in response.json()["detail"]
    assert not Project.objects.filter(pid__in=["Px", "Pz"]).exists()


def test_a_member_who_leads_nothing_cannot_create_projects(example, client_for):
    response = client_for("bob").post(
        "/api/projects/", {"pid": "Pb", "name": "B", "parent": "ProjectA"}
    )
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Only site administrators and project leaders may create projects."
    }


def test_a_leader_edits_name_and_description_but_no_other_field(example, client_for):
    alice = client_for("alice")
    response = alice.patch(
        "/api/projects/ProjectA/", {"name": "Renamed", "description": "New words"}
    )
    assert response.status_code == 200, response.json()
    assert Project.objects.get(pid="ProjectA").name == "Renamed"
    response = alice.patch("/api/projects/ProjectA/", {"allocation_mode": "shared"})
    assert response.status_code == 403
    assert response.json() == {
        "detail": "You may not change the field allocation_mode: project leaders may change "
        "only name and description."
    }
    assert client_for("bob").patch("/api/projects/ProjectA/", {"name": "x"}).status_code == 403
    assert alice.delete("/api/projects/ProjectB/").status_code == 403


def test_people_edit_their_own_name_only(example, client_for):
    # Their email changes through the verified flow (test_person_writes).
    bob = client_for("bob")
    response = bob.patch("/api/people/bob/", {"first_name": "Robert", "title": "Dr"})
    assert response.status_code == 200, response.json()
    assert response.json()["first_name"] == "Robert"
    response = bob.patch("/api/people/bob/", {"is_staff": True, "institute": "InstituteB"})
    assert response.status_code == 403
    assert response.json()["detail"].startswith(
        "You may not change the fields institute, is_staff: you may change only"
    )
    assert bob.patch("/api/people/alice/", {"first_name": "A"}).status_code == 403
    assert bob.post("/api/people/", {"username": "newbie"}).status_code == 403


def test_an_institute_leader_edits_their_people_but_cannot_make_staff(example, client_for):
    eve = client_for("eve")
    response = eve.patch("/api/people/farid/", {"career_level": "Postgraduate", "is_locked": True})
    assert response.status_code == 200, response.json()
    response = eve.patch("/api/people/farid/", {"is_staff": True})
    assert response.status_code == 403
    assert "is_staff" in response.json()["detail"]


@pytest.mark.parametrize(
    "url, body",
    [
        (
            "/api/grants/",
            {
                "project": "ProjectA",
                "scheme": "ET",
                "begins": "2100-01-01",
                "expires": "2100-12-31",
            },
        ),
        ("/api/machines/", {"name": "m", "category": "default"}),
        ("/api/schemes/", {"name": "S"}),
        ("/api/periods/", {"name": "P", "start": "2101-01-01", "end": "2101-12-31"}),
        ("/api/resource-pools/", {"name": "R", "units": "x"}),
        (
            "/api/allocation-pools/",
            {"project": "ProjectA", "period": "2100", "resource_pool": "CPU Hours"},
        ),
    ],
)
def test_only_site_administrators_write_grants_and_the_catalogue(example, client_for, url, body):
    response = client_for("alice").post(url, body, format="json")
    assert response.status_code == 403
    assert response.json()["detail"].startswith("Only site administrators may change")
