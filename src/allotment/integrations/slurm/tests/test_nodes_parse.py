"""Reading `scontrol show node` and slurm.conf, without Slurm. The texts are Slurm 22.05.8's
output on the loopback cluster (less the space it leaves at some lines' ends), the drained
one with two traps added: "State=" in the OS line and in the reason."""

from datetime import datetime
from types import SimpleNamespace

import pytest

from allotment.integrations.slurm.nodes import SlurmNode, SlurmNodes, future_nodes, parse_node
from allotment.inventory.engines import EngineError

DRAINED = """\
NodeName=node3 Arch=x86_64 CoresPerSocket=1
   CPUAlloc=0 CPUEfctv=2 CPUTot=2 CPULoad=0.17
   AvailableFeatures=(null)
   ActiveFeatures=(null)
   Gres=(null)
   NodeAddr=127.0.0.1 NodeHostName=localhost Port=17003 Version=22.05.8
   OS=Linux 6.18.44-fc-v1272 #1 SMP PREEMPT_DYNAMIC State=BOGUS @0
   RealMemory=1000 AllocMem=0 FreeMem=22717 Sockets=2 Boards=1
   State=IDLE+DRAIN ThreadsPerCore=1 TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A
   Partitions=debug
   BootTime=2026-12-04T20:40:56 SlurmdStartTime=2026-12-04T20:46:37
   LastBusyTime=2026-12-04T20:46:37
   CfgTRES=cpu=2,mem=1000M,billing=2
   AllocTRES=
   CapWatts=n/a
   CurrentWatts=0 AveWatts=0
   ExtSensorsJoules=n/s ExtSensorsWatts=0 ExtSensorsTemp=n/s
   Reason=allotment shift 7: node3 to tango State=DOWN [root@2026-12-04T20:46:48]

"""

FUTURE = """\
NodeName=extra4 CoresPerSocket=1
   CPUAlloc=0 CPUEfctv=2 CPUTot=2 CPULoad=N/A
   AvailableFeatures=(null)
   ActiveFeatures=(null)
   Gres=(null)
   NodeAddr=127.0.0.1 NodeHostName=localhost Port=17104
   RealMemory=1000 AllocMem=0 FreeMem=N/A Sockets=2 Boards=1
   State=FUTURE ThreadsPerCore=1 TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A
   Partitions=debug
   BootTime=None SlurmdStartTime=None
   LastBusyTime=Unknown
   CfgTRES=cpu=2,mem=1000M,billing=2
   AllocTRES=
   CapWatts=n/a
   CurrentWatts=0 AveWatts=0
   ExtSensorsJoules=n/s ExtSensorsWatts=0 ExtSensorsTemp=n/s
"""


def test_the_state_and_reason_are_read_whatever_else_the_lines_hold():
    node = parse_node(DRAINED, "node3")
    # The OS line's "State=BOGUS" and the reason's "State=DOWN" are not the node's state.
    assert node == SlurmNode(
        name="node3",
        state="IDLE+DRAIN",
        reason="allotment shift 7: node3 to tango State=DOWN",
        reason_time=datetime(2026, 12, 4, 20, 46, 48),
        slurmd_started=datetime(2026, 12, 4, 20, 46, 37),
    )
    assert node.up and node.drained and node.ours and not node.down and not node.future


def test_a_future_node_is_not_up_and_has_no_times():
    node = parse_node(FUTURE, "extra4")
    assert (node.state, node.reason, node.slurmd_started) == ("FUTURE", "", None)
    assert node.future and not node.up and not node.drained


def test_another_nodes_block_is_not_taken_for_the_one_asked():
    assert parse_node(DRAINED + FUTURE, "extra4").state == "FUTURE"
    assert parse_node(DRAINED, "node33") is None


@pytest.mark.parametrize(
    ("state", "up", "drained"),
    [
        ("IDLE", True, False),
        ("MIXED+DRAIN", True, True),
        ("ALLOCATED+DRAIN", True, True),
        ("DOWN+DRAIN", False, True),
        ("IDLE+NOT_RESPONDING", False, False),
        ("IDLE+CLOUD+POWERED_DOWN", False, False),
        ("UNKNOWN", False, False),
        ("IDLE+FAIL", True, True),
    ],
)
def test_up_and_drained_follow_the_base_state_and_flags(state, up, drained):
    node = SlurmNode("n", state)
    assert (node.up, node.drained) == (up, drained)


MARKED = datetime(2026, 12, 4, 20, 0, 0)


@pytest.mark.parametrize(
    ("state", "slurmd_started", "back"),
    [
        ("IDLE+DRAIN", datetime(2026, 12, 4, 19, 0, 0), True),  # ReturnToService=2 cleared DOWN
        ("DOWN+DRAIN", datetime(2026, 12, 4, 19, 0, 0), False),  # the slurmd of before
        ("DOWN+DRAIN+NOT_RESPONDING", datetime(2026, 12, 4, 19, 0, 0), False),
        ("DOWN+DRAIN", datetime(2026, 12, 4, 20, 0, 5), True),  # ReturnToService=0 or 1
        ("DOWN+DRAIN+NOT_RESPONDING", datetime(2026, 12, 4, 20, 0, 5), False),
        ("DOWN+DRAIN", None, False),
        ("FUTURE", datetime(2026, 12, 4, 20, 0, 5), False),
    ],
)
def test_a_node_marked_down_is_back_once_its_slurmd_registered_since(state, slurmd_started, back):
    node = SlurmNode("n", state, "allotment shift 1", MARKED, slurmd_started)
    assert node.registered_since_marked is back


def test_future_nodes_are_read_from_slurm_conf_and_its_includes(tmp_path):
    (tmp_path / "nodes.conf").write_text(
        "nodename=cloud[01-03] CPUs=2 state=future  # lower case is Slurm's too\n"
        "NodeName=gpu1 CPUs=8 State=UNKNOWN\n"
    )
    conf = tmp_path / "slurm.conf"
    conf.write_text(
        "ClusterName=x\n"
        "# NodeName=ghost State=FUTURE\n"
        "NodeName=node[1-4] Port=[17001-17004] State=UNKNOWN\n"
        "NodeName=extra[1-2],spare State=FUTURE CPUs=2\n"
        "Include nodes.conf\n"
    )
    assert future_nodes(conf) == {"extra1", "extra2", "spare", "cloud01", "cloud02", "cloud03"}
    assert future_nodes(tmp_path / "missing.conf") == set()


def test_a_machine_of_another_engine_is_refused():
    machine = SimpleNamespace(name="tango", engine="openstack", engine_options={})
    with pytest.raises(EngineError, match="Machine tango runs 'openstack', not Slurm") as e:
        SlurmNodes(machine)
    assert e.value.permanent


def test_a_host_list_is_not_a_node_name_and_nothing_runs():
    machine = SimpleNamespace(name="brecca", engine="slurm", engine_options={})
    nodes = SlurmNodes(machine)

    def ran(*command):
        raise AssertionError(f"ran {command}")

    nodes._run = ran
    assert not nodes.host("node[1-2]").known
    for call in (lambda: nodes.drain("node[1-2]", "allotment shift 1"),
                 lambda: nodes.workload("node1,node2"), lambda: nodes.stop("node 1")):  # fmt: skip
        with pytest.raises(EngineError, match="is not a node name") as e:
            call()
        assert e.value.permanent
