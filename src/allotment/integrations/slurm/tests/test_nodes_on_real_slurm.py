"""SlurmNodes against the real slurmctld and slurmds of `allot dev slurm`: a shift's drain,
wait, force, leaving and joining of brecca's node4 (and a FUTURE node), as the inventory's
reconcile loop asks for them, one call per tick."""

import os
import time
from datetime import date
from decimal import Decimal

import pytest

from allotment.integrations.slurm import devcluster
from allotment.integrations.slurm.nodes import SlurmNodes, parse_node
from allotment.integrations.slurm.sacctmgr import Cluster
from allotment.integrations.slurm.sync import sync
from allotment.inventory.engines import REASON_PREFIX, EngineError, Evacuation, HostState
from allotment.resources.models import Engine, Machine

from .conftest import this_years_pool, unix_user

pytestmark = pytest.mark.slurm

REASON = f"{REASON_PREFIX} 12: node4 to tango"
THEIRS = "disk replaced, burn-in first (ops)"


def until(check, what: str, timeout: float = 30, pause: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(pause)
    raise AssertionError(f"{what}: not within {timeout} s")


def joined(nodes: SlurmNodes, name: str) -> bool:
    """One join tick of the reconcile loop: resume what a shift drained, then the gate."""
    if nodes.host(name).drained_by_us:
        nodes.resume(name)
    return nodes.health(name) == ""


def scontrol(cluster: Cluster, name: str, state: str, reason: str = "") -> None:
    cluster.run("scontrol", "update", f"nodename={name}", f"state={state}",
                *([f"reason={reason}"] if reason else []))  # fmt: skip


@pytest.fixture
def machine(slurm_cluster):
    """brecca's Machine as the dev cluster points it (not saved: these tests need no ledger)."""
    return Machine(name="brecca", engine=Engine.SLURM, start_date=date(2100, 1, 1),
                   engine_options={"cluster": "brecca", "slurm_conf": str(slurm_cluster.conf),
                                   "loopback": True})  # fmt: skip


@pytest.fixture(autouse=True)
def nodes_restored(slurm_cluster):
    """Whatever a test did, the static nodes end up idle with their slurmd running and the
    FUTURE ones back to FUTURE: the next tests (and the next run) start from that."""
    yield
    cluster = Cluster("brecca", str(slurm_cluster.conf))
    for name in devcluster.static_nodes():
        devcluster.start_node(name, slurm_cluster)
    until(lambda: devcluster.nodes_registered(slurm_cluster, devcluster.static_nodes()),
          "the static nodes registered")  # fmt: skip
    for name in devcluster.static_nodes():
        state = cluster.run("sinfo", "-h", "-N", "-n", name, "-o", "%t").strip()
        if state != "idle":
            scontrol(cluster, name, "resume")
    for name in devcluster.future_nodes():
        devcluster.stop_node(name, slurm_cluster)
        shown = cluster.run("scontrol", "--future", "show", "node", name)
        if parse_node(shown, name).state != "FUTURE":
            scontrol(cluster, name, "future", "test over")


def sbatch(cluster: Cluster, user: str, account: str, *options: str) -> str:
    """A job as `user` that sleeps 5 minutes; a refusal for an association slurmctld has
    not learnt yet from a sync is retried for a few seconds."""
    deadline = time.monotonic() + 60
    while True:
        code, out = cluster.attempt(
            "sbatch", "--parsable", f"--uid={user}", f"--account={account}", "--time=5",
            "--ntasks=1", "--output=/dev/null", "--chdir=/tmp", *options, "--wrap=sleep 300",
        )  # fmt: skip
        if code == 0:
            return out.strip().split(";")[0]
        assert "Invalid account" in out and time.monotonic() < deadline, out
        time.sleep(0.3)


def job_state(cluster: Cluster, job: str) -> str:
    """The job's state as slurmctld holds it (squeue forgets ended jobs: sacct then)."""
    state = cluster.run("squeue", "-h", "-j", job, "-o", "%T", check=False).strip()
    return state or cluster.run("sacct", "-n", "-X", "-P", "-j", job, "-o", "State").split()[0]


def test_a_drain_waits_for_the_job_and_force_requeues_or_cancels_it(brecca, example):
    this_years_pool(example, "ProjectA", Decimal(100))
    sync(brecca)  # the allocation becomes projecta's limit
    brecca.refresh_from_db()
    assert brecca.engine_options["loopback"] is True  # as point_machine_at sets it
    nodes, cluster = SlurmNodes(brecca), Cluster.of(brecca)
    alice = unix_user("alice")
    requeueable = sbatch(cluster, alice, "projecta", "--nodelist=node4", "--requeue")
    not_requeueable = sbatch(cluster, alice, "projecta", "--nodelist=node4", "--no-requeue")
    try:
        until(lambda: {w.id for w in nodes.workload("node4") if w.state == "RUNNING"}
              == {requeueable, not_requeueable}, "both jobs running on node4")  # fmt: skip
        assert {w.name for w in nodes.workload("node4")} == {"wrap"}

        nodes.drain("node4", REASON)
        nodes.drain("node4", f"{REASON_PREFIX} 13: another shift")  # the first reason stays
        host = nodes.host("node4")
        assert (host.known, host.up, host.drained_by_us, host.reason) == (True, True, True, REASON)
        assert host.detail in ("MIXED+DRAIN", "ALLOCATED+DRAIN")
        with pytest.raises(EngineError, match="node node4 still runs jobs") as refused:
            nodes.stop("node4")  # marking it down would kill them
        assert not refused.value.permanent and not nodes.host("node4").detail.startswith("DOWN")

        # Without force nothing is asked: the jobs run on.
        assert nodes.evacuate("node4", force=False) == Evacuation()
        time.sleep(1)
        assert job_state(cluster, requeueable) == job_state(cluster, not_requeueable) == "RUNNING"
        assert len(nodes.workload("node4")) == 2

        forced = nodes.evacuate("node4", force=True)
        assert sorted(forced.started) == sorted(
            [f"requeue {requeueable}", f"cancel {not_requeueable}"]
        )
        assert forced.refused == {}
        until(lambda: nodes.workload("node4") == [], "node4 empty")
        assert nodes.evacuate("node4", force=True) == Evacuation()  # nothing left to ask
        # The requeued job waits for node4 (its only node), the other is gone for good.
        until(lambda: job_state(cluster, requeueable) == "PENDING", "the requeued job pending")
        until(lambda: job_state(cluster, not_requeueable) == "CANCELLED", "the cancel recorded")
        restarts = cluster.run("scontrol", "show", "job", requeueable)
        assert " Restarts=1 " in restarts.replace("\n", " ")
        assert nodes.host("node4").reason == REASON
    finally:
        cluster.run("scancel", requeueable, not_requeueable, check=False)


def test_node4_leaves_and_joins_again_idle_and_healthy(machine, slurm_cluster):
    nodes = SlurmNodes(machine)
    began = time.monotonic()
    nodes.drain("node4", REASON)
    nodes.stop("node4")
    nodes.stop("node4")  # asked again on the next tick: nothing changes
    host = nodes.host("node4")
    assert (host.known, host.up, host.drained_by_us, host.reason) == (True, False, True, REASON)
    # +NOT_RESPONDING too, once slurmctld misses its slurmd (or from a resume just before:
    # slurmctld flags a resumed node so until its next ping).
    assert host.detail.startswith("DOWN+DRAIN")
    assert "slurmd-node4" not in devcluster.status()["components"]
    assert "node4" not in devcluster.nodes_on(slurm_cluster)
    assert nodes.health("node4").startswith("Slurm node node4 is DOWN+DRAIN")
    left = time.monotonic() - began

    nodes.resume("node4")  # its slurmd is not back: resuming would send it jobs
    assert nodes.host("node4").detail.startswith("DOWN+DRAIN")
    # `up` brings back the daemons it should run, not a node a shift took away.
    devcluster.up(log=lambda *_: None, point_machine=False)
    assert "slurmd-node4" not in devcluster.status()["components"]

    began = time.monotonic()
    nodes.start("node4")  # the image has booted
    nodes.start("node4")
    assert devcluster.status()["components"]["slurmd-node4"]["running"]
    until(lambda: joined(nodes, "node4"), "node4 healthy")
    back = time.monotonic() - began
    assert nodes.host("node4") == HostState(known=True, up=True, detail="IDLE")
    nodes.resume("node4")  # nothing to resume: no error
    print(f"node4 out in {left:.2f} s, back and healthy in {back:.2f} s")


def test_a_future_node_joins_idle_and_leaves_back_to_future(machine):
    nodes = SlurmNodes(machine)
    assert nodes.host("extra1") == HostState(known=True, detail="FUTURE")
    assert nodes.workload("extra1") == []  # squeue refuses a FUTURE node: it runs nothing
    assert "has not registered" in nodes.health("extra1")
    nodes.drain("extra1", REASON)  # a drain before joining would lose its reason: none
    assert nodes.host("extra1").detail == "FUTURE"

    nodes.start("extra1")
    until(lambda: nodes.health("extra1") == "", "extra1 joined")  # no resume needed
    assert nodes.host("extra1") == HostState(known=True, up=True, detail="IDLE")

    nodes.drain("extra1", REASON)
    nodes.stop("extra1")
    assert nodes.host("extra1") == HostState(known=True, detail="FUTURE")
    assert "extra1" not in Cluster.of(machine).run("sinfo", "-h", "-N", "-o", "%N")
    nodes.start("extra1")  # and it can join again
    until(lambda: nodes.health("extra1") == "", "extra1 joined again")


def test_someone_elses_drain_is_never_resumed(machine):
    nodes, cluster = SlurmNodes(machine), Cluster.of(machine)
    scontrol(cluster, "node3", "drain", THEIRS)
    nodes.drain("node3", REASON)
    host = nodes.host("node3")
    assert (host.drained, host.drained_by_us, host.reason) == (True, False, THEIRS)
    nodes.resume("node3")
    assert nodes.host("node3").reason == THEIRS

    # Taken out and back (their drain then, a shift's force now): still theirs, still drained.
    nodes.stop("node3")
    host = nodes.host("node3")
    assert (host.up, host.drained, host.reason) == (False, True, THEIRS)
    assert host.detail.startswith("DOWN+DRAIN")
    nodes.start("node3")
    until(lambda: nodes.host("node3").up, "node3 registered")
    for _ in range(3):
        nodes.resume("node3")
    assert nodes.host("node3") == HostState(
        known=True, up=True, drained=True, reason=THEIRS, detail="IDLE+DRAIN"
    )
    assert nodes.health("node3") == (
        f"Slurm node node3 is IDLE+DRAIN: drained by someone else, never resumed by a shift "
        f"({THEIRS})"
    )


def test_an_unknown_node_is_not_known_and_cannot_be_drained(machine):
    nodes = SlurmNodes(machine)
    assert nodes.host("node9") == HostState(
        known=False, detail="no node node9 in Slurm cluster brecca"
    )
    assert nodes.health("node9") == "Slurm cluster brecca has no node node9"
    with pytest.raises(EngineError) as e:
        nodes.drain("node9", REASON)
    assert e.value.permanent
    assert str(e.value) == (
        "Slurm cluster brecca: cannot drain node node9: `scontrol show node node9` says the "
        "cluster has no such node."
    )
    with pytest.raises(EngineError, match=r"`squeue -h -r -w node9 .*Invalid node name") as e:
        nodes.workload("node9")
    assert e.value.permanent
    with pytest.raises(EngineError, match="not a node of the local cluster brecca") as e:
        nodes.start("node9")
    assert e.value.permanent
    assert "node9" not in devcluster.nodes_on(devcluster.layout())


def test_a_controller_that_does_not_answer_is_a_temporary_error(machine, slurm_cluster, tmp_path):
    conf = tmp_path / "slurm.conf"
    text = slurm_cluster.conf.read_text()
    # A port nothing listens on, and one second of retrying instead of ten.
    conf.write_text(
        text.replace(f"SlurmctldPort={devcluster.SLURMCTLD_PORT}", "SlurmctldPort=6999")
        .replace("MessageTimeout=10", "MessageTimeout=2")
    )  # fmt: skip
    assert not devcluster.port_taken(6999)
    machine.engine_options = {**machine.engine_options, "slurm_conf": str(conf)}
    nodes = SlurmNodes(machine)
    for call in (lambda: nodes.host("node1"), lambda: nodes.drain("node1", REASON),
                 lambda: nodes.workload("node1")):  # fmt: skip
        with pytest.raises(EngineError, match="Unable to contact slurm controller") as e:
            call()
        assert not e.value.permanent
        assert str(e.value).startswith("Slurm cluster brecca: could not ")


@pytest.mark.skipif(os.geteuid() != 0, reason="starts and stops slurmd as root")
def test_start_and_stop_node_are_idempotent_and_recorded(slurm_cluster):
    where = slurm_cluster
    assert devcluster.start_node("extra2", where) is True
    assert devcluster.start_node("extra2", where) is False
    pid = devcluster._load_pids(where)["slurmd-extra2"]
    assert devcluster.running("slurmd-extra2", pid)
    assert devcluster.nodes_on(where)[-1] == "extra2"
    until(lambda: devcluster.nodes_registered(where, ["extra2"]), "extra2 registered")
    assert devcluster.stop_node("extra2", where) is True
    assert devcluster.stop_node("extra2", where) is False
    assert not devcluster.running("slurmd-extra2", pid)
    assert "slurmd-extra2" not in devcluster._load_pids(where)
    assert "extra2" not in devcluster.nodes_on(where)
    Cluster("brecca", str(where.conf)).run(
        "scontrol", "update", "nodename=extra2", "state=future", "reason=test over"
    )
    with pytest.raises(devcluster.ClusterError, match="'node5' is not a node of the local"):
        devcluster.start_node("node5", where)
