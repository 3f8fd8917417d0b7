"""The agent's schedule, through the runner and the Slurm integration's two loops (their
steps replaced by recorders): what runs when, and a failing target not stopping others."""

import dataclasses

from allotment.agent.models import LoopStatus
from allotment.agent.runner import Agent
from allotment.integrations.slurm import loops as slurm
from allotment.projects.services import remove_member
from allotment.resources.models import Machine


def slurm_agent(sync, pull, sync_every=900, pull_every=300, settle=10) -> Agent:
    """The Slurm loops as registered, with these steps and intervals."""
    return Agent(
        [dataclasses.replace(slurm.SYNC, step=sync), dataclasses.replace(slurm.PULL, step=pull)],
        intervals={"slurm.sync": sync_every, "slurm.pull": pull_every},
        settle=settle,
    )


def agent_with_log(failing=(), **kwargs):
    ran = []

    def step(name):
        def run(machine):
            if machine.name in failing:
                raise RuntimeError("cluster unreachable")
            ran.append((name, machine.name))
            return {}

        return run

    return slurm_agent(step("sync"), step("pull"), **kwargs), ran


def slurm_machines(*names):
    Machine.objects.filter(name__in=names).update(engine="slurm")


def test_the_slurm_integration_registers_its_two_loops():
    from allotment.agent import registry

    assert registry.get("slurm.sync") == slurm.SYNC
    assert (slurm.SYNC.interval, slurm.SYNC.on_ledger_change, slurm.SYNC.settle) == (900, True, 10)
    assert registry.get("slurm.pull") == slurm.PULL
    assert (slurm.PULL.interval, slurm.PULL.on_ledger_change) == (300, False)


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


def test_the_schedule_is_kept_in_the_database_for_the_next_agent(example):
    slurm_machines("brecca")
    first, ran = agent_with_log(sync_every=900, pull_every=300)
    first.tick(now=1000)
    assert ran == [("sync", "brecca"), ("pull", "brecca")]
    second, ran_later = agent_with_log(sync_every=900, pull_every=300)
    second.tick(now=1100)  # a restarted agent: nothing is due yet
    assert ran_later == []
    second.tick(now=1300)
    assert ran_later == [("pull", "brecca")]


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
    agent.tick(now=1030)  # once only
    assert ran == [("sync", "brecca")]


def test_a_failing_machine_does_not_stop_the_others(example):
    slurm_machines("brecca", "tango")
    agent, ran = agent_with_log(failing={"brecca"})
    done = agent.tick(now=1000)
    assert ran == [("sync", "tango"), ("pull", "tango")]
    assert [(d["loop"], d["target"], d["ok"]) for d in done] == [
        ("slurm.sync", "brecca", False),
        ("slurm.sync", "tango", True),
        ("slurm.pull", "brecca", False),
        ("slurm.pull", "tango", True),
    ]
    errors = dict(LoopStatus.objects.filter(target="brecca").values_list("loop", "last_error"))
    assert errors == {"slurm.sync": "cluster unreachable", "slurm.pull": "cluster unreachable"}


def test_a_failed_sync_is_retried_once_settled_not_after_the_full_period(example):
    slurm_machines("brecca")
    calls = []

    def flaky_sync(machine):
        calls.append("sync")
        if len(calls) == 2:
            raise RuntimeError("slurmdbd down")
        return {}

    agent = slurm_agent(flaky_sync, lambda m: {}, sync_every=900, pull_every=3000, settle=10)
    agent.tick(now=1000)
    remove_member(example.projects["ProjectB"], example.people["bob"])
    agent.tick(now=1001)
    agent.tick(now=1012)  # due for the change: fails
    agent.tick(now=1025)  # the change is still unsynced: tried again
    assert calls == ["sync", "sync", "sync"]
    agent.tick(now=1040)  # and synced: not again
    assert calls == ["sync", "sync", "sync"]


def test_machines_run_by_nothing_outside_allotment_are_left_alone(example):
    agent, ran = agent_with_log()
    agent.tick(now=1000)
    assert ran == []


def test_a_loop_whose_targets_cannot_be_listed_does_not_stop_the_others(example):
    slurm_machines("brecca")

    def unlistable():
        raise RuntimeError("inventory down")

    ran = []
    broken = dataclasses.replace(slurm.SYNC, name="broken", targets=unlistable)
    pull = dataclasses.replace(slurm.PULL, step=lambda m: ran.append(m.name))
    Agent([broken, pull]).tick(now=1000)
    assert ran == ["brecca"]
