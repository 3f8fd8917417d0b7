"""Every change the agent makes is attributed in the audit log to the agent, its loop and
its target, and to the person named for it, if any."""

import pytest
from auditlog.models import LogEntry
from django.core.management import call_command

from allotment.agent.context import configured_actor
from allotment.agent.registry import Loop
from allotment.agent.runner import Agent
from allotment.projects.models import Project


def describe(project: Project) -> None:
    """A step that changes a ledger row, as a reconcile loop might record what it saw."""
    project.description = f"{project.pid}, checked by a loop"
    project.save()


RECORDER = Loop(
    name="test.describe",
    interval=60,
    targets=lambda: Project.objects.filter(pid="ProjectA"),
    key=lambda project: project.pid,
    step=describe,
)


def last_change(pid: str) -> LogEntry:
    return LogEntry.objects.get_for_object(Project.objects.get(pid=pid)).order_by("-pk").first()


def test_a_change_made_by_a_loop_step_names_the_agent_its_loop_and_target(example):
    done = Agent([RECORDER]).tick(now=1000)
    assert [(d["loop"], d["target"], d["ok"]) for d in done] == [
        ("test.describe", "ProjectA", True)
    ]
    entry = last_change("ProjectA")
    assert entry.changes_dict["description"][1] == "ProjectA, checked by a loop"
    assert entry.actor is None
    assert entry.additional_data == {"via": "agent", "loop": "test.describe", "target": "ProjectA"}


def test_an_atomic_step_is_attributed_the_same_way(example):
    import dataclasses

    Agent([dataclasses.replace(RECORDER, atomic=True)]).tick(now=1000)
    assert last_change("ProjectA").additional_data == {
        "via": "agent", "loop": "test.describe", "target": "ProjectA"
    }  # fmt: skip


def test_the_person_named_for_the_agent_is_the_actor(example, monkeypatch):
    monkeypatch.setenv("ALLOTMENT_AGENT_ACTOR", "alice")
    Agent([RECORDER], actor=configured_actor()).tick(now=1000)
    entry = last_change("ProjectA")
    assert entry.actor == example.people["alice"]
    assert entry.additional_data["via"] == "agent"


def test_a_change_outside_the_agent_is_not_attributed_to_it(example):
    Agent([RECORDER]).tick(now=1000)
    project = Project.objects.get(pid="ProjectA")
    project.description = "by hand"
    project.save()
    assert last_change("ProjectA").additional_data is None


def test_naming_someone_who_is_no_person_stops_the_agent(example, capsys):
    with pytest.raises(SystemExit) as refused:
        call_command("agent", "run", "--once", "--actor", "nobody-here")
    assert refused.value.code == 1
    assert capsys.readouterr().err == (
        'error: The agent\'s actor "nobody-here" (--actor or ALLOTMENT_AGENT_ACTOR) is no person.\n'
    )
