"""The `allot` CLI: read commands with --json, write commands refusing with the rules' words."""

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from django.core.management import call_command

from allotment.core.validation import save_validated
from allotment.grants.models import AllocationPeriod, AllocationPool
from allotment.projects.models import Project


def run_json(capsys, *args):
    capsys.readouterr()
    call_command(*args, "--json")
    return json.loads(capsys.readouterr().out)


def test_allocation_show_gives_project_a_600_kb_and_60_hours(example, capsys):
    data = run_json(capsys, "allocation", "show", "ProjectA", "--period", "2100")
    pools = {p["pool"]: p for p in data["pools"]}
    assert set(pools) == {"Disk Space", "CPU Hours"}
    for pool in pools.values():
        assert set(pool) >= {"pool", "units", "period", "allocated", "used", "remaining"}
    assert pools["Disk Space"] | {} == pools["Disk Space"]
    assert (pools["Disk Space"]["allocated"], pools["Disk Space"]["units"]) == (600, "KB")
    assert (pools["CPU Hours"]["allocated"], pools["CPU Hours"]["units"]) == (60, "hours")
    assert pools["CPU Hours"]["used"] == 0 and pools["CPU Hours"]["remaining"] == 60
    assert pools["CPU Hours"]["period"] == "2100"


def test_allocation_show_of_an_unknown_period_fails_naming_it(example, capsys):
    with pytest.raises(SystemExit) as e:
        call_command("allocation", "show", "ProjectA", "--period", "1999")
    assert e.value.code == 1
    assert 'error: There is no allocation period "1999".' in capsys.readouterr().err


def test_project_list_is_in_tree_order_with_depths(example, capsys):
    rows = run_json(capsys, "project", "list")
    assert [(r["pid"], r["depth"]) for r in rows] == [
        ("InstituteA", 0),
        ("ProjectA", 1),
        ("ProjectB", 1),
        ("InstituteB", 0),
        ("InstituteC", 0),
        ("ProjectC", 1),
        ("ProjectD", 2),
    ]
    assert {r["pid"]: r["members"] for r in rows}["ProjectA"] == 3


def test_project_list_under_a_project_gives_its_subtree(example, capsys):
    rows = run_json(capsys, "project", "list", "--under", "ProjectC")
    assert [r["pid"] for r in rows] == ["ProjectC", "ProjectD"]


def test_project_show_gives_members_group_grants_and_pools(example, capsys):
    data = run_json(capsys, "project", "show", "ProjectD")
    assert data["institute"] == "InstituteC"
    assert data["ancestors"] == ["InstituteC", "ProjectC"]
    assert data["group"]["name"] == "projectd"
    assert [m["username"] for m in data["members"]] == ["eve", "farid", "grace"]
    assert [g["scheme"] for g in data["grants"]] == ["ET"]
    assert data["grants"][0]["begins"] == "2100-01-01"


def test_person_list_filters_by_project(example, capsys):
    rows = run_json(capsys, "person", "list", "--project", "ProjectA")
    assert [r["username"] for r in rows] == ["alice", "bob", "chen"]
    assert rows[1]["default_project"] == "ProjectA"
    assert rows[1]["career_level"] == "Postgraduate"


def test_tables_print_for_people(example, capsys):
    call_command("project", "show", "ProjectA")
    out = capsys.readouterr().out
    assert "InstituteA › ProjectA" in out and "Disk Space" in out and "600" in out


def test_a_cycle_is_refused_by_the_cli_with_the_rules_message(example, capsys):
    with pytest.raises(SystemExit) as e:
        call_command("project", "move", "InstituteC", "--parent", "ProjectD")
    assert e.value.code == 1
    assert capsys.readouterr().err == (
        'error: parent: Project "InstituteC" cannot move under "ProjectD": "ProjectD" is inside '
        'the subtree of "InstituteC", and a project cannot become its own ancestor.\n'
    )
    assert Project.objects.get(pid="InstituteC").parent is None


