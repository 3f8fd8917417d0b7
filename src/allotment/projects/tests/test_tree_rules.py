"""The project tree: institutes at the roots, cheap subtrees, no cycles, fixed pids."""

import contextlib

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allotment.core.validation import save_validated
from allotment.projects.models import Project
from allotment.projects.services import create_project, move_project, set_pid


def pids(qs):
    return sorted(qs.values_list("pid", flat=True))


def test_institutes_are_the_roots_of_the_tree(example):
    assert pids(Project.objects.institutes()) == ["InstituteA", "InstituteB", "InstituteC"]
    assert example.projects["ProjectD"].institute.pid == "InstituteC"
    assert example.projects["InstituteB"].is_institute
    assert not example.projects["ProjectC"].is_institute


def test_lineages_give_depth_and_institute_at_any_depth_in_one_query(example):
    parent = example.projects["ProjectD"]  # InstituteC > ProjectC > ProjectD
    chain = []
    for n in range(8):  # deeper than any join of parents would reach
        parent = create_project(f"Deep{n}", f"Deep {n}", parent=parent)
        chain.append(parent)
    ids = [p.pk for p in chain] + [example.projects["InstituteA"].pk, 10**9]
    with CaptureQueriesContext(connection) as captured:
        found = Project.objects.lineages(ids)
    assert len(captured) == 1
    assert found[chain[-1].pk] == (10, "InstituteC")
    assert found[chain[0].pk] == (3, "InstituteC")
    assert found[example.projects["InstituteA"].pk] == (0, "InstituteA")
    assert 10**9 not in found  # no such project
    assert Project.objects.lineages([]) == {}


def test_subtree_holds_the_project_and_all_its_descendants(example):
    assert pids(Project.objects.subtree(example.projects["InstituteC"])) == [
        "InstituteC",
        "ProjectC",
        "ProjectD",
    ]
    assert pids(Project.objects.subtree(example.projects["ProjectD"])) == ["ProjectD"]


def test_a_project_cannot_become_its_own_ancestor(example):
    with pytest.raises(ValidationError) as e:
        move_project(example.projects["InstituteC"], example.projects["ProjectD"])
    assert e.value.message_dict["parent"] == [
        'Project "InstituteC" cannot move under "ProjectD": "ProjectD" is inside the subtree of '
        '"InstituteC", and a project cannot become its own ancestor.'
    ]
    assert Project.objects.get(pid="InstituteC").parent_id is None


def test_a_project_cannot_be_its_own_parent(example):
    with pytest.raises(ValidationError) as e:
        move_project(example.projects["ProjectC"], example.projects["ProjectC"])
    assert e.value.message_dict["parent"] == ['Project "ProjectC" cannot be its own parent.']


def test_the_database_refuses_a_project_that_is_its_own_parent(example):
    with pytest.raises(IntegrityError), transaction.atomic():
        Project.objects.filter(pid="ProjectC").update(parent=example.projects["ProjectC"].pk)


def test_moving_a_subtree_carries_its_descendants(example):
    move_project(example.projects["ProjectC"], example.projects["InstituteA"])
    assert pids(Project.objects.subtree(example.projects["InstituteA"])) == [
        "InstituteA",
        "ProjectA",
        "ProjectB",
        "ProjectC",
        "ProjectD",
    ]
    assert Project.objects.get(pid="ProjectD").institute.pid == "InstituteA"


def test_a_pid_cannot_be_changed_by_an_edit(example):
    project = Project.objects.get(pid="ProjectB")
    project.pid = "ProjectZ"
    with pytest.raises(ValidationError) as e:
        save_validated(project)
    assert e.value.message_dict["pid"] == [
        'The project id of "ProjectB" cannot be edited; change it explicitly with '
        "`allot project set-pid ProjectB ProjectZ`."
    ]


def test_set_pid_renames_the_project_and_its_derived_group(example):
    project = set_pid(example.projects["ProjectB"], "ProjectZ")
    assert Project.objects.get(pk=project.pk).pid == "ProjectZ"
    assert project.group.name == "projectz"


def test_set_pid_refuses_a_pid_in_use(example):
    with pytest.raises(ValidationError) as e:
        set_pid(example.projects["ProjectB"], "ProjectA")
    assert "Project with this Project id already exists." in e.value.message_dict["pid"]
    assert Project.objects.filter(pid="ProjectB").exists()


def test_a_pid_must_be_a_valid_identifier(db):
    with pytest.raises(ValidationError) as e:
        create_project("bad pid!", "Bad")
    assert e.value.message_dict["pid"][0].startswith("Enter a valid project id")


def test_a_project_cannot_end_before_it_starts(example):
    project = Project.objects.get(pid="ProjectA")
    project.end_date = project.start_date.replace(year=2099)
    with pytest.raises(ValidationError) as e:
        save_validated(project)
    assert e.value.message_dict["end_date"] == [
        'Project "ProjectA" cannot end (2099-01-01) before it starts (2100-01-01).'
    ]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    moves=st.lists(
        st.tuples(st.integers(0, 6), st.one_of(st.none(), st.integers(0, 6))), max_size=12
    )
)
def test_no_sequence_of_moves_creates_a_cycle(example, moves):
    order = sorted(example.projects)
    try:
        with transaction.atomic():
            for child, parent in moves:
                project = Project.objects.get(pid=order[child])
                target = None if parent is None else Project.objects.get(pid=order[parent])
                with contextlib.suppress(ValidationError):
                    move_project(project, target)
            parents = dict(Project.objects.values_list("pk", "parent_id"))
            for pk in parents:
                seen, node = set(), pk
                while node is not None:
                    assert node not in seen, "cycle in the project tree"
                    seen.add(node)
                    node = parents[node]
            total = sum(
                Project.objects.subtree(root).count() for root in Project.objects.institutes()
            )
            assert total == len(parents)
            raise _Rollback
    except _Rollback:
        pass


class _Rollback(Exception):
    pass


def test_pids_differing_only_in_case_are_refused(example):
    with pytest.raises(ValidationError) as e:
        create_project("PROJECTA", "Shouting", parent=example.projects["InstituteA"])
    assert e.value.message_dict["pid"] == [
        'The project id "PROJECTA" differs from the existing "ProjectA" only in case; batch '
        "systems could not tell them apart."
    ]


def test_root_is_not_a_project_id(example):
    with pytest.raises(ValidationError) as e:
        create_project("Root", "Root", parent=example.projects["InstituteA"])
    assert e.value.message_dict["pid"][0].startswith('The project id "root" is reserved')
