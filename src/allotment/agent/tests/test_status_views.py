"""Seeing the agents: `allot agent status [--json]` and /manage/agent/ show every loop on
every target (last run, last success, error, lease, next due) and the live agents."""

import json
import time

import pytest
from django.core.management import call_command

from allotment.agent import leases, registry
from allotment.agent.models import AgentProcess, LoopStatus
from allotment.agent.registry import Loop

from .test_loops import slurm_agent, slurm_machines

NOW = time.time()


@pytest.fixture
def ran(example):
    """brecca synced fine and its pull failed; tango's sync is held by a live agent."""
    slurm_machines("brecca")

    def unreachable(machine):
        raise RuntimeError("slurmdbd down on <brecca>")

    agent = slurm_agent(lambda m: {}, unreachable)
    agent.tick(now=NOW)
    LoopStatus.objects.create(
        loop="slurm.sync", target="tango", interval=900, lease_holder="h2:77:beef",
        lease_expires=leases.utc(time.time() + 120), takeovers=3,
    )  # fmt: skip
    return agent


def test_status_as_json_lists_every_unit_and_the_live_agents(ran, capsys):
    call_command("agent", "status", "--json")
    data = json.loads(capsys.readouterr().out)
    units = {(u["loop"], u["target"]): u for u in data["units"]}
    assert sorted(units) == [
        ("slurm.pull", "brecca"), ("slurm.sync", "brecca"), ("slurm.sync", "tango")
    ]  # fmt: skip
    pull = units[("slurm.pull", "brecca")]
    assert (pull["healthy"], pull["last_error"], pull["consecutive_failures"], pull["runs"]) == (
        False, "slurmdbd down on <brecca>", 1, 1
    )  # fmt: skip
    assert (pull["last_ok"], pull["next_due"]) == (None, leases.utc(NOW + 300).isoformat())
    sync = units[("slurm.sync", "brecca")]
    assert (sync["healthy"], sync["last_error"], sync["next_due"]) == (
        True, "", leases.utc(NOW + 900).isoformat()
    )  # fmt: skip
    assert (sync["lease_holder"], sync["lease_expires"]) == ("", None)
    tango = units[("slurm.sync", "tango")]
    assert (tango["lease_holder"], tango["takeovers"]) == ("h2:77:beef", 3)
    assert [a["identity"] for a in data["agents"]] == [ran.identity]


def test_status_for_one_loop_only(ran, capsys):
    call_command("agent", "status", "--json", "--loop", "slurm.pull")
    data = json.loads(capsys.readouterr().out)
    assert [(u["loop"], u["target"]) for u in data["units"]] == [("slurm.pull", "brecca")]


def test_status_as_a_table(ran, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    call_command("agent", "status")
    out = capsys.readouterr().out
    assert "slurmdbd down on <brecca>" in out
    assert "h2:77:beef until" in out
    assert ran.identity in out


def test_an_expired_lease_is_not_shown_as_held(ran, capsys):
    LoopStatus.objects.filter(target="tango").update(lease_expires=leases.utc(time.time() - 1))
    call_command("agent", "status", "--json")
    [tango] = [u for u in json.loads(capsys.readouterr().out)["units"] if u["target"] == "tango"]
    assert (tango["lease_holder"], tango["lease_expires"], tango["expired_lease_of"]) == (
        "", None, "h2:77:beef"
    )  # fmt: skip


def test_the_agent_page_shows_units_leases_errors_and_agents_to_administrators(ran, client):
    from allotment.people.models import Person

    admin = Person.objects.create_superuser("root", "root@example.org", "pw-root-1")
    client.force_login(admin)
    response = client.get("/manage/agent/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "<h1>Agent</h1>" in page
    assert "slurmdbd down on &lt;brecca&gt;" in page  # escaped
    assert "h2:77:beef" in page
    assert ran.identity in page
    assert 'href="/manage/agent/"' in page  # the menu link


def test_the_agent_page_is_for_site_administrators_only(ran, client, example):
    assert client.get("/manage/agent/").status_code == 302  # to the sign-in page
    client.force_login(example.people["alice"])
    assert client.get("/manage/agent/").status_code == 403


@pytest.fixture
def registered():
    loop = registry.register(
        Loop(name="test.echo", interval=60, targets=lambda: ["x"], key=str, step=lambda t: {},
             target_kind="thing")
    )  # fmt: skip
    yield loop
    registry.unregister(loop.name)


def test_run_once_reports_each_unit_it_ran(registered, db, capsys):
    call_command("agent", "run", "--once", "--json", "--loop", "test.echo")
    assert json.loads(capsys.readouterr().out) == [
        {"loop": "test.echo", "target": "x", "thing": "x", "step": "echo", "ok": True, "result": {}}
    ]
    call_command("agent", "run", "--once", "--loop", "test.echo", "--every", "test.echo=1")
    assert capsys.readouterr().out == ""  # done a moment ago: nothing due
    LoopStatus.objects.update(next_due=None)
    call_command("agent", "run", "--once", "--loop", "test.echo")
    assert capsys.readouterr().out == "test.echo x: ok\n"
    assert not AgentProcess.objects.exists()  # --once withdraws when done
