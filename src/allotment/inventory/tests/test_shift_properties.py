"""Whatever operators ask in whatever order, the inventory stays consistent.

Hypothesis draws a sequence of operations on two nodes and two services (shift a node
somewhere, take a step of the agent, abort a shift, retry, force or abort a failed node,
put work on a host) and runs it on the local engines. After every operation: each node is in
at most one service, in one exactly when its state says so; a machine's cores are its
starting cores plus the CPUs of the nodes counted in it, never counted twice or taken off
twice; and a node's open shift is one whose item is still open.
"""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from allotment.core import fsm
from allotment.inventory import drivers
from allotment.inventory.models import Node, Outcome, Shift, ShiftNode
from allotment.inventory.reconcile import step
from allotment.inventory.services import abort_shift, nodes_named, operator_action, request_shift
from allotment.inventory.states import IN_A_SERVICE
from allotment.resources.models import Machine

NODES = ["node4", "spare1"]
SHIFT = st.tuples(st.just("shift"), st.sampled_from(NODES), st.sampled_from(["brecca", "tango"]),
                  st.booleans())  # fmt: skip
OPERATION = st.one_of(
    SHIFT,
    SHIFT,
    st.tuples(st.just("step"), st.sampled_from(NODES)),
    st.tuples(st.just("act"), st.sampled_from(NODES), st.sampled_from(list(fsm.Action))),
    st.tuples(st.just("act"), st.sampled_from(NODES), st.just(fsm.Action.ABORT)),
    st.tuples(st.just("fail"), st.sampled_from(NODES)),
    st.tuples(st.just("abort_shift"), st.sampled_from(NODES)),
    st.tuples(st.just("work"), st.sampled_from(NODES)),
    st.tuples(st.just("fail"), st.sampled_from(NODES)),
    st.tuples(st.just("slow_boots"), st.sampled_from(NODES), st.booleans()),
)  # fmt: skip


def check_invariants(base: dict[str, int]) -> None:
    for node in Node.objects.select_related("service", "counted_in"):
        assert (node.service is not None) == (node.state in IN_A_SERVICE), node
        if node.counted_in is not None:
            assert node.state in IN_A_SERVICE and node.service == node.counted_in, node
        if node.shift_id:
            item = ShiftNode.objects.get(shift_id=node.shift_id, node=node)
            assert item.finished_at is None, (node, item.outcome)
    for machine in Machine.objects.filter(name__in=base):
        counted = sum(n.cpus for n in Node.objects.filter(counted_in=machine))
        assert machine.cores == base[machine.name] + counted, machine


@pytest.mark.slow
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(OPERATION, min_size=1, max_size=25))
def test_any_sequence_of_operations_keeps_the_inventory_consistent(
    inventory, operations, settings, tmp_path_factory
):
    from django.db import transaction

    # Each example starts from the same engines too: new local engine files, hosts up.
    settings.VAR_DIR = tmp_path_factory.mktemp("engines")
    for node in Node.objects.filter(service__isnull=False).select_related("service"):
        drivers.service(node.service).start(node.name)
    sid = transaction.savepoint()
    try:
        machines = {m.name: m for m in Machine.objects.filter(name__in=["brecca", "tango"])}
        base = {
            name: m.cores - sum(n.cpus for n in Node.objects.filter(counted_in=m))
            for name, m in machines.items()
        }
        # Hosts start slow to boot, so joins stall where failures can be drawn.
        Machine.objects.filter(name__in=base).update(engine_options={"boot_seconds": 3600})
        for op in operations:
            node = nodes_named(op[1])[0]
            try:
                if op[0] == "shift":
                    request_shift([node], machines[op[2]], force=op[3],
                                  drain_timeout=timedelta(0))  # fmt: skip
                elif op[0] == "step":
                    step(node)
                elif op[0] == "act":
                    operator_action(node, op[2])
                elif op[0] == "abort_shift" and node.shift_id:
                    abort_shift(Shift.objects.get(pk=node.shift_id))
                elif op[0] == "work" and node.service is not None:
                    drivers.service(node.service).add_work(node.name, "job", seconds=600)
                elif op[0] == "fail" and fsm.System.FAIL in {
                    name for (state, name) in Node.machine.table if state == node.state
                }:
                    fsm.move(node, fsm.System.FAIL, reason="an engine gave up")
                elif op[0] == "slow_boots":  # hosts that never come up stall joins
                    seconds = 3600 if op[2] else 0
                    Machine.objects.filter(name__in=base).update(
                        engine_options={"boot_seconds": seconds}
                    )
            except (ValidationError, fsm.TransitionRefused):
                pass  # refused as a whole: nothing may have changed, which the check proves
            node.refresh_from_db()
            event(f"reached {node.state}")
            check_invariants(base)
            for other in nodes_named(",".join(NODES)):  # the agent runs all the while
                step(other)
            check_invariants(base)
        assert not ShiftNode.objects.filter(outcome=Outcome.DONE, finished_at__isnull=True)
    finally:
        transaction.savepoint_rollback(sid)
