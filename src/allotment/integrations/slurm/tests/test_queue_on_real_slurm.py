"""SlurmQueue against the real slurmctld of `allot dev slurm`: jobs of the example site's
projects waiting in the partition `burst` while its FUTURE nodes are down, one running
once burst1's slurmd registers (a burst VM booting, on loopback), and its core-seconds."""

import time
from decimal import Decimal

import pytest

from allotment.burst.engines import PendingGroup, RunningJob
from allotment.integrations.slurm import devcluster
from allotment.integrations.slurm.queue import SlurmQueue
from allotment.integrations.slurm.sacctmgr import Cluster
from allotment.integrations.slurm.sync import sync
from allotment.inventory.engines import EngineError

from .conftest import FINISHED, this_years_pool, unix_user
from .test_nodes_on_real_slurm import until

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

BURST = devcluster.BURST_PARTITION
NODES = [f"burst[1-{devcluster.BURST_NODES}]"]


def to_burst(cluster: Cluster, user: str, account: str, *options: str, sleep: int = 300) -> str:
    """sbatch into the burst partition as `user`; an association slurmctld has not learnt
    from the sync yet is asked again for a few seconds."""
    command = ["sbatch", "--parsable", f"--partition={BURST}", f"--uid={user}",
               f"--account={account}", "--time=10", "--output=/dev/null", "--chdir=/tmp",
               *options, f"--wrap=sleep {sleep}"]  # fmt: skip
    return until(lambda: _submitted(cluster, command), f"{user}'s job in {account} accepted", 60)


def _submitted(cluster: Cluster, command: list[str]) -> str:
    code, out = cluster.attempt(*command)
    assert code == 0 or "Invalid account" in out, out
    return out.strip().split(";")[0] if code == 0 else ""


@pytest.fixture
def accounts(brecca, example, slurm_burst):
    """projecta (alice) and projectb (bob) with this year's allocations, synced to Slurm."""
    for pid in ("ProjectA", "ProjectB"):
        this_years_pool(example, pid, Decimal(100))
    outcome = sync(brecca)
    assert not outcome.failed, outcome.failed
    brecca.refresh_from_db()
    return brecca


def test_the_loopback_cluster_declares_the_burst_partition_of_future_nodes(slurm_cluster):
    cluster = Cluster("brecca", str(slurm_cluster.conf))
    partitions = {
        line.split()[0].removeprefix("PartitionName="): line
        for line in cluster.run("scontrol", "-o", "show", "partition").splitlines()
    }
    assert " Nodes=burst[1-8] " in partitions["burst"]
    assert " Nodes=extra[1-4],node[1-4] " in partitions["debug"]  # no burst node in debug
    assert " Default=YES " in partitions["debug"]


def test_waiting_jobs_are_grouped_per_account_and_cores_and_held_or_dependent_ones_left_out(
    accounts,
):
    cluster, queue = Cluster.of(accounts), SlurmQueue(accounts)
    alice, bob = unix_user("alice"), unix_user("bob")
    for _ in range(3):
        to_burst(cluster, alice, "projecta")
    to_burst(cluster, alice, "projecta", "--array=1-4")
    for _ in range(2):
        to_burst(cluster, bob, "projectb", "--ntasks=2", "--mem-per-cpu=100M")
    held = to_burst(cluster, alice, "projecta", "--hold")
    dependent = to_burst(cluster, bob, "projectb", f"--dependency=afterok:{held}")
    begins_later = to_burst(cluster, bob, "projectb", "--begin=now+1hour")

    expected = [
        PendingGroup(cores=1, memory_mb=0, partition=BURST, account="projecta", count=3 + 4),
        PendingGroup(cores=2, memory_mb=200, partition=BURST, account="projectb", count=2),
    ]
    # A job just submitted counts once Slurm has made it eligible (an array: a moment after
    # sbatch); the held, dependent and later ones never do.
    snapshot = until(lambda: (s := queue.snapshot([BURST], NODES)).pending == expected and s,
                     "the waiting jobs counted", timeout=15)  # fmt: skip
    for _ in range(3):  # and they stay out once the scheduler has looked at them
        time.sleep(1)
        assert queue.snapshot([BURST], NODES).pending == expected
    assert snapshot.running == []
    assert snapshot.nodes == {f"burst{n}": "future" for n in range(1, 9)}
    assert snapshot.machine == "brecca"
    assert abs(snapshot.taken_at - time.time()) < 30
    reasons = dict(
        line.split("|")
        for line in cluster.run("squeue", "-h", "-p", BURST, "-o", "%i|%r").splitlines()
    )
    assert (reasons[held], reasons[dependent], reasons[begins_later]) == (
        "JobHeldUser", "Dependency", "BeginTime",
    )  # fmt: skip
    waiting = {r for job, r in reasons.items() if job not in (held, dependent, begins_later)}
    assert waiting <= {  # every burst node FUTURE: Slurm's words for "no node for it"
        "None",
        "ReqNodeNotAvail, May be reserved for other job",
        "Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority "
        "partitions",
    }, waiting


