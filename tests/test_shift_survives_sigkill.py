"""SIGKILL the agent at every step of a shift, start another: the shift completes.

Each case runs a real agent process (`allot agent run`) on the PostgreSQL test database
with the local engines, told by ALLOTMENT_CRASH_AT to kill itself at one point of the
round trip node4: brecca → tango (before or after each engine call, or just after a move).
A second agent then finishes the shift. Checked: the first agent really died there (a
point never reached fails the case), the node ends in service in tango, its capacity
moved exactly once each way, the deploy and the boot were started once, and no state
change ever had the node in two services (the database constraint; the history shows one
path). The dead agent's lease is expired by hand: lease expiry itself is proven in
test_agents_on_postgres.py, and waiting two minutes per case proves nothing more.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from allotment.agent.models import LoopStatus
from allotment.core import fsm
from allotment.inventory import drivers
from allotment.inventory.models import CapacityChange, Image, Node, Provisioner
from allotment.inventory.services import import_nodes, nodes_named, request_shift
from allotment.resources.models import Machine, MachineKind

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL (agents in other processes share the test database)",
    ),
]

OUT_OF_BRECCA = [
    "in_service:drain:before",
    "in_service:drain:after",
    "moved:draining",
    "moved:drained",
    "moved:leaving",
    "leaving:stop:before",
    "leaving:stop:after",
    "leaving:enroll:before",
    "leaving:enroll:after",
]
INTO_TANGO = [
    "moved:available",
    "moved:provisioning",
    "provisioning:deploy:before",
    "provisioning:deploy:after",
    "moved:joining",
    "joining:boot:before",
    "joining:boot:after",
    "moved:in_service",
]


def agent(var_dir: Path, crash_at: str = "") -> subprocess.Popen:
    s = connection.settings_dict
    env = dict(
        os.environ,
        DATABASE_URL=f"postgres://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:"
        f"{s['PORT'] or 5432}/{s['NAME']}",
        ALLOTMENT_VAR_DIR=str(var_dir),
        ALLOTMENT_CRASH_AT=crash_at,
    )
    allot = Path(sys.executable).with_name("allot")
    return subprocess.Popen(
        [str(allot), "agent", "run", "--loop", "inventory.shift", "--tick", "0.1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def site(example, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    Machine.objects.filter(name="tango").update(kind=MachineKind.CLOUD)
    Machine.objects.filter(name__in=["brecca", "tango"]).update(engine_options={"boot_seconds": 0})
    Provisioner.objects.create(name="local", options={"deploy_seconds": 0.3})
    Image.objects.create(name="cloud", kind="cloud", source_url="http://img.example/c.qcow2",
                         checksum="sha256:" + "c" * 64)  # fmt: skip
    import_nodes("i.yaml", "- {name: node4, cpus: 64, service: brecca}\n")
    drivers.service(Machine.objects.get(name="brecca")).start("node4")
    return tmp_path


@pytest.mark.parametrize("crash_at", OUT_OF_BRECCA + INTO_TANGO)
def test_a_shift_finishes_whatever_step_the_agent_died_in(site, crash_at):
    tango = Machine.objects.get(name="tango")
    cores = (Machine.objects.get(name="brecca").cores, tango.cores)
    request_shift(nodes_named("node4"), tango)

    first = agent(site, crash_at)
    try:
        first.wait(timeout=60)
    except subprocess.TimeoutExpired:
        first.kill()
        pytest.fail(f"the agent never reached {crash_at}")
    assert first.returncode == -signal.SIGKILL, first.stderr.read()
    LoopStatus.objects.filter(lease_holder__gt="").update(lease_expires=None, lease_holder="")

    second = agent(site)
    try:
        deadline = time.monotonic() + 60
        node = Node.objects.get(name="node4")
        while time.monotonic() < deadline and not (node.state == "in_service" and not node.shift):
            time.sleep(0.2)
            node.refresh_from_db()
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    assert (node.state, node.service.name, node.shift) == ("in_service", "tango", None), (
        node.last_error
    )
    brecca, tango = Machine.objects.get(name="brecca"), Machine.objects.get(name="tango")
    assert (brecca.cores, tango.cores) == (cores[0] - 64, cores[1] + 64)
    assert sorted(CapacityChange.objects.values_list("machine__name", "cores")) == [
        ("brecca", -64), ("tango", 64),
    ]  # fmt: skip
    requests = drivers.provisioner(node.provisioner).requests(node.provision_id)
    assert requests == {"deploys": 1, "undeploys": 0}
    assert drivers.service(tango).starts("node4") == 1
    path = [c.to_state for c in fsm.history(node)]
    assert path == [
        "in_service", "draining", "drained", "leaving", "available", "provisioning", "joining",
        "in_service",
    ]  # fmt: skip
