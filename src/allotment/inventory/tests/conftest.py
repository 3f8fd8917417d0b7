"""An inventory on the example site with the local engines, fast: deploys and boots take
no time unless a test says so."""

import pytest

from allotment.inventory.models import Image, Provisioner
from allotment.inventory.services import import_nodes
from allotment.resources.models import Machine, MachineKind

NODES = """\
nodes:
  - name: node[1-4]
    rack: r1
    cpus: 64
    memory_mb: 256000
    service: brecca
  - name: cnode[1-2]
    rack: r2
    cpus: 64
    service: tango
  - name: spare1
    rack: r2
    cpus: 32
"""


@pytest.fixture
def inventory(example, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    Machine.objects.filter(name="tango").update(kind=MachineKind.CLOUD)
    Provisioner.objects.create(name="local", options={"deploy_seconds": 0})
    Machine.objects.filter(name__in=["brecca", "tango"]).update(engine_options={"boot_seconds": 0})
    Image.objects.create(
        name="hpc", kind="batch", source_url="http://images.example/hpc.qcow2",
        checksum="sha256:" + "a" * 64,
    )  # fmt: skip
    Image.objects.create(
        name="cloud", kind="cloud", source_url="http://images.example/cloud.qcow2",
        checksum="sha256:" + "b" * 64,
    )  # fmt: skip
    import_nodes("inventory.yaml", NODES)
    from allotment.inventory import drivers
    from allotment.inventory.models import Node

    for node in Node.objects.filter(service__isnull=False):  # the services know their hosts
        drivers.service(node.service).start(node.name)
    return Machine.objects.get(name="brecca"), Machine.objects.get(name="tango")
