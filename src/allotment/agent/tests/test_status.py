"""The agent's loop health in agent.LoopStatus: errors and failure counts, reset by a success."""

from datetime import UTC, datetime, timedelta

from django.db import DatabaseError

from allotment.agent import runner
from allotment.agent.models import LoopStatus
from allotment.resources.models import Machine

from .test_loops import slurm_agent, slurm_machines


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def switchable_agent(**kwargs):
    """An agent whose steps fail while `broken` holds an error message."""
    broken: list[str] = []

    def step(machine):
        if broken:
            raise RuntimeError(broken[0])
        return {}

    return slurm_agent(step, step, sync_every=900, pull_every=300, **kwargs), broken


def test_a_failing_step_records_its_error_and_counts_failures_in_a_row(example):
    slurm_machines("brecca")
    agent, broken = switchable_agent()
    broken.append("slurmdbd down")
    agent.tick(now=1000)
    agent.tick(now=1300)  # the pull is due again, and the failed sync is retried
    pull = LoopStatus.objects.get(loop="slurm.pull", target="brecca")
    assert (pull.name, pull.interval) == ("slurm.pull:brecca", 300)
    assert pull.last_error == "slurmdbd down"
    assert pull.consecutive_failures == 2
    assert pull.runs == 2
    assert pull.last_ok is None
    assert at(1300) <= pull.last_started <= pull.last_finished < at(1301)
    assert pull.next_due == at(1600)
    assert (pull.lease_holder, pull.lease_expires, pull.takeovers) == ("", None, 0)
    sync = LoopStatus.objects.get(loop="slurm.sync", target="brecca")
    assert (sync.consecutive_failures, sync.runs, sync.interval) == (2, 2, 900)


def test_a_success_resets_the_error_and_the_failure_count(example):
    slurm_machines("brecca")
    agent, broken = switchable_agent()
    broken.append("slurmdbd down")
    agent.tick(now=1000)
    broken.clear()
    agent.tick(now=1300)
    pull = LoopStatus.objects.get(loop="slurm.pull", target="brecca")
    assert (pull.last_error, pull.consecutive_failures, pull.runs) == ("", 0, 2)
    assert at(1300) <= pull.last_ok < at(1301)
    assert LoopStatus.objects.get(loop="slurm.sync").consecutive_failures == 0


def test_commands_the_engine_refused_are_a_failure(example):
    slurm_machines("brecca")
    refused = {"failed": [{"command": "sacctmgr add account x"}]}
    slurm_agent(lambda m: refused, lambda m: {}).tick(now=1000)
    sync = LoopStatus.objects.get(loop="slurm.sync", target="brecca")
    assert (sync.last_error, sync.consecutive_failures) == ("sacctmgr add account x", 1)


def test_a_refused_outcome_write_does_not_stop_the_other_targets(example, monkeypatch):
    slurm_machines("brecca", "tango")
    complete = runner.Agent._complete

    def refuse_brecca(self, loop, row, *args):
        if row.target == "brecca":
            raise DatabaseError("disk full")
        return complete(self, loop, row, *args)

    monkeypatch.setattr(runner.Agent, "_complete", refuse_brecca)
    ran = []
    done = slurm_agent(lambda m: ran.append(m.name), lambda m: {}).tick(now=1000)
    assert ran == ["brecca", "tango"]
    assert [d["ok"] for d in done] == [True, True, True, True]
    recorded = LoopStatus.objects.filter(runs=1).values_list("loop", "target")
    assert sorted(recorded) == [("slurm.pull", "tango"), ("slurm.sync", "tango")]


def test_loops_of_machines_no_longer_run_are_forgotten(example):
    slurm_machines("brecca", "tango")
    agent, _ = switchable_agent()
    agent.tick(now=1000)
    assert LoopStatus.objects.count() == 4
    Machine.objects.filter(name="tango").update(engine="local")
    agent.tick(now=1001)
    assert sorted(LoopStatus.objects.values_list("loop", "target")) == [
        ("slurm.pull", "brecca"),
        ("slurm.sync", "brecca"),
    ]


def test_a_loop_is_healthy_until_it_has_missed_two_runs():
    loop = LoopStatus(loop="slurm.pull", target="x", interval=300, last_ok=at(1000))
    assert loop.healthy(at(1000) + timedelta(seconds=600))
    assert not loop.healthy(at(1000) + timedelta(seconds=661))
    assert not LoopStatus(loop="slurm.pull", target="x", interval=300).healthy(at(1000))
