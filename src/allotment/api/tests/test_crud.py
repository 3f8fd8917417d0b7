"""A site administrator creates, reads, updates and deletes every kind of record."""

import pytest
from auditlog.models import LogEntry

from allotment.grants.models import Allocation, AllocationPool, Grant
from allotment.groups.models import Group, GroupMember
from allotment.people.models import Person
from allotment.projects.models import Project, ProjectMembership

# url, body to create, the lookup of the created object, a change, the changed field's value
CASES = [
    (
        "people",
        {"username": "zoe", "email": "zoe@example.org", "institute": "InstituteB"},
        "username",
        {"last_name": "Zed"},
        "Zed",
    ),
    (
        "projects",
        {"pid": "InstituteZ", "name": "Institute Z"},
        "pid",
        {"allocation_mode": "shared"},
        "shared",
    ),
    (
        "schemes",
        {"name": "NCMAS", "opened": "2099-01-01"},
        "id",
        {"closed": "2101-01-01"},
        "2101-01-01",
    ),
    (
        "periods",
        {"name": "2101", "start": "2101-01-01", "end": "2101-12-31"},
        "id",
        {"name": "year 2101"},
        "year 2101",
    ),
    (
        "machines",
        {"name": "gadi", "category": "default", "cores": 48},
        "name",
        {"time_zone": "Australia/Sydney"},
        "Australia/Sydney",
    ),
    (
        "resource-pools",
        {"name": "GPU Hours", "units": "hours", "unit_size": 3600},
        "id",
        {"description": "GPUs"},
        "GPUs",
    ),
    (
        "resources",
        {
            "name": "brecca-gpus",
            "machine": "brecca",
            "pool": "CPU Hours",
            "quantity": "1000.5",
            "scaling_factor": 2,
        },
        "id",
        {"quantity": 2000},
        2000,
    ),
    (
        "grants",
        {"project": "ProjectB", "scheme": "ET", "begins": "2100-01-01", "expires": "2100-12-31"},
        "id",
        {"description": "renewed"},
        "renewed",
    ),
    (
        "allocation-pools",
        {"project": "ProjectB", "period": "2100", "resource_pool": "CPU Hours"},
        "id",
        {"resource_pool": "Disk Space"},
        "Disk Space",
    ),
]


