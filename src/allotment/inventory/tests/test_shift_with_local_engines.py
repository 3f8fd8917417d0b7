"""A shift end to end on the local engines: there and back, capacity following."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from allotment.core import fsm
from allotment.inventory import capacity, drivers
from allotment.inventory.models import CapacityChange, Node, Outcome
from allotment.inventory.reconcile import run_until_settled
from allotment.inventory.services import abort_shift, nodes_named, operator_action, request_shift
from allotment.resources.models import Machine


def states(names: str) -> list[tuple[str, str, str | None]]:
    return [(n.name, n.state, n.service and n.service.name) for n in nodes_named(names)]


def test_node4_goes_to_tango_and_back_and_capacity_follows(inventory):
    brecca, tango = inventory
    cores = (brecca.cores, tango.cores)
    shift = request_shift(nodes_named("node4"), tango)
    run_until_settled(nodes_named("node4"), timeout=30)
    assert states("node4") == [("node4", "in_service", "tango")]
    brecca.refresh_from_db(), tango.refresh_from_db()
    assert (brecca.cores, tango.cores) == (cores[0] - 64, cores[1] + 64)
    assert [i.outcome for i in shift.items.all()] == [Outcome.DONE]
    shift.refresh_from_db()
    assert shift.finished_at is not None

    request_shift(nodes_named("node4"), brecca)
    run_until_settled(nodes_named("node4"), timeout=30)
    assert states("node4") == [("node4", "in_service", "brecca")]
    brecca.refresh_from_db(), tango.refresh_from_db()
    assert (brecca.cores, tango.cores) == cores
    moves = [(c.machine.name, c.cores) for c in CapacityChange.objects.all()]
    assert moves == [("brecca", -64), ("tango", 64), ("tango", -64), ("brecca", 64)]
    path = [c.to_state for c in fsm.history(nodes_named("node4")[0])]
    assert path == [
        "in_service", "draining", "drained", "leaving", "available", "provisioning", "joining",
        "in_service", "draining", "drained", "leaving", "available", "provisioning", "joining",
        "in_service",
    ]  # fmt: skip


def test_a_drain_waits_for_work_then_times_out_without_force(inventory):
    brecca, tango = inventory
    drivers.service(brecca).add_work("node3", "job42", seconds=600)
    shift = request_shift(nodes_named("node3"), tango, drain_timeout=timedelta(0))
    run_until_settled(nodes_named("node3"), timeout=10)
    node = nodes_named("node3")[0]
    assert node.state == "drain_timeout"
    assert "job42" in node.last_error
    operator_action(node, fsm.Action.ABORT)
    run_until_settled(nodes_named("node3"), timeout=10)
    node.refresh_from_db()
    assert (node.state, node.shift) == ("in_service", None)
    assert drivers.service(brecca).host("node3").drained is False  # our drain undone
    assert shift.items.get().outcome == Outcome.ABORTED


def test_force_ends_the_jobs_after_the_timeout(inventory):
    brecca, tango = inventory
    drivers.service(brecca).add_work("node3", "job42", seconds=600)
    request_shift(nodes_named("node3"), tango, drain_timeout=timedelta(0), force=True)
    run_until_settled(nodes_named("node3"), timeout=30)
    assert states("node3") == [("node3", "in_service", "tango")]


def test_someone_elses_drain_is_never_resumed(inventory):
    brecca, tango = inventory
    local = drivers.service(brecca)
    local.drain_by_hand("node2", "bad DIMM, ticket 991")
    local.add_work("node2", "job7", seconds=600)
    request_shift(nodes_named("node2"), tango, drain_timeout=timedelta(0))
    run_until_settled(nodes_named("node2"), timeout=10)
    node = nodes_named("node2")[0]
    operator_action(node, fsm.Action.ABORT)
    run_until_settled(nodes_named("node2"), timeout=10)
    host = local.host("node2")
    assert (host.drained, host.reason) == (True, "bad DIMM, ticket 991")


def test_refusals_name_each_node_and_change_nothing(inventory):
    _brecca, tango = inventory
    Node.objects.filter(name="node1").update(protected=True)
    with pytest.raises(ValidationError) as e:
        request_shift(nodes_named("node[1-2],cnode1"), tango)
    text = " ".join(e.value.messages)
    assert "node1: it is protected" in text and "cnode1: it is already in tango" in text
    assert not Node.objects.filter(shift__isnull=False).exists()
    with pytest.raises(ValidationError, match=r"No node named node\[7-8\]"):
        nodes_named("node[3,7-8]")
    with pytest.raises(ValidationError, match="is not a node name or range"):
        nodes_named("node[3-")


def test_a_service_minimum_is_kept(inventory):
    brecca, tango = inventory
    Machine.objects.filter(pk=brecca.pk).update(engine_options={"min_nodes": 3, "boot_seconds": 0})
    brecca.refresh_from_db()
    with pytest.raises(ValidationError, match="keeps at least 3 nodes"):
        request_shift(nodes_named("node[3-4]"), tango)
    request_shift(nodes_named("node4"), tango)


def test_parallel_limits_how_many_move_at_once(inventory):
    _brecca, tango = inventory
    shift = request_shift(nodes_named("node[2-4]"), tango, parallel=1)
    from allotment.inventory.reconcile import step

    for node in nodes_named("node[2-4]"):
        step(node)
    assert sorted(shift.items.values_list("outcome", flat=True)) == [
        Outcome.MOVING, Outcome.WAITING, Outcome.WAITING,
    ]  # fmt: skip
    run_until_settled(nodes_named("node[2-4]"), timeout=30)
    assert {s for _, s, _ in states("node[2-4]")} == {"in_service"}


def test_aborting_a_shift_leaves_waiting_nodes_where_they_are(inventory):
    _brecca, tango = inventory
    shift = request_shift(nodes_named("node[3-4]"), tango, parallel=1)
    abort_shift(shift)
    shift.refresh_from_db()
    assert shift.finished_at is not None  # nobody left to close it
    run_until_settled(nodes_named("node[3-4]"), timeout=10)
    assert states("node[3-4]") == [
        ("node3", "in_service", "brecca"), ("node4", "in_service", "brecca"),
    ]  # fmt: skip


def test_capacity_history_lists_each_change(inventory):
    _brecca, tango = inventory
    request_shift(nodes_named("spare1"), tango)
    run_until_settled(nodes_named("spare1"), timeout=30)
    assert [(h["node"], h["change"]) for h in capacity.history(tango)] == [("spare1", 32)]


@pytest.mark.parametrize(
    ("name", "text", "error"),
    [
        ("a.yaml", "- &a {name: n1}\n- *a\n", r"a.yaml:1: name: n1 is also on line 1"),
        ("a.csv", "name,rack\nx1,r1,extra\n", r"a.csv:2: more cells than the header"),
        ("a.csv", "name,rack\nx1,r\x001\n", r"a.csv:2: rack: .*NUL"),
        ("a.yaml", "- {name: x1, cpus: 99999999999}\n", r"a.yaml:1: cpus: .*0 to 2147483647"),
        ("a.yaml", "- {name: x1, rack: {a: 1}}\n", r"a.yaml:1: rack: .*text value"),
        ("a.yaml", "- {name: x1, macs: [{a: 1}]}\n", r"a.yaml:1: macs: .*text value"),
        ("a.yaml", "- {name: 'x[1-'}\n", r"a.yaml:1: name: .*not a node name or range"),
        ("a.yaml", "- {name: x1, service: nowhere}\n", r"a.yaml:1: service: there is no machine"),
    ],
)
def test_a_bad_import_names_the_line_and_imports_nothing(inventory, name, text, error):
    from allotment.inventory.services import import_nodes

    before = Node.objects.count()
    with pytest.raises(ValidationError, match=error):
        import_nodes(name, text)
    assert Node.objects.count() == before


def test_a_node_whose_join_was_aborted_is_never_taken_off_capacity_twice(inventory):
    brecca, tango = inventory
    local_tango = drivers.service(tango)
    request_shift(nodes_named("spare1"), tango)
    from allotment.inventory.reconcile import step

    node = nodes_named("spare1")[0]
    for _ in range(5):  # to joining: the host never comes up (boot takes an hour here)
        Machine.objects.filter(pk=tango.pk).update(engine_options={"boot_seconds": 3600})
        step(node)
        node.refresh_from_db()
    assert node.state == "joining"
    fsm.move(node, fsm.System.FAIL, reason="the health gate never passed")
    operator_action(node, fsm.Action.ABORT)  # join_failed → drained, in tango, never counted
    run_until_settled([node], timeout=10)
    node.refresh_from_db()
    assert (node.state, node.service, node.counted_in, node.shift) == (
        "drained", tango, None, None,
    )  # fmt: skip
    assert local_tango.host("spare1").drained  # it takes no work there
    cores = Machine.objects.get(pk=tango.pk).cores
    Machine.objects.filter(pk=tango.pk).update(engine_options={"boot_seconds": 0})
    request_shift([node], brecca)
    run_until_settled([node], timeout=30)
    node.refresh_from_db()
    assert (node.state, node.service.name) == ("in_service", "brecca")
    assert Machine.objects.get(pk=tango.pk).cores == cores  # nothing taken off tango
    assert local_tango.host("spare1").up is False


def test_a_drained_node_goes_back_into_its_own_service(inventory):
    brecca, tango = inventory
    local = drivers.service(brecca)
    local.add_work("node3", "job9", seconds=600)
    request_shift(nodes_named("node3"), tango, drain_timeout=timedelta(0))
    run_until_settled(nodes_named("node3"), timeout=10)
    node = nodes_named("node3")[0]
    operator_action(node, fsm.Action.FORCE)  # drain_timeout → drained: done by hand
    node.refresh_from_db()
    assert node.state == "drained"
    abort_shift(node.shift)
    run_until_settled([node], timeout=10)
    node.refresh_from_db()
    cores = Machine.objects.get(pk=brecca.pk).cores
    request_shift([node], brecca)
    run_until_settled([node], timeout=10)
    node.refresh_from_db()
    assert (node.state, node.service.name, node.shift) == ("in_service", "brecca", None)
    assert local.host("node3").drained is False
    assert Machine.objects.get(pk=brecca.pk).cores == cores  # it was counted all along


def test_forcing_a_failed_leave_takes_the_node_out_of_its_service(inventory):
    _brecca, tango = inventory
    request_shift(nodes_named("node4"), tango)
    node = nodes_named("node4")[0]
    from allotment.inventory.states import NodeStates

    # As the agent's steps go (they pass through leaving within one step here).
    fsm.move(node, NodeStates.drain)
    fsm.move(node, NodeStates.emptied)
    fsm.move(node, NodeStates.leave)
    capacity.change(node.service, node, -1, node.shift)
    fsm.move(node, fsm.System.FAIL, reason="the BMC does not answer")
    operator_action(node, fsm.Action.FORCE)
    node.refresh_from_db()
    assert (node.state, node.service, node.counted_in) == ("available", None, None)
    run_until_settled([node], timeout=30)
    node.refresh_from_db()
    assert (node.state, node.service.name) == ("in_service", "tango")


def test_forcing_a_failed_join_counts_the_node_in_its_service(inventory):
    _brecca, tango = inventory
    cores = tango.cores
    Machine.objects.filter(pk=tango.pk).update(engine_options={"boot_seconds": 3600})
    request_shift(nodes_named("spare1"), tango)
    node = nodes_named("spare1")[0]
    from allotment.inventory.reconcile import step

    for _ in range(10):
        if node.state == "joining":
            break
        step(node)
        node.refresh_from_db()
    assert node.state == "joining"
    fsm.move(node, fsm.System.FAIL, reason="slurmd never registered")
    operator_action(node, fsm.Action.FORCE)
    run_until_settled([node], timeout=10)
    node.refresh_from_db()
    assert (node.state, node.service, node.counted_in, node.shift) == (
        "in_service", tango, tango, None,
    )  # fmt: skip
    assert Machine.objects.get(pk=tango.pk).cores == cores + 32
