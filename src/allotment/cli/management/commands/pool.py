"""allot pool: resource pools, the kinds of thing allocated and used (CPU hours, disk)."""

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
from allotment.resources.models import Aggregation, Metric, ResourcePool

UNIT_SIZE_HELP = "Base units of the metric in one pool unit: 3600 core-seconds per hour"


def pool_details(pool: ResourcePool) -> dict:
    return services.pool_dict(pool) | {
        "resources": [
            services.resource_dict(r)
            for r in pool.resources.select_related("machine", "pool").order_by("machine__name")
        ]
    }


class Command(AllotCommand):
    help = "Resource pools: list, show, create, set."

    @command(name="list")
    @handles_errors
    def list_(self, as_json: JsonOption = False):
        """List resource pools with their capacity (sum of quantity x scaling factor)."""
        rows = [services.pool_dict(p) for p in ResourcePool.objects.all()]
        if as_json:
            return emit_json(rows)
        emit_table(
            ["pool", "units", "aggregation", "metric", "unit size", "capacity"],
            [
                (r["name"], r["units"], r["aggregation"], r["metric"], display(r["unit_size"]),
                 display(r["capacity"]))
                for r in rows
            ],
            numeric=["unit size", "capacity"],
        )  # fmt: skip

    @command()
    @handles_errors
    def show(
        self, name: Annotated[str, typer.Argument(help="Pool name")], as_json: JsonOption = False
    ):
        """Show a resource pool and the machines' resources that make it up."""
        emit_object(pool_details(services.get_pool(name)), as_json)

    @command()
    @handles_errors
    def create(
        self,
        name: Annotated[str, typer.Argument(help="The new pool's name")],
        units: Annotated[str, typer.Option(help="Its units as people read them: hours, KB")],
        aggregation: Annotated[Aggregation, typer.Option(help="How a period's usage adds up")] = (
            Aggregation.SUM
        ),
        metric: Annotated[Metric, typer.Option(help="Which usage records feed it")] = (
            Metric.OTHER
        ),
        unit_size: Annotated[Decimal, number_option(help=UNIT_SIZE_HELP)] = Decimal(1),
        description: Annotated[str, typer.Option()] = "",
        as_json: JsonOption = False,
    ):
        """Create a resource pool."""
        pool = services.create_pool(
            name, units, aggregation=aggregation.value, metric=metric.value,
            unit_size=unit_size, description=description,
        )  # fmt: skip
        emit_object(pool_details(pool), as_json, f"Created resource pool {pool.name}.")

    @command(name="set")
    @handles_errors
    def set_(
        self,
        name: Annotated[str, typer.Argument(help="Pool name")],
        new_name: Annotated[str | None, typer.Option("--name", help="Rename it")] = None,
        units: Annotated[str | None, typer.Option()] = None,
        aggregation: Annotated[Aggregation | None, typer.Option()] = None,
        metric: Annotated[Metric | None, typer.Option()] = None,
        unit_size: Annotated[Decimal | None, number_option(help=UNIT_SIZE_HELP)] = None,
        description: Annotated[str | None, typer.Option()] = None,
        as_json: JsonOption = False,
    ):
        """Change a resource pool: only the options given."""
        changes = changes_given(
            name=new_name, units=units, aggregation=aggregation and aggregation.value,
            metric=metric and metric.value, unit_size=unit_size, description=description,
        )  # fmt: skip
        pool = services.update_pool(services.get_pool(name), **changes)
        emit_object(pool_details(pool), as_json, f"Changed resource pool {pool.name}.")
        if not as_json and {"unit_size", "metric"} & set(changes):
            say("Usage already aggregated is in the old units: `allot usage rebuild --from "
                "DAY --to DAY` recomputes it.")  # fmt: skip
