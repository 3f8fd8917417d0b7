"""Burst decision benchmark: one cycle's time with N idle jobs (default 10,000) in G groups
(default 100) over C clouds (default 3), from the queue snapshot to the decisions
persisted (issue 13's figure).

    .venv/bin/python bench/burst.py [--jobs N] [--groups G] [--clouds C] [--cycles K]
                                    [--accounts A] [--running R] [--sqlite]

Issue 14's scale: --jobs 300000 --groups 1000 --clouds 5 --running 2000 --accounts 50.

PostgreSQL (database allotment_bench, BENCH_PG_URL) when it answers, else SQLite.

The setting, and why:
- A fresh ledger (the example site) with A projects (default 20), each with an allocation
  on the clouds' VM-hours pool, so the allocation check and the shares run as in a site.
- C local clouds with room for 2,000 VMs each, 6 flavors and the worker image, refreshed
  through the real refresh path (services.refresh); throttles of 50 starting VMs and 50
  boots per cycle each, so every cycle decides and persists boots.
- The queue is the snapshot a batch system would return (burst.engines.QueueSnapshot with
  G groups whose counts add up to N), served from memory: what is timed is Allotment's own
  work on it (reading the clouds' state, the decision, the VM rows written), not squeue.
  With --running R, R VMs are busy when the cycles start (each running one job of the
  snapshot), as supply the decision reads and rows the clouds' room is computed from.
  Between cycles the VMs booted are marked idle, as if they had come up, so the next cycle
  sees them as supply and the throttles free up.

Printed: per cycle the total, the decision alone (demand.decide) and the rest (state read,
names, VM rows), median and worst over K cycles, boots per cycle, and the peak RSS.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import fresh_environment, postgres_answers


def groups(jobs: int, count: int, accounts: list[str], seed: int = 13):
    from allotment.burst.engines import PendingGroup

    rng = random.Random(seed)
    weights = [rng.random() + 0.05 for _ in range(count)]
    scale = jobs / sum(weights)
    counts = [max(1, int(w * scale)) for w in weights]
    counts[0] += jobs - sum(counts)
    return [
        PendingGroup(
            cores=rng.choice([1, 1, 2, 4, 8]),
            memory_mb=rng.choice([0, 1000, 2000, 4000]),
            partition="burst",
            account=accounts[i % len(accounts)],
            features=f"set{i}",  # distinct groups even where the rest coincides
            count=c,
        )
        for i, c in enumerate(counts)
    ]


def busy_vms(brecca, count: int, accounts: list[str]) -> list:
    """`count` VMs busy over the clouds (rows as the agent leaves them), and their jobs."""
    from allotment.burst.engines import RunningJob
    from allotment.burst.models import VM, Cloud, Flavor

    clouds = list(Cloud.objects.all())
    flavors = {c.pk: Flavor.objects.filter(cloud=c).order_by("cores").first() for c in clouds}
    rows, jobs = [], []
    for i in range(count):
        cloud = clouds[i % len(clouds)]
        flavor = flavors[cloud.pk]
        name, account = f"burst{20000 - i}", accounts[i % len(accounts)]
        rows.append(VM(name=name, cloud=cloud, batch=brecca, flavor=flavor, image="burst-worker",
                       cores=flavor.cores, ram_mb=flavor.ram_mb, account=account, state="busy",
                       server_id=f"srv-{i}"))  # fmt: skip
        jobs.append(RunningJob(str(i), account, 1, (name,)))
    VM.objects.bulk_create(rows, batch_size=1000)
    return jobs


def setup(args) -> tuple:
    from datetime import date, timedelta

    from allotment.burst import services
    from allotment.burst.models import Cloud
    from allotment.demo import site
    from allotment.grants.models import AllocationPeriod, Scheme
    from allotment.grants.services import allocate, create_grant
    from allotment.projects.models import Project
    from allotment.projects.services import create_project
    from allotment.resources.models import (
        Machine,
        MachineCategory,
        MachineKind,
        Metric,
        Resource,
        ResourcePool,
    )

    site.load()
    brecca = Machine.objects.get(name="brecca")
    brecca.engine_options = {"burst": {"partitions": ["burst"], "nodes": "burst[1-20000]"}}
    brecca.save()
    pool = ResourcePool.objects.create(
        name="VM hours", units="VM hours", metric=Metric.VM_SECONDS, unit_size=Decimal(3600)
    )
    today = date.today()
    period = AllocationPeriod.objects.create(
        name="bench", start=today - timedelta(days=10), end=today + timedelta(days=300)
    )
    parent = Project.objects.get(pid="InstituteA")
    scheme = Scheme.objects.first()
    accounts = []
    for i in range(args.accounts):
        project = create_project(f"burst{i:03d}", f"Burst project {i}", parent=parent)
        grant = create_grant(project, scheme, period.start, period.end, period.start)
        allocate(grant, period, pool, Decimal(1000 + 100 * i))
        accounts.append(project.pid.lower())
    flavors = [[f"f{c}x{m}", c, m] for c in (1, 2, 4, 8) for m in (2000, 8000)][:6]
    flavors.append(["f8x16000", 8, 16000])
    category = MachineCategory.objects.first()
    for n in range(args.clouds):
        machine = Machine.objects.create(name=f"cloud{n}", kind=MachineKind.CLOUD,
                                         category=category)  # fmt: skip
        Resource.objects.create(machine=machine, pool=pool, name=f"cloud{n} VMs", quantity=1)
        cloud = Cloud.objects.create(
            machine=machine, driver="local", priority=n, default_image="burst-worker",
            options={"quota": {"instances": 20000, "cores": 160000, "ram_mb": 640_000_000},
                     "flavors": flavors, "boot_seconds": 0},
            max_starting=50, max_boots_per_cycle=50,
        )  # fmt: skip
        cloud.serves.add(brecca)
        services.refresh(cloud)
    return brecca, accounts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--clouds", type=int, default=3)
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument(
        "--running",
        type=int,
        default=0,
        help="VMs already busy (each running one job) when the cycles start",
    )
    parser.add_argument("--sqlite", action="store_true")
    args = parser.parse_args()
    engine = "sqlite" if args.sqlite or not postgres_answers() else "postgresql"
    os.environ.update(fresh_environment(engine))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "allotment.settings")
    import django

    django.setup()
    from allotment.burst import demand, drivers, services
    from allotment.burst.engines import QueueSnapshot
    from allotment.burst.models import VM

    brecca, accounts = setup(args)
    pending = groups(args.jobs, args.groups, accounts)
    assert sum(g.count for g in pending) == args.jobs
    running = busy_vms(brecca, args.running, accounts)

    class Queue:
        def snapshot(self, partitions, nodes):
            return QueueSnapshot("brecca", pending, running, {}, time.time())

        def core_seconds(self, node, start, end):
            return {}

    drivers.queue = lambda machine: Queue()
    decide = demand.decide
    decide_times: list[float] = []

    def timed(*a, **k):
        t = time.perf_counter()
        try:
            return decide(*a, **k)
        finally:
            decide_times.append(time.perf_counter() - t)

    demand.decide = timed
    totals, boots = [], []
    for _ in range(args.cycles):
        t = time.perf_counter()
        cycle = services.run_cycle(brecca)
        totals.append(time.perf_counter() - t)
        boots.append(cycle.boots)
        VM.objects.filter(state="requested").update(state="idle")  # they came up
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rest = [a - b for a, b in zip(totals, decide_times, strict=True)]
    print(f"burst decision: {args.jobs:,} idle jobs in {args.groups} groups, "
          f"{args.accounts} projects, {args.clouds} clouds, {engine}")  # fmt: skip
    print(f"  cycles: {args.cycles}; boots per cycle: {boots}")
    for label, values in (("whole cycle", totals), ("decision", decide_times),
                          ("state read + VM rows", rest)):  # fmt: skip
        print(f"  {label:22} median {statistics.median(values) * 1000:8.1f} ms   "
              f"worst {max(values) * 1000:8.1f} ms")  # fmt: skip
    print(f"  running jobs (busy VMs) at the start: {len(running):,}; VMs recorded: "
          f"{VM.objects.count():,}; peak RSS {rss:.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
