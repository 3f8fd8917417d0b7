"""The Ironic provisioner against a real Ironic (fake hardware) on loopback.

Each test names its own nodes (the `ironic` fixture removes them after), so tests share
one Ironic per session; statuses are polled with one listing every 50 ms.
"""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from keystoneauth1 import session as ksa_session

from allotment.inventory.engines import EngineError, ImageSpec, NodeSpec, Provision

pytestmark = pytest.mark.ironic

ROCKY = ImageSpec("rocky", "http://127.0.0.1:9/rocky-9.qcow2", "sha256:" + "c0ffee" * 10 + "abcd")
ALMA = ImageSpec("alma", "http://127.0.0.1:9/alma-9.qcow2", "d41d8cd98f00b204e9800998ecf8427e")


@pytest.fixture
def requests_made(monkeypatch):
    """Every HTTP request openstacksdk sends, as (method, path)."""
    made = []
    original = ksa_session.Session.request

    def counting(self, url, method, *args, **kwargs):
        made.append((method, url.split("?")[0]))
        return original(self, url, method, *args, **kwargs)

    monkeypatch.setattr(ksa_session.Session, "request", counting)
    return made


def test_enroll_brings_a_node_to_available_once(ironic):
    p = ironic.provisioner
    spec = NodeSpec(name=ironic.name("n"), macs=("52:54:00:aa:00:01", "52:54:00:aa:00:02"),
                    cpus=8, memory_mb=16384)  # fmt: skip
    ident = p.enroll(spec)
    assert p.statuses([ident])[ident].state == Provision.AVAILABLE
    assert p.enroll(spec) == ident  # found by name: no second node, no second port
    node = p.baremetal.get_node(ident)
    assert (node.name, node.driver, node.provision_state) == (spec.name, "fake-hardware",
                                                              "available")  # fmt: skip
    assert node.properties["cpus"] == 8 and node.properties["memory_mb"] == 16384
    ports = sorted(port.address for port in p.baremetal.ports(node_uuid=ident))
    assert ports == ["52:54:00:aa:00:01", "52:54:00:aa:00:02"]


def test_enroll_finishes_a_node_left_half_way(ironic):
    p = ironic.provisioner
    name = ironic.name("half")
    made = p.baremetal.create_node(name=name, driver="fake-hardware")  # as if a crash hit here
    assert made.provision_state == "enroll"
    assert p.enroll(NodeSpec(name=name)) == made.id
    assert p.statuses([name])[name].state == Provision.AVAILABLE


def test_deploy_then_undeploy(ironic):
    p = ironic.provisioner
    ident = p.enroll(NodeSpec(name=ironic.name("d")))
    began = time.monotonic()
    p.deploy(ident, ROCKY)
    asked = time.monotonic() - began
    deployed = ironic.wait_for([ident], Provision.ACTIVE)[ident]
    print(f"\none deploy: asked in {asked:.2f} s, active after {time.monotonic() - began:.2f} s")
    assert deployed.image == ROCKY.source_url and deployed.error == ""
    info = p.baremetal.get_node(ident).instance_info
    assert info["image_os_hash_algo"] == "sha256"
    assert info["image_os_hash_value"] == ROCKY.checksum.removeprefix("sha256:")

    p.deploy(ident, ROCKY)  # already there: left alone
    assert p.statuses([ident])[ident].state == Provision.ACTIVE

    began = time.monotonic()
    p.undeploy(ident)
    p.undeploy(ident)  # under way (or done): left alone
    undeployed = ironic.wait_for([ident], Provision.AVAILABLE)[ident]
    print(f"one undeploy: available after {time.monotonic() - began:.2f} s")
    assert undeployed.image == ""
    p.undeploy(ident)  # available: nothing to do


def test_deploying_another_image_on_an_active_node_rebuilds_it(ironic):
    p = ironic.provisioner
    ident = p.enroll(NodeSpec(name=ironic.name("r")))
    p.deploy(ident, ROCKY)
    ironic.wait_for([ident], Provision.ACTIVE)
    p.deploy(ident, ALMA)
    assert ironic.wait_for([ident], Provision.ACTIVE)[ident].image == ALMA.source_url
    assert p.baremetal.get_node(ident).instance_info["image_checksum"] == ALMA.checksum


def test_statuses_of_ten_nodes_is_one_request(ironic, requests_made):
    p = ironic.provisioner
    idents = [p.enroll(NodeSpec(name=ironic.name("s"))) for _ in range(10)]
    p.deploy(idents[0], ROCKY)
    ironic.wait_for(idents[:1], Provision.ACTIVE)
    unknown_uuid, unknown_name = str(uuid.uuid4()), ironic.name("never-enrolled")
    requests_made.clear()
    seen = p.statuses([*idents, unknown_uuid, unknown_name])
    ((method, path),) = requests_made
    assert (method, path.rsplit("/", 1)[-1]) == ("GET", "nodes")
    assert [seen[i].state for i in idents] == [Provision.ACTIVE] + [Provision.AVAILABLE] * 9
    assert seen[idents[0]].image == ROCKY.source_url
    assert seen[unknown_uuid].state == Provision.MISSING
    assert seen[unknown_name].state == Provision.MISSING


def test_ten_concurrent_deploys_and_undeploys(ironic):
    p = ironic.provisioner
    with ThreadPoolExecutor(10) as pool:
        idents = list(pool.map(p.enroll, [NodeSpec(name=ironic.name("c")) for _ in range(10)]))
        began = time.monotonic()
        list(pool.map(lambda i: p.deploy(i, ROCKY), idents))
        asked = time.monotonic() - began
        seen = ironic.wait_for(idents, Provision.ACTIVE, timeout=60)
        deployed = time.monotonic() - began
        began = time.monotonic()
        list(pool.map(p.undeploy, idents))
        ironic.wait_for(idents, Provision.AVAILABLE, timeout=60)
        undeployed = time.monotonic() - began
    print(f"\n10 concurrent deploys: asked in {asked:.2f} s, all active after {deployed:.2f} s;"
          f" undeployed after {undeployed:.2f} s")  # fmt: skip
    assert {s.image for s in seen.values()} == {ROCKY.source_url}


def test_a_refused_transition_names_ironic_and_the_node(ironic):
    p = ironic.provisioner
    ident = p.enroll(NodeSpec(name=ironic.name("m")))
    p.baremetal.set_node_provision_state(ident, "manage")  # an operator took it aside
    seen = ironic.wait_for([ident], Provision.OTHER)[ident]
    assert seen.error == "Ironic provision state 'manageable'"
    with pytest.raises(EngineError) as e:
        p.undeploy(ident)
    message = str(e.value)
    assert message.startswith(f"Ironic ({ironic.endpoint}): provision 'deleted' of node {ident}")
    assert "HTTP 400" in message and 'while it is in state "manageable"' in message
    assert e.value.permanent


def test_an_unknown_node_cannot_be_deployed(ironic):
    missing = str(uuid.uuid4())
    with pytest.raises(EngineError, match=f"get node {missing} failed: Ironic does not know it"):
        ironic.provisioner.deploy(missing, ROCKY)
