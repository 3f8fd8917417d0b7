"""pytest plugin: the real Slurm cluster on loopback, started once per test run if it is not
up, and stopped at the end if the tests started it.

It lives at $ALLOTMENT_SLURM_DIR (make test sets var/slurm/), so the SQLite and PostgreSQL
runs share its state. Without Slurm's packages and root to install them, the tests that
need it are skipped with the reason.
"""

import os

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
