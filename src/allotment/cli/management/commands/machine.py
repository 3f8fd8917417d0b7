"""allot machine: the machines usage comes from and accounts live on."""

from datetime import date
from typing import Annotated

import typer
from django_typer.management import command

from allotment.cli.options import JSON_OBJECT, day_option, end_option
from allotment.cli.output import (
    AllotCommand,
    JsonOption,
    changes_given,
    emit_json,
    emit_object,
    emit_table,
    handles_errors,
)
from allotment.resources import services
from allotment.resources.models import Engine, Machine, MachineKind

EngineOptions = Annotated[
    dict | None,
    typer.Option(
        click_type=JSON_OBJECT,
        metavar="JSON",
        help='What the engine needs, e.g. {"cluster": "brecca"} for Slurm.',
    ),
]
TABLE_KEYS = ("name", "category", "kind", "engine", "cores", "nodes", "start_date", "end_date")
Count = typer.Option(min=0, help="How many the machine has (for reports).")


def machine_details(machine: Machine) -> dict:
    return services.machine_dict(machine) | {
        "resources": [
            services.resource_dict(r)
            for r in machine.resources.select_related("machine", "pool").order_by("pool__name")
        ]
    }


class Command(AllotCommand):
    help = "Machines: list, show, create, set."

    @command(name="list")
    @handles_errors
    def list_(
        self,
        category: Annotated[str | None, typer.Option(help="Only this category's")] = None,
        as_json: JsonOption = False,
    ):
        """List machines."""
        machines = Machine.objects.select_related("category")
        if category is not None:
            machines = machines.filter(category=services.get_category(category))
        rows = [services.machine_dict(m) for m in machines]
        if as_json:
            return emit_json(rows)
        emit_table(
            ["machine", "category", "kind", "engine", "cores", "nodes", "start", "end"],
            [[r[k] for k in TABLE_KEYS] for r in rows],
            numeric=["cores", "nodes"],
        )

    @command()
    @handles_errors
    def show(
        self, name: Annotated[str, typer.Argument(help="Machine name")], as_json: JsonOption = False
    ):
        """Show a machine and the resources it gives to pools."""
        emit_object(machine_details(services.get_machine(name)), as_json)

    @command()
    @handles_errors
    def create(
        self,
        name: Annotated[str, typer.Argument(help="The new machine's name")],
        category: Annotated[str, typer.Option(help="Machine category (shared accounts)")],
        kind: Annotated[MachineKind, typer.Option()] = MachineKind.BATCH,
        engine: Annotated[Engine, typer.Option(help="What runs its accounts and jobs")] = (
            Engine.LOCAL
        ),
        engine_options: EngineOptions = None,
        description: Annotated[str, typer.Option()] = "",
        cores: Annotated[int, Count] = 0,
        nodes: Annotated[int, Count] = 0,
        start: Annotated[date | None, day_option(help="In service from; default: today")] = None,
        end: Annotated[date | None, day_option(help="Out of service after")] = None,
        time_zone: Annotated[str, typer.Option(help="Of its tools' local times")] = "UTC",
        as_json: JsonOption = False,
    ):
        """Create a machine in a category."""
        fields = {
            "kind": kind.value, "engine": engine.value, "engine_options": engine_options or {},
            "description": description, "cores": cores, "nodes": nodes, "end_date": end,
            "time_zone": time_zone, **({"start_date": start} if start else {}),
        }  # fmt: skip
        machine = services.create_machine(name, services.get_category(category), **fields)
        emit_object(machine_details(machine), as_json, f"Created machine {machine.name}.")

    @command(name="set")
    @handles_errors
    def set_(
        self,
        name: Annotated[str, typer.Argument(help="Machine name")],
        new_name: Annotated[str | None, typer.Option("--name", help="Rename it")] = None,
        category: Annotated[str | None, typer.Option(help="Machine category")] = None,
        kind: Annotated[MachineKind | None, typer.Option()] = None,
        engine: Annotated[Engine | None, typer.Option()] = None,
        engine_options: EngineOptions = None,
        description: Annotated[str | None, typer.Option()] = None,
        cores: Annotated[int | None, Count] = None,
        nodes: Annotated[int | None, Count] = None,
        start: Annotated[date | None, day_option(help="In service from")] = None,
        end: Annotated[date | None, end_option(help="Out of service after; open: no end")] = None,
        time_zone: Annotated[str | None, typer.Option()] = None,
        as_json: JsonOption = False,
    ):
        """Change a machine: only the options given."""
        changes = changes_given(
            name=new_name, kind=kind, engine=engine, engine_options=engine_options,
            description=description, cores=cores, nodes=nodes, start_date=start, end_date=end,
            time_zone=time_zone, category=category,
        )  # fmt: skip
        machine = services.get_machine(name)
        if "category" in changes:
            changes["category"] = services.get_category(category)
        for field in ("kind", "engine"):
            if field in changes:
                changes[field] = changes[field].value
        machine = services.update_machine(machine, **changes)
        emit_object(machine_details(machine), as_json, f"Changed machine {machine.name}.")
