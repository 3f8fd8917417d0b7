"""`allot dev ironic up` points the example site's inventory at the loopback Ironic."""

from allotment.demo import site
from allotment.integrations.ironic import devironic
from allotment.inventory.models import Node, Provisioner
from allotment.inventory.services import nodes_named, request_shift
from allotment.resources.models import Machine


def test_nodes_of_the_local_provisioner_move_to_ironic_but_not_mid_shift(example, settings,
                                                                        tmp_path):  # fmt: skip
    settings.VAR_DIR = tmp_path
    site.load_inventory()
    request_shift(nodes_named("node4"), Machine.objects.get(name="tango"))
    assert devironic.point_inventory_at("http://127.0.0.1:6385") == 5
    ironic = Provisioner.objects.get(name="ironic")
    assert (ironic.driver, ironic.options) == ("ironic", {"endpoint": "http://127.0.0.1:6385"})
    assert set(Node.objects.filter(provisioner=ironic).values_list("name", flat=True)) == {
        "node1", "node2", "node3", "cnode1", "cnode2",
    }  # fmt: skip
    assert Node.objects.get(name="node4").provisioner.name == "local"  # its shift goes on
    assert devironic.point_inventory_at("http://127.0.0.1:6385") == 0  # idempotent
