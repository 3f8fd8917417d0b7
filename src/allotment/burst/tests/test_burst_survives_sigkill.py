"""SIGKILL the agent mid-boot and mid-retire, start another: no double boot, no orphan.

Each case runs a real agent process (`allot agent run` with the three burst loops) on the
PostgreSQL test database with the local cloud and the local batch system, told by
ALLOTMENT_CRASH_AT to kill itself at one point of a VM's life: before or after asking the
cloud to boot, after recording the boot, after draining for retirement, before or after
asking the cloud to delete, after charging. A second agent then finishes. Checked: the
first agent really died there, the cloud was asked to boot once, no server is left, the
job ran once, the VM's time is charged once, and its history is one path. The dead
agent's leases are expired by hand (lease expiry is proven in test_agents_on_postgres).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from allotment.agent.models import LoopStatus
from allotment.burst.local import LocalCloud, LocalQueue
from allotment.burst.models import VM, VMCharge
from allotment.core import fsm

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL (agents in other processes share the test database)",
    ),
]

POINTS = [
    "burst.before_boot",
    "burst.after_boot",
    "burst.after_booting",
    "burst.after_drain",
    "burst.before_delete",
    "burst.after_delete",
    "burst.after_charge",
]
PATH = ["booting", "idle", "busy", "idle", "retiring", "deleting", "deleted"]


def agent(var_dir: Path, crash_at: str = "") -> subprocess.Popen:
    s = connection.settings_dict
    env = dict(
        os.environ,
        DATABASE_URL=f"postgres://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:"
        f"{s['PORT'] or 5432}/{s['NAME']}",
        ALLOTMENT_VAR_DIR=str(var_dir),
        ALLOTMENT_CRASH_AT=crash_at,
        ALLOTMENT_BURST_DECIDE_INTERVAL="0.3",
        ALLOTMENT_BURST_VM_INTERVAL="0.3",
        ALLOTMENT_BURST_CLOUDS_INTERVAL="0.5",
    )
    allot = Path(sys.executable).with_name("allot")
    loops = ["--loop", "burst.clouds", "--loop", "burst.decide", "--loop", "burst.vm"]
    return subprocess.Popen(
        [str(allot), "agent", "run", *loops, "--tick", "0.1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("crash_at", POINTS)
def test_a_vm_lives_and_goes_once_whatever_step_the_agent_died_in(burst_site, crash_at):
    brecca, cloud = burst_site
    cloud.idle_keep = 2  # long enough for the queue to place the job on the idle VM
    cloud.save()
    var_dir = Path(settings.VAR_DIR)  # burst_site's: the local engines' files
    LocalQueue(brecca).submit("projecta", cores=1, seconds=1)

    first = agent(var_dir, crash_at)
    try:
        first.wait(timeout=60)
    except subprocess.TimeoutExpired:
        first.kill()
        pytest.fail(f"the agent never reached {crash_at}")
    assert first.returncode == -signal.SIGKILL, first.stderr.read()
    LoopStatus.objects.filter(lease_holder__gt="").update(lease_expires=None, lease_holder="")

    second = agent(var_dir)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if VM.objects.exists() and not VM.objects.exclude(state="deleted").exists():
                break
            time.sleep(0.2)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    vms = list(VM.objects.all())
    assert [vm.state for vm in vms] == ["deleted"], [(v.name, v.state, v.end_reason) for v in vms]
    vm = vms[0]
    local = LocalCloud(cloud.name, cloud.options)
    assert local.boots() == 1
    assert local.servers() == []
    queue = LocalQueue(brecca)
    assert queue.pending_count() == 0
    charges = list(VMCharge.objects.values_list("server_id", "account", "seconds"))
    life = int(vm.ended_at.timestamp()) - int(vm.requested_at.timestamp())
    assert charges == [(vm.server_id, "projecta", life)]
    assert [c.to_state for c in fsm.history(vm)] == PATH