def test_the_same_rule_says_the_same_words_in_the_admin(example, admin_client):
    institute_c = example.projects["InstituteC"]
    response = admin_client.post(
        f"/admin/projects/project/{institute_c.pk}/change/",
        {
            "name": institute_c.name,
            "parent": example.projects["ProjectD"].pk,
            "allocation_mode": "private",
            "is_active": "on",
            "start_date": "2100-01-01",
            **_empty_inlines(),
        },
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert (
        "Project &quot;InstituteC&quot; cannot move under &quot;ProjectD&quot;: &quot;ProjectD"
        "&quot; is inside the subtree of &quot;InstituteC&quot;, and a project cannot become its "
        "own ancestor." in html
    )


def _empty_inlines():
    data = {}
    for prefix in ("memberships", "grants", "allocation_pools"):
        data |= {
            f"{prefix}-TOTAL_FORMS": "0",
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "1000",
        }
    return data


def test_create_move_set_pid_and_members_through_the_cli(example, capsys):
    call_command("project", "create", "ProjectE", "--name", "Project E", "--parent", "InstituteB")
    call_command("project", "add-member", "ProjectE", "dana", "--leader", "--level", "Researcher")
    call_command("project", "move", "ProjectE", "--parent", "InstituteA")
    call_command("project", "set-pid", "ProjectE", "ProjectF")
    project = Project.objects.get(pid="ProjectF")
    assert project.parent.pid == "InstituteA"
    assert project.group.name == "projectf"
    assert list(project.group.members.values_list("username", flat=True)) == ["dana"]
    call_command("project", "remove-member", "ProjectF", "dana")
    assert not project.group.members.exists()


def test_grant_and_allocation_through_the_cli(example, capsys):
    call_command(
        "grant",
        "create",
        "ProjectB",
        "--scheme",
        "ET",
        "--begins",
        "2100-03-01",
        "--expires",
        "2100-12-31",
    )
    grant = run_json(capsys, "grant", "list", "--project", "ProjectB")[0]
    call_command(
        "allocation",
        "add",
        "--grant",
        str(grant["id"]),
        "--period",
        "2100",
        "--pool",
        "CPU Hours",
        "7.25",
    )
    data = run_json(capsys, "allocation", "show", "ProjectB")
    assert [(p["pool"], p["allocated"]) for p in data["pools"]] == [("CPU Hours", 7.25)]


def test_an_allocation_outside_its_grant_is_refused_by_the_cli(example, capsys):
    save_validated(AllocationPeriod(name="2101", start=date(2101, 1, 1), end=date(2101, 12, 31)))
    with pytest.raises(SystemExit) as e:
        call_command(
            "allocation",
            "add",
            "--grant",
            str(example.grant2.pk),
            "--period",
            "2101",
            "--pool",
            "CPU Hours",
            "5",
        )
    assert e.value.code == 1
    assert capsys.readouterr().err == (
        f"error: grant: Grant {example.grant2.pk} to ProjectD (ET) runs 2100-01-01 to "
        '2100-12-31, which does not overlap period "2101" (2101-01-01 to 2101-12-31).\n'
    )
    assert not AllocationPool.objects.filter(period__name="2101").exists()


def test_audit_list_shows_cli_changes(example, capsys):
    call_command("project", "create", "ProjectG", "--name", "G", "--parent", "InstituteB")
    rows = run_json(capsys, "audit", "list", "--model", "projects.project", "--limit", "1")
    assert rows[0]["action"] == "create" and rows[0]["object"] == "ProjectG"
    assert rows[0]["additional_data"]["via"] == "cli"


@pytest.mark.slow
def test_allot_runs_as_a_new_user_would(tmp_path):
    """The installed `allot` command on a fresh embedded database, with real exit codes."""
    allot = Path(sys.executable).with_name("allot")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["ALLOTMENT_HOME"] = str(tmp_path)
    env.pop("ALLOTMENT_VAR_DIR", None)

    def run(*args):
        return subprocess.run([allot, *args], env=env, capture_output=True, text=True, cwd=tmp_path)

    assert run("migrate", "--noinput").returncode == 0
    assert run("demo", "load").returncode == 0
    assert "already loaded" in run("demo", "load").stdout
    shown = run("allocation", "show", "ProjectA", "--period", "2100", "--json")
    assert shown.returncode == 0, shown.stderr
    allocated = {p["pool"]: p["allocated"] for p in json.loads(shown.stdout)["pools"]}
    assert allocated == {"Disk Space": 600, "CPU Hours": 60}
    assert (tmp_path / "var" / "allotment.sqlite3").exists()
    refused = run("project", "move", "InstituteA", "--parent", "ProjectB")
    assert refused.returncode == 1 and "cannot become its own ancestor" in refused.stderr
    assert run("project", "show").returncode == 2  # missing argument: bad usage
    assert run("project", "show", "Nope").returncode == 1


def test_removing_a_non_member_fails_naming_both(example, capsys):
    with pytest.raises(SystemExit) as e:
        call_command("project", "remove-member", "ProjectA", "dana")
    assert e.value.code == 1
    assert capsys.readouterr() == ("", "error: dana is not a member of ProjectA.\n")


def test_removing_a_member_says_so_and_the_group_follows(example, capsys):
    call_command("project", "remove-member", "ProjectA", "bob")
    assert capsys.readouterr().out == "Removed bob from ProjectA.\n"
    project = Project.objects.get(pid="ProjectA")
    assert list(project.memberships.values_list("person__username", flat=True)) == [
        "alice",
        "chen",
    ]
    assert "bob" not in project.group.members.values_list("username", flat=True)


def _token(person, prefix: str):
    from allotment.api.models import ApiToken

    return save_validated(ApiToken(person=person, prefix=prefix, secret_hash=prefix * 8))


def test_token_revoke_takes_any_unique_start_of_the_prefix(example, capsys):
    _token(example.people["alice"], "ab12cd34")
    _token(example.people["bob"], "ab99ee00")
    call_command("token", "revoke", "ab1")
    assert capsys.readouterr().out == "Revoked API token ab12cd34 of alice.\n"
    statuses = {r["prefix"]: r["status"] for r in run_json(capsys, "token", "list")}
    assert statuses == {"ab12cd34": "revoked", "ab99ee00": "active"}


def test_token_revoke_of_an_ambiguous_prefix_fails_listing_the_matches(example, capsys):
    _token(example.people["alice"], "ab12cd34")
    _token(example.people["bob"], "ab99ee00")
    with pytest.raises(SystemExit) as e:
        call_command("token", "revoke", "ab")
    assert e.value.code == 1
    assert capsys.readouterr().err == (
        'error: "ab" is the start of 2 API tokens: ab12cd34 (alice), ab99ee00 (bob); '
        "give more of the prefix.\n"
    )
    statuses = {r["prefix"]: r["status"] for r in run_json(capsys, "token", "list")}
    assert statuses == {"ab12cd34": "active", "ab99ee00": "active"}


def test_token_revoke_of_no_token_fails(example, capsys):
    _token(example.people["alice"], "ab12cd34")
    with pytest.raises(SystemExit) as e:
        call_command("token", "revoke", "cd")
    assert e.value.code == 1
    assert capsys.readouterr().err == (
        'error: There is no API token whose prefix starts with "cd".\n'
    )


def test_token_create_for_an_expired_person_fails_saying_when(example, capsys):
    bob = example.people["bob"]
    bob.expires = date(2000, 1, 31)
    bob.save()
    with pytest.raises(SystemExit) as e:
        call_command("token", "create", "bob")
    assert e.value.code == 1
    assert capsys.readouterr().err == (
        "error: bob's account expired on 2000-01-31; a token would not work.\n"
    )
