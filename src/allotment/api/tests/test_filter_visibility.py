"""A filter's argument is looked up among what the caller may see (issue 10, item 6).

A filter may only narrow a list the policy has already cut; one that resolves its object
among all objects (or joins through rows the caller may not see) tells them about things
they may not see: who is in a project hidden from them, say.
"""

import pytest

from allotment.projects.services import add_member, create_project


@pytest.fixture
def secret(example):
    """ProjectZ under InstituteB: alice and farid are members; bob and eve see neither it nor
    its memberships, though each sees one of its members (alice, farid)."""
    project = create_project("ProjectZ", "Secret", parent=example.projects["InstituteB"])
    add_member(project, example.people["alice"])
    add_member(project, example.people["farid"])
    return project


def usernames(response) -> set[str]:
    assert response.status_code == 200, response.json()
    return {row["username"] for row in response.json()["results"]}


def test_people_of_a_project_the_caller_cannot_see_are_not_listed(client_for, secret):
    assert usernames(client_for("bob").get("/api/people/?project=ProjectZ")) == set()
    assert usernames(client_for("eve").get("/api/people/?project=ProjectZ")) == set()


def test_people_of_a_visible_project_are_listed(client_for, secret):
    assert usernames(client_for("bob").get("/api/people/?project=ProjectA")) == {
        "alice", "bob", "chen"
    }  # fmt: skip
    assert usernames(client_for("eve").get("/api/people/?project=ProjectD")) == {
        "eve", "farid", "grace"
    }  # fmt: skip
    assert usernames(client_for("alice").get("/api/people/?project=ProjectZ")) == {
        "alice", "farid"
    }  # fmt: skip


def test_a_site_administrator_filters_by_any_project(admin, secret):
    assert usernames(admin.get("/api/people/?project=ProjectZ")) == {"alice", "farid"}


@pytest.mark.parametrize(
    "url",
    [
        "/api/memberships/?project=ProjectZ",
        "/api/groups/?project=ProjectZ",
        "/api/group-members/?group=projectz",
        "/api/projects/?under=ProjectZ",
        "/api/projects/?parent=ProjectZ",
        "/api/grants/?project=ProjectZ",
        "/api/allocation-pools/?project=ProjectZ",
        "/api/allocations/?project=ProjectZ",
    ],
)
def test_no_other_filter_lists_anything_of_a_hidden_project(client_for, secret, url):
    for who in ("bob", "eve"):
        response = client_for(who).get(url)
        assert response.status_code == 200
        assert response.json()["count"] == 0, (who, response.json())


def test_groups_by_member_name_only_the_visible_groups(client_for, secret):
    rows = client_for("bob").get("/api/groups/?member=alice").json()["results"]
    assert {row["name"] for row in rows} == {"projecta", "projectb"}