def test_a_job_runs_on_a_burst_node_once_it_registers_and_its_core_seconds_count(
    accounts, slurm_cluster
):
    cluster, queue = Cluster.of(accounts), SlurmQueue(accounts)
    job = to_burst(cluster, unix_user("alice"), "projecta", "--ntasks=2", sleep=4)
    assert [g.count for g in queue.snapshot([BURST], NODES).pending] == [1]

    devcluster.start_node("burst1", slurm_cluster)
    snapshot = until(lambda: (s := queue.snapshot([BURST], NODES)).running and s,
                     "the job running on burst1", timeout=30)  # fmt: skip
    assert snapshot.running == [
        RunningJob(job_id=job, account="projecta", cores=2, nodes=("burst1",))
    ]
    assert snapshot.pending == []
    assert snapshot.nodes["burst1"] == "alloc"  # both of its 2 cores
    assert snapshot.nodes["burst2"] == "future"

    row = until(lambda: _finished(cluster, job), f"job {job} finished", 60)
    state, start, end, elapsed, cpus = row
    assert (state, cpus) == ("COMPLETED", 2)
    assert elapsed == end - start >= 4
    # slurmdbd may list the job by its node a moment after it lists it by id (seen under
    # load): the figure must come, exactly, within seconds.
    until(lambda: queue.core_seconds("burst1", start, end) == {"projecta": 2 * elapsed},
          "the job's core-seconds on burst1", timeout=20)  # fmt: skip
    assert queue.core_seconds("burst1", start - 3600, end + 3600)["projecta"] >= 2 * elapsed
    assert queue.core_seconds("burst1", start + 1, end) == {"projecta": 2 * (elapsed - 1)}
    assert queue.core_seconds("burst2", start, end) == {}  # it never ran a job
    assert until(lambda: queue.node_states(["burst1"]) == {"burst1": "idle"}, "burst1 idle")


def _finished(cluster: Cluster, job: str) -> tuple[str, int, int, int, int] | None:
    out = cluster.run("sacct", "-n", "-X", "-P", "-j", job, "-o",
                      "State,Start,End,ElapsedRaw,AllocCPUS",
                      env={"SLURM_TIME_FORMAT": "%s"}).strip()  # fmt: skip
    if not out or out.split("|")[0] not in FINISHED:
        return None
    state, start, end, elapsed, cpus = out.splitlines()[0].split("|")
    return state, int(start), int(end), int(elapsed), int(cpus)


def test_a_burst_partition_slurm_lacks_is_a_permanent_error(accounts):
    with pytest.raises(EngineError, match=r"Slurm cluster brecca has no partition gpu \(it "
                       r"has burst, debug\)") as e:  # fmt: skip
        SlurmQueue(accounts).snapshot([BURST, "gpu"], NODES)
    assert e.value.permanent


def test_a_controller_that_does_not_answer_is_a_temporary_error(accounts, slurm_cluster, tmp_path):
    conf = tmp_path / "slurm.conf"
    conf.write_text(
        slurm_cluster.conf.read_text()
        .replace(f"SlurmctldPort={devcluster.SLURMCTLD_PORT}", "SlurmctldPort=6999")
        .replace("MessageTimeout=10", "MessageTimeout=2")
    )  # fmt: skip
    assert not devcluster.port_taken(6999)
    accounts.engine_options = {**accounts.engine_options, "slurm_conf": str(conf)}
    queue = SlurmQueue(accounts)
    with pytest.raises(EngineError, match="Unable to contact slurm controller") as e:
        queue.snapshot([BURST], NODES)
    assert not e.value.permanent
    assert str(e.value).startswith("Slurm cluster brecca: could not list the partitions")


def test_point_machine_at_gives_brecca_its_burst_partition_and_nodes(accounts, slurm_cluster):
    accounts.engine_options = {**accounts.engine_options, "site": "kept",
                               "burst": {"controller": "10.0.0.1"}}  # fmt: skip
    accounts.save()
    assert devcluster.point_machine_at(slurm_cluster)
    accounts.refresh_from_db()
    assert accounts.engine_options == {
        "site": "kept",
        "cluster": "brecca",
        "slurm_conf": str(slurm_cluster.conf),
        "loopback": True,
        "slurmrestd": "http://127.0.0.1:17820",
        "jobs_dir": str(slurm_cluster.jobs),
        "burst": {"controller": "10.0.0.1", "partitions": ["burst"], "nodes": "burst[1-8]"},
    }
