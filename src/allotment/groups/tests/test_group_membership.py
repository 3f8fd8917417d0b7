"""A project's unix group follows its memberships; a software group is edited by hand.

Every institute and project owns one group named after its pid; whichever path changes a
membership (the service, or deleting the row), the group follows in the same transaction.
"""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allotment.core.validation import save_validated
from allotment.demo import site
from allotment.groups.models import Group, GroupMember, Software
from allotment.groups.services import add_software_user
from allotment.people.models import Person
from allotment.projects.models import Project, ProjectMembership
from allotment.projects.services import add_member, create_project, move_project, remove_member

PIDS = ["InstituteA", "InstituteB", "InstituteC", "ProjectA", "ProjectB", "ProjectC", "ProjectD"]


def member_names(group: Group) -> set[str]:
    return set(group.members.values_list("username", flat=True))


def membership_names(project: Project) -> set[str]:
    return set(project.memberships.values_list("person__username", flat=True))


def group_of(pid: str) -> Group:
    return Group.objects.get(name=pid.lower())


@pytest.mark.parametrize("pid", PIDS)
def test_every_project_owns_a_group_named_after_its_pid_with_its_members(example, pid):
    project = example.projects[pid]
    group = group_of(pid)
    assert group.owner == project
    assert group.owner_kind == ("institute" if project.parent_id is None else "project")
    expected = {user for p, user, *_ in site.MEMBERSHIPS if p == pid}
    assert member_names(group) == expected == membership_names(project)


def test_adding_a_membership_puts_the_person_in_the_project_group(example):
    add_member(example.projects["ProjectB"], example.people["dana"])
    assert member_names(group_of("ProjectB")) == {"alice", "bob", "dana"}


def test_removing_a_membership_takes_the_person_out_of_the_project_group(example):
    remove_member(example.projects["ProjectA"], example.people["bob"])
    assert member_names(group_of("ProjectA")) == {"alice", "chen"}
    # Bob's other project keeps him.
    assert member_names(group_of("ProjectB")) == {"alice", "bob"}


def test_deleting_a_membership_row_directly_takes_the_person_out_of_the_group(example):
    ProjectMembership.objects.get(project__pid="ProjectD", person__username="farid").delete()
    assert member_names(group_of("ProjectD")) == {"eve", "grace"}


def test_editing_a_project_group_directly_is_refused_naming_the_project(example):
    group = group_of("ProjectA")
    with pytest.raises(ValidationError) as refused:
        save_validated(GroupMember(group=group, person=example.people["dana"]))
    assert refused.value.messages == [
        'Group "projecta" follows the memberships of "ProjectA": add or remove Dana Doyle '
        '(dana) as a member of "ProjectA" instead of editing the group.'
    ]
    assert member_names(group) == {"alice", "bob", "chen"}


def test_a_software_group_is_edited_directly(example):
    matlab = Software.objects.get(name="MATLAB")
    assert group_of("matlab").software == matlab
    assert member_names(group_of("matlab")) == {"alice", "chen", "farid"}
    add_software_user(matlab, example.people["dana"])
    assert member_names(group_of("matlab")) == {"alice", "chen", "dana", "farid"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("owners", "described"),
    [({}, "0 (none)"), ({"software": True, "institute": True}, "2 (institute, software)")],
)
def test_a_group_needs_exactly_one_owner_in_full_clean(owners, described):
    fields = {}
    if owners.get("software"):
        fields["software"] = Software.objects.create(name="Gaussian")
    if owners.get("institute"):
        fields["institute"] = Project.objects.get(pid="InstituteB")
    group = Group(name="orphan", gid=59000, **fields)
    with pytest.raises(ValidationError) as refused:
        group.full_clean()
    assert (
        'Group "orphan" must have exactly one owner (an institute, a project or a software '
        f"package); it has {described}."
    ) in refused.value.messages


@pytest.mark.django_db
@pytest.mark.parametrize("two_owners", [False, True], ids=["no-owner", "two-owners"])
def test_the_database_refuses_a_group_without_exactly_one_owner(two_owners):
    fields = {}
    if two_owners:
        # InstituteB gives up its group first, so only the owner rule can be broken.
        Group.objects.filter(institute__pid="InstituteB").delete()
        fields = {
            "institute": Project.objects.get(pid="InstituteB"),
            "software": Software.objects.create(name="Gaussian"),
        }
    with pytest.raises(IntegrityError), transaction.atomic():
        Group.objects.create(name="orphan", gid=59000, **fields)
    assert not Group.objects.filter(name="orphan").exists()


