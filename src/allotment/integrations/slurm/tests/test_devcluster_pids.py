"""The dev cluster signals only processes it started, even when a pid was reused."""

import os
from pathlib import Path

from allotment.integrations.slurm import devcluster


def test_a_recorded_pid_now_held_by_another_program_is_not_ours():
    # This test's own process stands in for "some unrelated process that got the pid".
    assert devcluster.alive(os.getpid())
    assert not devcluster.running("slurmctld", os.getpid())
    assert not devcluster.running("slurmd-node1", os.getpid())


def test_the_program_recorded_is_recognised_by_its_name():
    argv0 = Path("/proc/self/cmdline").read_bytes().split(b"\0", 1)[0].decode()
    assert devcluster.running(Path(argv0).name, os.getpid())


def test_a_pid_that_is_gone_is_not_running():
    assert not devcluster.running("slurmctld", 0)
    assert not devcluster.running("slurmctld", 2**22 + 12345)
