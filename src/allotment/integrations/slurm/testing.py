"""pytest plugin: the real Slurm cluster on loopback, started once per test run if it is not
up, and stopped at the end if the tests started it.

It lives at $ALLOTMENT_SLURM_DIR (make test sets var/slurm/), so the SQLite and PostgreSQL
runs share its state. Without Slurm's packages and root to install them, the tests that
need it are skipped with the reason.
"""

import os
import subprocess
import time

import pytest

from allotment.integrations.slurm import devcluster


@pytest.fixture(scope="session")
def slurm_cluster():
    if not devcluster.installed() and os.geteuid() != 0:
        pytest.skip("Slurm is not installed and installing it needs root")
    if os.geteuid() != 0:
        pytest.skip("the local Slurm cluster runs its daemons as root")
    was_up = devcluster.status()["up"]
    try:
        where = devcluster.up(log=lambda *_: None, point_machine=False)
    except devcluster.ClusterError as e:
        pytest.fail(f"the local Slurm cluster did not start: {e}")
    yield where
    if not was_up:  # leave the machine as we found it: its ports free for the next checkout
        devcluster.down(log=lambda *_: None)


@pytest.fixture
def slurm_burst(slurm_cluster):
    """The loopback cluster with its burst partition empty and every burst node FUTURE
    (no slurmd), before and after the test: as if no burst VM had ever booted."""
    empty_burst(slurm_cluster)
    yield slurm_cluster
    empty_burst(slurm_cluster)


def empty_burst(where: devcluster.Layout, timeout: float = 60) -> None:
    """Cancel the burst partition's jobs, wait for them to leave, stop the burst nodes'
    slurmds and hide the nodes again (state=future, which a node with jobs refuses)."""
    env = where.env()

    def slurm(*command: str) -> str:
        return subprocess.run(command, env=env, capture_output=True, text=True).stdout

    slurm("scancel", "-p", devcluster.BURST_PARTITION)
    deadline = time.monotonic() + timeout
    while slurm("squeue", "-h", "-p", devcluster.BURST_PARTITION, "-o", "%i").strip():
        if time.monotonic() > deadline:
            pytest.fail(f"the burst partition's jobs did not end within {timeout:.0f} s")
        time.sleep(0.2)
    for name in devcluster.burst_nodes():
        devcluster.stop_node(name, where)
    shown = slurm("scontrol", "--future", "-o", "show", "node",
                  f"burst[1-{devcluster.BURST_NODES}]")  # fmt: skip
    for line in shown.splitlines():
        name = line.split()[0].removeprefix("NodeName=")
        if " State=FUTURE " not in line:
            slurm("scontrol", "update", f"nodename={name}", "state=future", "reason=test over")