@pytest.mark.parametrize("name, body, key, change, changed", CASES)
def test_an_administrator_creates_reads_updates_and_deletes(
    admin, admin_person, name, body, key, change, changed
):
    response = admin.post(f"/api/{name}/", body, format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert isinstance(created["id"], int)
    url = f"/api/{name}/{created[key]}/"
    assert admin.get(url).json() == created
    response = admin.patch(url, change, format="json")
    assert response.status_code == 200, response.json()
    field = next(iter(change))
    assert response.json()[field] == changed
    entries = LogEntry.objects.filter(object_pk=str(created["id"]), actor=admin_person)
    assert entries.count() == 2  # create and update, both by the token's person
    assert admin.delete(url).status_code == 204
    assert admin.get(url).status_code == 404


def test_memberships_are_added_changed_and_removed_through_the_services(admin, example):
    response = admin.post(
        "/api/memberships/",
        {"project": "ProjectB", "person": "chen", "is_supervisor": True},
        format="json",
    )
    assert response.status_code == 201, response.json()
    pk = response.json()["id"]
    # The project's unix group follows the membership (a side effect of the service path).
    assert Group.objects.get(project__pid="ProjectB").members.filter(username="chen").exists()
    response = admin.patch(f"/api/memberships/{pk}/", {"project_level": "Researcher"})
    assert response.json()["project_level"] == "Researcher"
    response = admin.patch(f"/api/memberships/{pk}/", {"project": "ProjectA"})
    assert response.status_code == 400
    assert response.json() == {
        "errors": {"project": ["cannot be changed; remove the member and add again."]}
    }
    assert admin.delete(f"/api/memberships/{pk}/").status_code == 204
    assert not ProjectMembership.objects.filter(pk=pk).exists()
    assert not Group.objects.get(project__pid="ProjectB").members.filter(username="chen").exists()


def test_allocations_are_added_to_the_pool_of_the_grants_project(admin, example):
    grant = Grant.objects.get(project__pid="ProjectD")
    body = {"grant": grant.pk, "period": "2100", "resource_pool": "CPU Hours", "quantity": 7.25}
    response = admin.post("/api/allocations/", body, format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert (created["project"], created["period"], created["resource_pool"]) == (
        "ProjectD",
        "2100",
        "CPU Hours",
    )
    assert created["quantity"] == 7.25
    pool = AllocationPool.objects.get(pk=created["allocation_pool"])
    pool_json = admin.get(f"/api/allocation-pools/{pool.pk}/").json()
    assert pool_json["allocated"] >= 7.25
    assert pool_json["remaining"] == pool_json["allocated"] - pool_json["used"]
    url = f"/api/allocations/{created['id']}/"
    assert admin.patch(url, {"quantity": 8}, format="json").json()["quantity"] == 8
    response = admin.patch(url, {"period": "nope"}, format="json")
    assert response.json() == {"errors": {"period": ['There is no allocation period "nope".']}}
    assert admin.delete(url).status_code == 204
    assert not Allocation.objects.filter(pk=created["id"]).exists()


def test_groups_take_the_next_free_gid_and_need_exactly_one_owner(admin, example):
    response = admin.post("/api/groups/", {"name": "lonely"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["non_field_errors"][0].startswith(
        'Group "lonely" must have exactly one owner'
    )
    from allotment.groups.models import Software

    Software.objects.create(name="abaqus-2100")
    response = admin.post(
        "/api/groups/", {"name": "abaqus2100", "software": "abaqus-2100"}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["gid"] > max(
        Group.objects.exclude(name="abaqus2100").values_list("gid", flat=True)
    )


def test_deleting_a_record_others_refer_to_is_a_409(admin, example):
    response = admin.delete("/api/machines/brecca/")
    assert response.status_code == 409
    assert response.json()["detail"].startswith("Cannot delete: other records refer to it")


def test_a_new_person_has_no_usable_password(admin, example):
    admin.post("/api/people/", {"username": "yan"}, format="json")
    assert not Person.objects.get(username="yan").has_usable_password()


def test_project_ids_are_changed_only_by_set_pid(admin, example):
    response = admin.patch("/api/projects/ProjectB/", {"pid": "ProjectBee"})
    assert response.status_code == 400
    assert response.json()["errors"]["pid"][0].startswith(
        'The project id of "ProjectB" cannot be edited'
    )
    assert Project.objects.filter(pid="ProjectB").exists()


def test_software_group_members_are_added_and_removed_by_administrators(admin, example):
    added = admin.post("/api/group-members/", {"group": "matlab", "person": "eve"}, format="json")
    assert added.status_code == 201, added.json()
    assert Group.objects.get(name="matlab").members.filter(username="eve").exists()
    entry = LogEntry.objects.get_for_model(GroupMember).filter(object_pk=added.json()["id"])
    assert entry.get().additional_data["via"] == "api"

    again = admin.post("/api/group-members/", {"group": "matlab", "person": "eve"}, format="json")
    assert again.status_code == 400
    assert "eve" in str(again.json()["errors"]) and "already" in str(again.json()["errors"])

    listed = admin.get("/api/group-members/?group=matlab&ordering=person__username").json()
    assert [m["person"] for m in listed["results"]] == ["alice", "chen", "eve", "farid"]

    assert admin.delete(f"/api/group-members/{added.json()['id']}/").status_code == 204
    assert not Group.objects.get(name="matlab").members.filter(username="eve").exists()


def test_a_project_groups_members_follow_its_memberships_not_the_api(admin, example):
    group = Group.objects.get(project__pid="ProjectA")
    response = admin.post(
        "/api/group-members/", {"group": group.name, "person": "eve"}, format="json"
    )
    assert response.status_code == 400
    member = GroupMember.objects.filter(group=group).first()
    response = admin.delete(f"/api/group-members/{member.pk}/")
    assert response.status_code == 403
    assert "remove the person from the project" in response.json()["detail"]
    assert GroupMember.objects.filter(pk=member.pk).exists()


def test_others_see_the_members_of_groups_they_see_and_change_none(example, client_for):
    bob = client_for("bob")  # a member of ProjectA only
    groups = {m["group"] for m in bob.get("/api/group-members/").json()["results"]}
    assert Group.objects.get(project__pid="ProjectA").name in groups
    assert "matlab" not in groups
    response = bob.post("/api/group-members/", {"group": "matlab", "person": "bob"}, format="json")
    assert response.status_code == 403
    assert response.json()["detail"].startswith("Only site administrators may change")
    matlab_member = GroupMember.objects.filter(group__name="matlab").first()
    # Refused for the kind, before any row is looked up: nothing is told of the row.
    response = bob.delete(f"/api/group-members/{matlab_member.pk}/")
    assert response.status_code == 403 and "matlab" not in response.json()["detail"]
    assert bob.get(f"/api/group-members/{matlab_member.pk}/").status_code == 404
