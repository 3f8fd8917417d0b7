"""The same jobs give the same burst demand, and so the same boots, whether HTCondor or
Slurm queues them: HTCondorQueue on the recorded autoclusters (tests/data/
idle_autoclusters.ads, jobs.ads) against Slurm's own reader (integrations.slurm.queue.
QueueReader) on squeue's output for those jobs (tests/data/squeue_same_jobs.txt)."""

from collections import Counter
from decimal import Decimal

from allotment.burst.demand import CloudView, FlavorView, decide
from allotment.integrations.htcondor.testing import DATA
from allotment.integrations.slurm.queue import QueueReader

from .test_queue_recorded import NODES, brecca

NOW = 2000  # after every job's EligibleTime (1000)


def slurm_reader() -> QueueReader:
    reader = QueueReader(["burst"], now=NOW)
    for line in (DATA / "squeue_same_jobs.txt").read_text().splitlines():
        if not line.startswith("#"):
            reader.feed(line)
    return reader


def clouds() -> list[CloudView]:
    flavors = (FlavorView("c1.small", 1, 2048), FlavorView("c2.large", 2, 4096),
               FlavorView("c4.xlarge", 4, 16384))  # fmt: skip
    return [
        CloudView(name="arbutus", priority=1, flavors=flavors, default_image="worker",
                  images=frozenset({"worker", "ubuntu-24.04"}), starting_slots=100,
                  boots_per_cycle=100),
        CloudView(name="cedar", priority=2, flavors=flavors, default_image="worker",
                  images=frozenset({"worker"}), starting_slots=100, boots_per_cycle=100),
    ]  # fmt: skip


def test_htcondor_autoclusters_give_the_demand_slurm_gives_for_the_same_jobs():
    htcondor = brecca().snapshot(["burst"], NODES)
    slurm = slurm_reader()
    assert htcondor.pending == slurm.pending()
    assert sum(g.count for g in htcondor.pending) == 40 + 6 + 30 + 3  # held job 106.0/213 not


def test_and_so_the_same_boots():
    remaining = {"projecta": Decimal(500), "projectb": Decimal(200)}
    from_htcondor = decide(brecca().snapshot(["burst"], NODES).pending, clouds(), [], remaining)
    from_slurm = decide(slurm_reader().pending(), clouds(), [], remaining)
    assert from_htcondor.boots == from_slurm.boots  # the same VMs, in the same order
    assert from_htcondor.refusals == from_slurm.refusals == Counter()
    # One VM per job (each flavor holds one job of its group), all on arbutus, the first
    # cloud by priority and the only one with ubuntu-24.04.
    assert Counter((b.cloud, b.flavor, b.image, b.account) for b in from_htcondor.boots) == {
        ("arbutus", "c1.small", "worker", "projecta"): 40,
        ("arbutus", "c4.xlarge", "ubuntu-24.04", "projecta"): 6,
        ("arbutus", "c1.small", "worker", "projectb"): 30,
        ("arbutus", "c2.large", "worker", "projectb"): 3,
    }


def test_the_running_jobs_are_the_same_jobs_on_the_same_nodes():
    htcondor = brecca().snapshot(["burst"], NODES).running
    slurm = slurm_reader().running
    assert [(j.account, j.cores, j.nodes) for j in htcondor] == [
        (j.account, j.cores, j.nodes) for j in slurm
    ]
