"""A membership's roles are the leaders' to hand out (issue 10, item 7).

On ProjectA alice is the leader (and primary contact), chen the supervisor, bob a member.
A supervisor manages members, but a leader's membership, and the role flags (leader,
supervisor, primary contact) of anyone's, need leader rights over the project.
"""

import pytest

from allotment.projects.models import ProjectMembership


def membership(pid: str, username: str) -> ProjectMembership:
    return ProjectMembership.objects.get(project__pid=pid, person__username=username)


def columns(row: ProjectMembership) -> tuple:
    return (
        row.project_level.name if row.project_level else None,
        row.is_leader,
        row.is_supervisor,
        row.is_default_project,
        row.is_primary_contact,
    )


LEADER_ONLY = 'Only leaders of "ProjectA" may change or remove the membership of its leader alice.'


@pytest.mark.parametrize(
    "body",
    [{"project_level": "Student"}, {"is_supervisor": True}, {"is_primary_contact": False},
     {"is_default_project": False}, {"date_joined": "2000-01-01"}],
)  # fmt: skip
def test_a_supervisor_may_not_change_a_leaders_membership(client_for, example, body):
    before = columns(membership("ProjectA", "alice"))
    target = membership("ProjectA", "alice").pk
    response = client_for("chen").patch(f"/api/memberships/{target}/", body, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": LEADER_ONLY}
    assert columns(membership("ProjectA", "alice")) == before


def test_a_supervisor_may_not_remove_a_leader(client_for, example):
    target = membership("ProjectA", "alice").pk
    response = client_for("chen").delete(f"/api/memberships/{target}/")
    assert response.status_code == 403
    assert response.json() == {"detail": LEADER_ONLY}
    assert ProjectMembership.objects.filter(pk=target).exists()


@pytest.mark.parametrize(
    ("username", "body", "field"),
    [("chen", {"is_supervisor": False}, "is_supervisor"),
     ("bob", {"is_supervisor": True}, "is_supervisor"),
     ("chen", {"is_primary_contact": True}, "is_primary_contact"),
     ("bob", {"is_leader": True}, "is_leader")],
)  # fmt: skip
def test_a_supervisor_may_not_hand_out_or_take_back_roles(
    client_for, example, username, body, field
):
    alice = membership("ProjectA", "alice")
    alice.is_primary_contact = False  # so that only the rule stands in the way
    alice.save()
    before = columns(membership("ProjectA", username))
    target = membership("ProjectA", username).pk
    response = client_for("chen").patch(f"/api/memberships/{target}/", body, format="json")
    assert response.status_code == 403
    assert response.json() == {
        "detail": f'You may not change the field {field}: only leaders of "ProjectA" may '
        "hand out or take back its roles (is_leader, is_primary_contact, is_supervisor)."
    }
    assert columns(membership("ProjectA", username)) == before


@pytest.mark.parametrize("field", ["is_supervisor", "is_primary_contact", "is_leader"])
def test_a_supervisor_may_not_add_a_member_with_a_role(client_for, example, field):
    alice = membership("ProjectA", "alice")
    alice.is_primary_contact = False
    alice.save()
    response = client_for("chen").post(
        "/api/memberships/", {"project": "ProjectA", "person": "dana", field: True}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["detail"].startswith(f"You may not change the field {field}: ")
    assert not ProjectMembership.objects.filter(project__pid="ProjectA", person__username="dana")


def test_a_supervisor_still_manages_a_plain_members_level_and_default(client_for, example):
    target = membership("ProjectA", "bob").pk
    response = client_for("chen").patch(
        f"/api/memberships/{target}/",
        {"project_level": "Researcher", "is_default_project": False},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert columns(membership("ProjectA", "bob")) == ("Researcher", False, False, False, False)


def test_a_leader_changes_roles_and_the_leaders_memberships(client_for, example):
    alice = client_for("alice")
    chen = membership("ProjectA", "chen").pk
    response = alice.patch(f"/api/memberships/{chen}/", {"is_supervisor": False})
    assert response.status_code == 200, response.json()
    own = membership("ProjectA", "alice").pk
    response = alice.patch(f"/api/memberships/{own}/", {"project_level": "Researcher"})
    assert response.status_code == 200, response.json()
    assert columns(membership("ProjectA", "chen"))[2] is False
    assert columns(membership("ProjectA", "alice"))[0] == "Researcher"


def test_a_supervisor_may_not_remove_a_fellow_supervisor(client_for, example):
    """Removing takes the role back, which is the leaders' to do (else a supervisor could
    remove a co-supervisor and add them again without the role)."""
    bob = membership("ProjectA", "bob")
    bob.is_supervisor = True
    bob.save()
    response = client_for("chen").delete(f"/api/memberships/{bob.pk}/")
    assert response.status_code == 403
    assert response.json() == {
        "detail": 'Only leaders of "ProjectA" may remove bob, whose membership holds '
        "is_supervisor: removing it takes back the role (is_leader, is_primary_contact, "
        "is_supervisor are the leaders' to hand out and take back)."
    }
    assert ProjectMembership.objects.filter(pk=bob.pk).exists()
    assert client_for("alice").delete(f"/api/memberships/{bob.pk}/").status_code == 204
