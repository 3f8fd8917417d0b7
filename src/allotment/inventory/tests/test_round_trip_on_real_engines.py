"""HPC → cloud → HPC for two nodes on the real engines: the loopback Slurm (brecca), a
real Ironic with fake hardware, and a real Nova (tango).

Out of Slurm, node4 runs a job when the shift starts: the drain waits for it. Into the
cloud, the image "boots" by starting a nova-compute for the node's host name. Back out of
the cloud, servers run on node3 and node4: they are live-migrated to tango's own
hypervisors and end ACTIVE there. Into Slurm, the node's slurmd starts and the node is
resumed. The agent's loop step is driven in-process (the agents' own survival is proven on
the local engines in tests/test_shift_survives_sigkill.py).
"""

import time
from decimal import Decimal

import pytest

from allotment.core import fsm
from allotment.integrations.slurm import devcluster
from allotment.integrations.slurm.nodes import SlurmNodes
from allotment.integrations.slurm.sacctmgr import Cluster
from allotment.integrations.slurm.sync import sync
from allotment.integrations.slurm.tests.conftest import this_years_pool, unix_user
from allotment.inventory.models import CapacityChange, Image, Node, Provisioner
from allotment.inventory.reconcile import run_until_settled
from allotment.inventory.services import import_nodes, nodes_named, request_shift
from allotment.resources.models import Machine

pytestmark = [pytest.mark.slurm, pytest.mark.ironic, pytest.mark.openstack, pytest.mark.slow]

NODES = "node[3-4]"


@pytest.fixture
def site(slurm_cluster, ironic_endpoint, openstack_cloud, tango, example):
    from allotment.integrations.openstack import devcloud

    devcluster.point_machine_at(slurm_cluster)
    assert devcloud.point_machine_at("tango")
    brecca = Machine.objects.get(name="brecca")
    assert not sync(brecca).failed
    Provisioner.objects.create(name="ironic", driver="ironic",
                               options={"endpoint": ironic_endpoint})  # fmt: skip
    Image.objects.create(name="hpc", kind="batch", source_url="http://127.0.0.1:9/hpc.qcow2",
                         checksum="sha256:" + "1" * 64)  # fmt: skip
    Image.objects.create(name="cloud", kind="cloud", source_url="http://127.0.0.1:9/cloud.qcow2",
                         checksum="sha256:" + "2" * 64)  # fmt: skip
    import_nodes("site.yaml", "- {name: 'node[3-4]', cpus: 2, service: brecca}\n"
                              "- {name: 'cnode[1-2]', cpus: 2, service: tango}\n")  # fmt: skip
    yield brecca, Machine.objects.get(name="tango")
    _forget_in_ironic(ironic_endpoint, ["node3", "node4"])


def _forget_in_ironic(endpoint: str, names: list[str]) -> None:
    """Later runs share this Ironic: take the test's nodes out of it."""
    import openstack

    conn = openstack.connect(auth_type="none", baremetal_endpoint_override=endpoint,
                             load_envvars=False, load_yaml_config=False)  # fmt: skip
    for node in conn.baremetal.nodes(fields=["uuid", "name", "provision_state"]):
        if node.name in names and node.provision_state == "available":
            conn.baremetal.delete_node(node.id, ignore_missing=True)


def until(check, what: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.3)
    return value


def test_two_nodes_go_to_the_cloud_and_back_with_their_work_kept(site, example, boot,
                                                                 openstack_conn):  # fmt: skip
    brecca, tango = site
    cluster = Cluster.of(brecca)
    this_years_pool(example, "ProjectA", Decimal(100))
    assert not sync(brecca).failed
    job = None
    deadline = time.monotonic() + 60
    while job is None:  # slurmctld learns the new association a moment after the sync
        code, out = cluster.attempt(
            "sbatch", "--parsable", f"--uid={unix_user('alice')}", "--account=projecta",
            "--nodelist=node4", "--time=2", "--output=/dev/null", "--chdir=/tmp", "--wrap=sleep 6",
        )  # fmt: skip
        if code == 0:
            job = out.strip()
        assert "Invalid account" in out or code == 0, out
        assert time.monotonic() < deadline, out
    slurm = SlurmNodes(brecca)
    until(lambda: any(w.id == job for w in slurm.workload("node4")), "the job running on node4")

    # HPC → cloud: node4 drains for its job; both end as hypervisors of tango.
    shift = request_shift(nodes_named(NODES), tango)
    run_until_settled(nodes_named(NODES), timeout=300, pause=0.3)
    nodes = nodes_named(NODES)
    assert [(n.state, n.service.name) for n in nodes] == [("in_service", "tango")] * 2, [
        n.last_error for n in nodes
    ]
    assert cluster.run("sacct", "-n", "-X", "-P", "-j", job, "-o", "State").split()[0] == (
        "COMPLETED"
    )
    assert [i.outcome for i in shift.items.all()] == ["done", "done"]
    assert "node4" in {h.name for h in openstack_conn.compute.hypervisors()}
    for name in ("node3", "node4"):
        assert slurm.host(name).detail.startswith("DOWN"), slurm.host(name)

    # Servers on the new hypervisors; cloud → HPC moves them to cnode1/cnode2 first.
    servers = boot("node3", 1, "rt") + boot("node4", 2, "rt")
    request_shift(nodes_named(NODES), brecca)
    run_until_settled(nodes_named(NODES), timeout=400, pause=0.3)
    nodes = nodes_named(NODES)
    assert [(n.state, n.service.name) for n in nodes] == [("in_service", "brecca")] * 2, [
        n.last_error for n in nodes
    ]
    moved = {s.id: s for s in openstack_conn.compute.servers(all_projects=True)}
    assert {moved[s].status for s in servers} == {"ACTIVE"}
    assert not {moved[s].compute_host for s in servers} & {"node3", "node4"}
    for name in ("node3", "node4"):
        assert slurm.health(name) == "", slurm.host(name)
    services = {s.host for s in openstack_conn.compute.services() if s.binary == "nova-compute"}
    assert not services & {"node3", "node4"}

    # Capacity moved twice each way, once per node per move.
    assert sorted(CapacityChange.objects.values_list("machine__name", "cores")) == sorted(
        [("brecca", -2)] * 2 + [("tango", 2)] * 2 + [("tango", -2)] * 2 + [("brecca", 2)] * 2
    )
    path = [c.to_state for c in fsm.history(Node.objects.get(name="node4"))]
    assert path[-7:] == ["draining", "drained", "leaving", "available", "provisioning",
                         "joining", "in_service"]  # fmt: skip
