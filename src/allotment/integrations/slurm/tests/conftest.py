"""The real Slurm cluster for these tests: started once per test run if it is not up, and
stopped at the end if the tests started it.

It lives at $ALLOTMENT_SLURM_DIR (make test sets var/slurm/), so the SQLite and PostgreSQL
runs share its state. Each test first syncs, which makes the cluster equal to the ledger
the test starts from. Without Slurm's packages and root to install them, these tests are
skipped with the reason.
"""

import os
import pwd
import subprocess

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
def brecca(slurm_cluster, example):
    """The example site's brecca, pointed at the real cluster and synced."""
    from allotment.integrations.slurm.sync import sync
    from allotment.resources.models import Machine

    devcluster.point_machine_at(slurm_cluster)
    machine = Machine.objects.get(name="brecca")
    outcome = sync(machine)
    assert not outcome.failed, outcome.failed
    return machine


def unix_user(name: str) -> str:
    """A real Unix user to run jobs as (Slurm runs a job as its submitter)."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "-M", "-s", "/bin/sh", name], check=True)
    return name
