"""A machine's capacity follows its nodes: a node joining adds its cores to the machine's
core and node counts and to its resource in the CPU pool; leaving takes them away. Each
change is a `CapacityChange`, written in the same transaction as the node's move, so the
figures and the history never disagree and a change is never counted twice.

Nodes recorded as already in a service by an import (`adopt`) are taken to be counted in
the figures the site entered for the machine already (`Node.counted_in`); only moves
change them.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from allotment.resources.models import Machine, Metric, Resource

from .models import CapacityChange, Node, Shift


def cpu_resource(machine: Machine) -> Resource | None:
    """The machine's resource in a core-seconds pool: the one its engine_options name as
    "cpu_resource", else the first by name (None when it feeds no such pool)."""
    resources = Resource.objects.select_for_update().filter(
        machine=machine, pool__metric=Metric.CORE_SECONDS
    )
    named = (machine.engine_options or {}).get("cpu_resource")
    if named:
        resources = resources.filter(name=named)
    return resources.order_by("name").first()


def change(
    machine: Machine, node: Node, sign: int, shift: Shift | None, at: datetime | None = None
) -> CapacityChange | None:
    """Add (sign +1) or remove (-1) `node` from `machine`'s capacity; call inside the
    transaction that moves the node. `Node.counted_in` makes it idempotent: a node already
    counted in the machine is not added again, one not counted is not taken off (a node
    whose join failed and was aborted leaves without having been counted)."""
    with transaction.atomic():
        counted = Node.objects.select_for_update().values_list("counted_in", flat=True)
        counted_in = counted.get(pk=node.pk)
        if (sign > 0) == (counted_in == machine.pk):
            return None
        Node.objects.filter(pk=node.pk).update(counted_in=machine if sign > 0 else None)
        node.counted_in = machine if sign > 0 else None
        locked = Machine.objects.select_for_update().get(pk=machine.pk)
        cores, nodes = sign * node.cpus, sign
        locked.cores = max(0, locked.cores + cores)
        locked.nodes = max(0, locked.nodes + nodes)
        locked.save(update_fields=["cores", "nodes"])
        resource = cpu_resource(locked)
        if resource is not None and node.cpus:
            resource.quantity = max(0, resource.quantity + cores)
            resource.save(update_fields=["quantity"])
        return CapacityChange.objects.create(
            at=at or timezone.now(),
            machine=locked,
            node=node,
            shift=shift,
            cores=cores,
            nodes=nodes,
            cores_after=locked.cores,
            nodes_after=locked.nodes,
        )


def history(machine: Machine) -> list[dict]:
    """The machine's cores and nodes after each change, oldest first, for a chart."""
    return [
        {"at": c.at, "cores": c.cores_after, "nodes": c.nodes_after, "node": c.node.name,
         "change": c.cores}
        for c in CapacityChange.objects.filter(machine=machine).select_related("node")
    ]  # fmt: skip
