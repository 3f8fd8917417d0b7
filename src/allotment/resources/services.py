"""Setting a site up: machine categories, machines, resource pools and resources.

The CLI, and any page or API that follows, call these; every rule is the model's clean(),
run by save_validated(), so a refused change names the field and the object whatever path
made it.
"""

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError

from allotment.core.validation import apply_changes, get_named, refuse_taken_name, save_validated

from .models import Machine, MachineCategory, Resource, ResourcePool

CATEGORY_FIELDS = ("name", "description")
MACHINE_FIELDS = (
    "name",
    "category",
    "kind",
    "engine",
    "engine_options",
    "description",
    "cores",
    "nodes",
    "start_date",
    "end_date",
    "time_zone",
)
POOL_FIELDS = ("name", "units", "aggregation", "metric", "unit_size", "description")
RESOURCE_FIELDS = ("name", "quantity", "scaling_factor")


# Machine categories -------------------------------------------------------------------


def get_category(name: str) -> MachineCategory:
    return get_named(MachineCategory.objects, "machine category", name)


def create_category(name: str, description: str = "") -> MachineCategory:
    refuse_taken_name(MachineCategory, "machine category", name)
    return save_validated(MachineCategory(name=name, description=description))


def update_category(category: MachineCategory, **changes: Any) -> MachineCategory:
    if "name" in changes:
        refuse_taken_name(MachineCategory, "machine category", changes["name"], category)
    return apply_changes(category, CATEGORY_FIELDS, changes)


# Machines -----------------------------------------------------------------------------


def get_machine(name: str) -> Machine:
    return get_named(Machine.objects.select_related("category"), "machine", name)


def create_machine(name: str, category: MachineCategory, **fields: Any) -> Machine:
    """A new machine; its accounts are those of `category`, its engine is set in `fields`
    (local unless given), and the agent starts acting on it on its next pass."""
    refuse_taken_name(Machine, "machine", name)
    machine = Machine(name=name, category=category)
    return apply_changes(machine, MACHINE_FIELDS, fields)


def update_machine(machine: Machine, **changes: Any) -> Machine:
    if "name" in changes:
        refuse_taken_name(Machine, "machine", changes["name"], machine)
    return apply_changes(machine, MACHINE_FIELDS, changes)


def machine_dict(machine: Machine) -> dict:
    return {
        "name": machine.name,
        "category": machine.category.name,
        "kind": machine.kind,
        "engine": machine.engine,
        "engine_options": machine.engine_options,
        "description": machine.description,
        "cores": machine.cores,
        "nodes": machine.nodes,
        "start_date": machine.start_date,
        "end_date": machine.end_date,
        "time_zone": machine.time_zone,
    }


# Resource pools -----------------------------------------------------------------------


def get_pool(name: str) -> ResourcePool:
    return get_named(ResourcePool.objects, "resource pool", name)


def create_pool(name: str, units: str, **fields: Any) -> ResourcePool:
    refuse_taken_name(ResourcePool, "resource pool", name)
    return apply_changes(ResourcePool(name=name, units=units), POOL_FIELDS, fields)


def update_pool(pool: ResourcePool, **changes: Any) -> ResourcePool:
    if "name" in changes:
        refuse_taken_name(ResourcePool, "resource pool", changes["name"], pool)
    return apply_changes(pool, POOL_FIELDS, changes)


def pool_dict(pool: ResourcePool) -> dict:
    return {
        "name": pool.name,
        "units": pool.units,
        "aggregation": pool.aggregation,
        "metric": pool.metric,
        "unit_size": pool.unit_size,
        "description": pool.description,
        "capacity": pool.capacity,
    }


# Resources ----------------------------------------------------------------------------


def get_resource(name: str, machine: str | None = None, pool: str | None = None) -> Resource:
    """The resource of this name; a name two machines or pools share needs --machine or
    --pool to say which, and the error lists them."""
    found = Resource.objects.select_related("machine", "pool").filter(name=name)
    if machine is not None:
        found = found.filter(machine=get_machine(machine))
    if pool is not None:
        found = found.filter(pool=get_pool(pool))
    matches = list(found.order_by("machine__name", "pool__name")[:11])
    if not matches:
        raise ValidationError(f'There is no resource "{name}"{_where(machine, pool)}.')
    if len(matches) > 1:
        listed = ", ".join(f"{r.machine} → {r.pool}" for r in matches)
        raise ValidationError(
            f'There are several resources "{name}" ({listed}); say which with --machine or --pool.'
        )
    return matches[0]


def _where(machine: str | None, pool: str | None) -> str:
    parts = [f'machine "{machine}"' if machine else "", f'pool "{pool}"' if pool else ""]
    joined = " and ".join(p for p in parts if p)
    return f" on {joined}" if joined else ""


def create_resource(
    machine: Machine,
    pool: ResourcePool,
    name: str,
    quantity: Decimal,
    scaling_factor: Decimal = Decimal(1),
) -> Resource:
    """What `machine` contributes to `pool`: `quantity` in its own units, each counting
    `scaling_factor` of the pool's units (for the pool's capacity and for usage charged)."""
    if Resource.objects.filter(machine=machine, pool=pool, name=name).exists():
        raise ValidationError(
            {"name": f'Machine "{machine}" already has a resource "{name}" in pool "{pool}".'}
        )
    return save_validated(
        Resource(
            machine=machine,
            pool=pool,
            name=name,
            quantity=quantity,
            scaling_factor=scaling_factor,
        )
    )


def update_resource(resource: Resource, **changes: Any) -> Resource:
    """Change a resource's name, quantity or scaling factor. Its machine and pool stay: the
    usage already charged through it belongs to them; a new resource is the way to move."""
    name = changes.get("name")
    if (
        name is not None
        and Resource.objects.filter(machine=resource.machine, pool=resource.pool, name=name)
        .exclude(pk=resource.pk)
        .exists()
    ):
        raise ValidationError(
            {
                "name": f'Machine "{resource.machine}" already has a resource "{name}" in pool '
                f'"{resource.pool}".'
            }
        )
    return apply_changes(resource, RESOURCE_FIELDS, changes)


def resource_dict(resource: Resource) -> dict:
    return {
        "id": resource.pk,
        "name": resource.name,
        "machine": resource.machine.name,
        "pool": resource.pool.name,
        "quantity": resource.quantity,
        "scaling_factor": resource.scaling_factor,
        "scaled_quantity": resource.scaled_quantity,
        "units": resource.pool.units,
    }
