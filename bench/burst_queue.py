"""Reading a long Slurm queue for burst: SlurmQueue.snapshot against the loopback Slurm with
N idle jobs (default 300,000) waiting in brecca's partition burst (issue 14: measured
apart from the decision cycle, which bench/burst.py times).

    .venv/bin/python bench/burst_queue.py [--jobs N] [--array A] [--repeat R]

As root (the loopback Slurm runs its daemons as root; `allot dev slurm up` first, or this
starts it). The jobs are job arrays of A tasks (default 1,000: Slurm's MaxArraySize is
1,001), as a site's users submit at that scale, in three shapes (cores, memory), submitted
by root under its own association (present on any cluster), so the snapshot groups them
as it would a real queue. No burst node is up, so
every task waits (reason Resources or ReqNodeNotAvail). A pending array is one line of
squeue's output and is counted from its index range, so the read costs per array.

Printed: jobs and arrays submitted and the time to submit them, then per snapshot the
wall time, the groups and the idle jobs counted (which must equal N), and squeue's own
time; the jobs are cancelled at the end. Nothing is written to the ledger.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "allotment.settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300_000)
    parser.add_argument("--array", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("Run as root: the loopback Slurm runs its daemons as root.")
    import django

    django.setup()
    from allotment.integrations.slurm import devcluster
    from allotment.integrations.slurm.queue import SlurmQueue
    from allotment.resources.models import Machine

    where = devcluster.up(log=lambda *_: None, point_machine=False)
    env = where.env()
    machine = Machine(name="brecca", engine="slurm", engine_options={
        "slurm_conf": str(where.conf), "cluster": devcluster.CLUSTER,
    })  # fmt: skip

    def slurm(*command: str) -> str:
        return subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout

    accounts = ["root"]  # root's association exists on any cluster; groups come from shapes
    shapes = [("1", "0"), ("2", "500M"), ("1", "900M")]  # loopback nodes: 2 CPUs, 1000 MB
    arrays = -(-args.jobs // args.array)
    t0 = time.perf_counter()
    submitted = 0
    for i in range(arrays):
        size = min(args.array, args.jobs - submitted)
        cores, mem = shapes[i % len(shapes)]
        slurm("sbatch", "--parsable", f"--partition={devcluster.BURST_PARTITION}",
              f"--array=0-{size - 1}", f"--ntasks={cores}", f"--mem={mem}",
              f"--account={accounts[i % len(accounts)]}", "--time=10", "--output=/dev/null",
              "--wrap=true")  # fmt: skip
        submitted += size
    took = time.perf_counter() - t0
    print(f"submitted {submitted:,} jobs as {arrays} arrays of up to {args.array} "
          f"in {took:.1f} s")  # fmt: skip
    try:
        time.sleep(2)  # let the scheduler give them their pending reason
        queue = SlurmQueue(machine)
        nodes = devcluster.burst_nodes()
        walls, squeue = [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            snap = queue.snapshot([devcluster.BURST_PARTITION], nodes)
            walls.append(time.perf_counter() - t)
            counted = sum(g.count for g in snap.pending)
            t = time.perf_counter()
            slurm("squeue", "-h", "-p", devcluster.BURST_PARTITION, "-t", "PD", "-o", "%i")
            squeue.append(time.perf_counter() - t)
        print(
            f"snapshot: {counted:,} idle jobs in {len(snap.pending)} groups; wall median "
            f"{statistics.median(walls) * 1000:.0f} ms, worst {max(walls) * 1000:.0f} ms "
            f"(a bare squeue of the pending: {statistics.median(squeue) * 1000:.0f} ms)"
        )
        if counted != submitted:
            print(
                f"  (!) counted {counted:,} of {submitted:,}: some are not waiting for "
                "resources (see the reasons with squeue -p burst -o '%i %r')"
            )
    finally:
        slurm("scancel", "-p", devcluster.BURST_PARTITION)


if __name__ == "__main__":
    main()
