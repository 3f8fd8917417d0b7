"""allot resource: what each machine gives to a resource pool, and at what scaling."""

from decimal import Decimal
from typing import Annotated

import typer
from django_typer.management import command

from allotment.cli.options import number_option
from allotment.cli.output import (
    AllotCommand,
    JsonOption,
    changes_given,
    emit_json,
    emit_object,
    emit_table,
    handles_errors,
    say,
)
from allotment.core.numbers import display
from allotment.resources import services
from allotment.resources.models import Resource

MachineFilter = Annotated[
    str | None, typer.Option("--machine", help="The machine (when names repeat)")
]
PoolFilter = Annotated[str | None, typer.Option("--pool", help="The pool (when names repeat)")]
SCALING_HELP = "Pool units per unit of this resource (a faster machine's hour counts more)"


class Command(AllotCommand):
    help = "Resources (a machine's share of a pool): list, show, create, set."

    @command(name="list")
    @handles_errors
    def list_(
        self,
        machine: Annotated[str | None, typer.Option(help="Only this machine's")] = None,
        pool: Annotated[str | None, typer.Option(help="Only this pool's")] = None,
        as_json: JsonOption = False,
    ):
        """List resources."""
        resources = Resource.objects.select_related("machine", "pool")
        if machine is not None:
            resources = resources.filter(machine=services.get_machine(machine))
        if pool is not None:
            resources = resources.filter(pool=services.get_pool(pool))
        rows = [services.resource_dict(r) for r in resources]
        if as_json:
            return emit_json(rows)
        emit_table(
            ["resource", "machine", "pool", "quantity", "scaling", "scaled", "units"],
            [
                (r["name"], r["machine"], r["pool"], display(r["quantity"]),
                 display(r["scaling_factor"]), display(r["scaled_quantity"]), r["units"])
                for r in rows
            ],
            numeric=["quantity", "scaling", "scaled"],
        )  # fmt: skip

    @command()
    @handles_errors
    def show(
        self,
        name: Annotated[str, typer.Argument(help="Resource name")],
        machine: MachineFilter = None,
        pool: PoolFilter = None,
        as_json: JsonOption = False,
    ):
        """Show a resource."""
        emit_object(services.resource_dict(services.get_resource(name, machine, pool)), as_json)

    @command()
    @handles_errors
    def create(
        self,
        name: Annotated[str, typer.Argument(help="The new resource's name, e.g. brecca-cores")],
        machine: Annotated[str, typer.Option(help="The machine that provides it")],
        pool: Annotated[str, typer.Option(help="The pool it counts towards")],
        quantity: Annotated[
            Decimal, number_option(help="What it provides, in its own units, before scaling")
        ],
        scaling_factor: Annotated[Decimal, number_option(help=SCALING_HELP)] = Decimal(1),
        as_json: JsonOption = False,
    ):
        """Create a resource: a machine's contribution to a pool."""
        resource = services.create_resource(
            services.get_machine(machine), services.get_pool(pool), name, quantity, scaling_factor
        )
        emit_object(services.resource_dict(resource), as_json, f"Created resource {resource.name}.")

    @command(name="set")
    @handles_errors
    def set_(
        self,
        name: Annotated[str, typer.Argument(help="Resource name")],
        machine: MachineFilter = None,
        pool: PoolFilter = None,
        new_name: Annotated[str | None, typer.Option("--name", help="Rename it")] = None,
        quantity: Annotated[Decimal | None, number_option(help="Before scaling")] = None,
        scaling_factor: Annotated[Decimal | None, number_option(help=SCALING_HELP)] = None,
        as_json: JsonOption = False,
    ):
        """Change a resource's name, quantity or scaling factor: only the options given."""
        changes = changes_given(name=new_name, quantity=quantity, scaling_factor=scaling_factor)
        resource = services.update_resource(services.get_resource(name, machine, pool), **changes)
        emit_object(services.resource_dict(resource), as_json, f"Changed resource {resource.name}.")
        if not as_json and "scaling_factor" in changes:
            say("Usage already aggregated keeps the old factor: `allot usage rebuild --from "
                "DAY --to DAY` recomputes it.")  # fmt: skip
