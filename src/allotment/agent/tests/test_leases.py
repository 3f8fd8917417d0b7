"""Leases in one process, agents taking turns: a unit another agent holds is left alone,
an expired lease is taken over and counted, an atomic step that lost its lease is undone.
(Real agent processes racing on PostgreSQL: tests/test_agents_on_postgres.py.)"""

import dataclasses
import time
from datetime import datetime, timedelta

from allotment.agent import leases
from allotment.agent.models import AgentProcess, LoopStatus
from allotment.agent.registry import Loop
from allotment.agent.runner import Agent
from allotment.agent.status import snapshot
from allotment.projects.models import Project

seen: list[tuple[str, str, str]] = []


def note(target: str) -> None:
    row = LoopStatus.objects.get(loop="test.note", target=target)
    seen.append((target, row.lease_holder, row.lease_expires.isoformat()))


NOTE = Loop(
    name="test.note",
    interval=60,
    targets=lambda: ["a", "b"],
    key=str,
    step=note,
    lease=30,
)


def run_once(loop: Loop, identity: str, now: float = 1000) -> list[dict]:
    return Agent([loop], identity=identity).tick(now=now)


def test_a_step_runs_under_this_agents_lease_which_is_released_after(db):
    seen.clear()
    before = time.time()
    run_once(NOTE, "h:1:aa")
    assert [(target, holder) for target, holder, _ in seen] == [("a", "h:1:aa"), ("b", "h:1:aa")]
    expires = datetime.fromisoformat(seen[0][2])
    assert leases.utc(before + 30) <= expires <= leases.utc(time.time() + 30)
    rows = LoopStatus.objects.filter(loop="test.note").values_list("lease_holder", "runs")
    assert list(rows) == [("", 1), ("", 1)]


def test_a_unit_another_agent_holds_is_left_alone_until_its_lease_expires(db):
    seen.clear()
    run_once(NOTE, "h:1:aa")  # creates the rows; both done
    other = leases.utc(time.time() + 30)
    LoopStatus.objects.filter(target="a").update(
        lease_holder="h:2:bb", lease_expires=other, next_due=None
    )
    LoopStatus.objects.filter(target="b").update(next_due=None)
    seen.clear()
    assert [d["target"] for d in run_once(NOTE, "h:1:aa")] == ["b"]
    a = LoopStatus.objects.get(target="a")
    assert (a.lease_holder, a.runs, a.takeovers) == ("h:2:bb", 1, 0)

    LoopStatus.objects.filter(target="a").update(lease_expires=leases.utc(time.time() - 1))
    assert [d["target"] for d in run_once(NOTE, "h:1:aa")] == ["a"]  # h:2:bb died
    a = LoopStatus.objects.get(target="a")
    assert (a.lease_holder, a.runs, a.takeovers) == ("", 2, 1)
    assert snapshot()["units"][0]["takeovers"] == 1


def test_a_claim_on_a_stale_reading_fails(db):
    run_once(NOTE, "h:1:aa")
    row = LoopStatus.objects.get(target="a")
    LoopStatus.objects.filter(pk=row.pk).update(runs=2)  # another agent ran it meanwhile
    assert not leases.claim(row, "h:3:cc", 30)
    row.refresh_from_db()
    assert leases.claim(row, "h:3:cc", 30)
    assert not leases.claim(row, "h:4:dd", 30)  # held now


def test_an_atomic_step_whose_lease_was_taken_over_is_undone(example):
    def describe_then_lose_the_lease(project):
        project.description = "written by an agent that lost its lease"
        project.save()
        LoopStatus.objects.filter(loop="test.atomic").update(
            lease_holder="h:9:zz", lease_expires=leases.utc(time.time() + 30)
        )

    loop = Loop(
        name="test.atomic",
        interval=60,
        targets=lambda: Project.objects.filter(pid="ProjectA"),
        key=lambda p: p.pid,
        step=describe_then_lose_the_lease,
        atomic=True,
    )
    assert run_once(loop, "h:1:aa") == []
    assert Project.objects.get(pid="ProjectA").description != (
        "written by an agent that lost its lease"
    )
    assert LoopStatus.objects.get(loop="test.atomic").runs == 0


def test_a_failing_atomic_step_is_undone_and_recorded(example):
    def describe_then_fail(project):
        project.description = "half-done"
        project.save()
        raise RuntimeError("engine said no")

    loop = dataclasses.replace(
        NOTE,
        name="test.atomic",
        targets=lambda: Project.objects.filter(pid="ProjectA"),
        key=lambda p: p.pid,
        step=describe_then_fail,
        atomic=True,
    )
    [done] = run_once(loop, "h:1:aa")
    assert (done["ok"], done["error"]) == (False, "engine said no")
    assert Project.objects.get(pid="ProjectA").description != "half-done"
    row = LoopStatus.objects.get(loop="test.atomic")
    assert (row.runs, row.consecutive_failures, row.last_error, row.lease_holder) == (
        1, 1, "engine said no", ""
    )  # fmt: skip


def test_the_heartbeat_renews_the_running_units_lease_and_the_agents_row(db):
    run_once(NOTE, "h:1:aa")
    row = LoopStatus.objects.get(target="a")
    LoopStatus.objects.filter(pk=row.pk).update(next_due=None)
    row.refresh_from_db()
    assert leases.claim(row, "h:1:aa", 5)
    AgentProcess.objects.filter(identity="h:1:aa").update(last_seen=leases.utc(1000))
    beat = leases.Heartbeat("h:1:aa", every=1)
    beat.unit = (row.pk, 300)
    beat.beat()
    row.refresh_from_db()
    assert row.lease_expires > leases.utc(time.time() + 290)
    assert AgentProcess.objects.get(identity="h:1:aa").last_seen > leases.utc(time.time() - 5)


def test_an_agent_is_live_while_it_beats_and_withdraws_when_it_stops(db):
    agent = Agent([NOTE], identity="h:1:aa")
    agent.tick(now=1000)
    [live] = snapshot()["agents"]
    assert (live["identity"], live["host"], live["pid"], live["loops"]) == (
        "h:1:aa", "h", 1, ["test.note"]
    )  # fmt: skip
    AgentProcess.objects.update(last_seen=leases.utc(time.time()) - timedelta(seconds=61))
    assert snapshot()["agents"] == []  # silent for over a minute: not counted
    agent.shutdown()
    assert not AgentProcess.objects.exists()