def test_moving_an_institute_under_a_project_makes_its_group_project_owned_and_back(example):
    institute_b = example.projects["InstituteB"]
    Person.objects.filter(institute=institute_b).update(institute=example.projects["InstituteA"])
    move_project(institute_b, example.projects["ProjectA"])
    group = group_of("InstituteB")
    assert (group.project, group.institute) == (institute_b, None)
    assert member_names(group) == {"dana"}

    move_project(institute_b, None)
    group = group_of("InstituteB")
    assert (group.project, group.institute) == (None, institute_b)
    assert member_names(group) == {"dana"}


def test_a_new_project_gets_a_group_with_a_fresh_gid(example):
    gids_before = set(Group.objects.values_list("gid", flat=True))
    project = create_project("ProjectE", "Project E", parent=example.projects["InstituteA"])
    group = project.group
    assert (group.name, group.project, group.institute) == ("projecte", project, None)
    assert group.gid not in gids_before
    assert group.gid == max(gids_before) + 1
    assert member_names(group) == set()


@pytest.mark.parametrize(
    ("pid", "owner"),
    [("Project.A", "Project_A"), ("MATLAB", "MATLAB")],
    ids=["project", "software"],
)
def test_a_pid_whose_group_name_is_taken_is_refused_naming_the_group(example, pid, owner):
    create_project("Project_A", "Underscore", parent=example.projects["InstituteA"])
    with pytest.raises(ValidationError) as refused:
        create_project(pid, "Clash", parent=example.projects["InstituteA"])
    name = "project_a" if pid == "Project.A" else pid.lower()
    assert refused.value.message_dict["pid"] == [
        f'Project "{pid}" would own the unix group "{name}", which is already the group of '
        f'"{owner}"; choose another project id.'
    ]
    assert not Project.objects.filter(pid=pid).exists()


SOME_PIDS = ["InstituteA", "ProjectA", "ProjectB", "ProjectD"]
SOME_PEOPLE = ["alice", "bob", "dana", "farid", "grace"]
operations = st.lists(
    st.tuples(
        st.sampled_from(["add", "remove", "delete-row"]),
        st.sampled_from(SOME_PIDS),
        st.sampled_from(SOME_PEOPLE),
    ),
    max_size=12,
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=operations)
def test_any_sequence_of_membership_changes_keeps_groups_equal_to_memberships(example, ops):
    # Each example starts from the example site: the previous one was rolled back.
    assert membership_names(example.projects["ProjectB"]) == {"alice", "bob"}
    with transaction.atomic():
        for op, pid, username in ops:
            project, person = example.projects[pid], example.people[username]
            is_member = project.memberships.filter(person=person).exists()
            if op == "add" and is_member:
                with pytest.raises(ValidationError):
                    add_member(project, person)
            elif op == "add":
                add_member(project, person)
            elif op == "remove" and not is_member:
                with pytest.raises(ValidationError):
                    remove_member(project, person)
            elif op == "remove":
                remove_member(project, person)
            else:
                ProjectMembership.objects.filter(project=project, person=person).delete()
        for pid in PIDS:
            project = Project.objects.get(pid=pid)
            assert member_names(group_of(pid)) == membership_names(project), pid
        # Undo this example so the next one starts from the example site again.
        transaction.set_rollback(True)


def test_any_edit_of_the_parent_keeps_the_group_valid(example):
    institute_b = example.projects["InstituteB"]
    Person.objects.filter(institute=institute_b).update(institute=example.projects["InstituteA"])
    institute_b.parent = example.projects["ProjectA"]
    institute_b.save()  # any path that changes the parent, not only move_project
    group = group_of("InstituteB")
    assert (group.project, group.institute) == (institute_b, None)
    group.full_clean()


def test_an_institute_with_people_cannot_move_under_a_project(example):
    with pytest.raises(ValidationError) as e:
        move_project(example.projects["InstituteB"], example.projects["ProjectA"])
    assert e.value.message_dict["parent"] == [
        'Institute "InstituteB" cannot move under another project while people belong to it '
        "(dana); give them another institute first."
    ]


def test_deleting_a_project_logs_each_group_member_removal_once(example):
    from auditlog.models import LogEntry

    project_b = example.projects["ProjectB"]
    Grant = project_b.grants.model
    Grant.objects.filter(project=project_b).delete()
    members = set(GroupMember.objects.filter(group__project=project_b).values_list("pk", flat=True))
    assert len(members) == 2
    project_b.delete()
    deletions = LogEntry.objects.filter(
        action=LogEntry.Action.DELETE,
        content_type__model="groupmember",
        object_pk__in=[str(pk) for pk in members],
    )
    assert deletions.count() == 2


def test_set_pid_names_the_group_whose_name_it_would_take(example):
    from allotment.projects.services import set_pid

    with pytest.raises(ValidationError) as e:
        set_pid(example.projects["ProjectB"], "MATLAB")
    assert e.value.message_dict["pid"] == [
        'Project "ProjectB" cannot become "MATLAB": its unix group would be renamed "matlab", '
        'which is already the group of "MATLAB".'
    ]
