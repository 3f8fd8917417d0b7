"""The agent's schedule: what runs when, and a failing machine not stopping the others."""

from allotment.agent.loops import Agent
from allotment.projects.services import remove_member
from allotment.resources.models import Machine


def agent_with_log(failing=(), **kwargs):
    ran = []

    def step(name):
        def run(machine):
            if machine.name in failing:
                raise RuntimeError("cluster unreachable")
            ran.append((name, machine.name))
            return {}

        return run

    return Agent(sync=step("sync"), pull=step("pull"), **kwargs), ran


def slurm_machines(*names):
    Machine.objects.filter(name__in=names).update(engine="slurm")


def test_a_fresh_agent_syncs_and_pulls_every_slurm_machine_at_once(example):
    slurm_machines("brecca")
    agent, ran = agent_with_log()
    agent.tick(now=1000)
    assert ran == [("sync", "brecca"), ("pull", "brecca")]


def test_nothing_runs_again_before_it_is_due(example):
    slurm_machines("brecca")
    agent, ran = agent_with_log(sync_every=900, pull_every=300)
    agent.tick(now=1000)
    ran.clear()
    agent.tick(now=1100)
    assert ran == []
    agent.tick(now=1300)
    assert ran == [("pull", "brecca")]
    agent.tick(now=1900)
    assert ran == [("pull", "brecca"), ("sync", "brecca"), ("pull", "brecca")]


def test_a_ledger_change_syncs_soon_after_it_settles(example):
    slurm_machines("brecca")
    agent, ran = agent_with_log(sync_every=900, pull_every=3000, settle=10)
    agent.tick(now=1000)
    ran.clear()
    remove_member(example.projects["ProjectB"], example.people["bob"])
    agent.tick(now=1005)  # the change is seen now...
    assert ran == []
    agent.tick(now=1014)
    assert ran == []
    agent.tick(now=1016)  # ...and synced once it has settled for 10 s
    assert ran == [("sync", "brecca")]


def test_a_failing_machine_does_not_stop_the_others(example):
    slurm_machines("brecca", "tango")
    agent, ran = agent_with_log(failing={"brecca"})
    done = agent.tick(now=1000)
    assert ran == [("sync", "tango"), ("pull", "tango")]
    assert [d["ok"] for d in done] == [False, False, True, True]
    assert agent.health()["brecca"]["errors"] == {
        "sync": "cluster unreachable", "pull": "cluster unreachable"
    }  # fmt: skip


def test_a_failed_sync_is_retried_once_settled_not_after_the_full_period(example):
    slurm_machines("brecca")
    calls = []

    def flaky_sync(machine):
        calls.append("sync")
        if len(calls) == 2:
            raise RuntimeError("slurmdbd down")
        return {}

    agent = Agent(sync=flaky_sync, pull=lambda m: {}, sync_every=900, pull_every=3000, settle=10)
    agent.tick(now=1000)
    remove_member(example.projects["ProjectB"], example.people["bob"])
    agent.tick(now=1001)
    agent.tick(now=1012)  # due for the change: fails
    agent.tick(now=1025)  # the change is still unsynced: tried again
    assert calls == ["sync", "sync", "sync"]


def test_machines_run_by_nothing_outside_allotment_are_left_alone(example):
    agent, ran = agent_with_log()
    agent.tick(now=1000)
    assert ran == []
