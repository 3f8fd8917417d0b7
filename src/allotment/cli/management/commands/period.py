"""allot period: allocation periods, the spans allocations are made for."""

from datetime import date
from typing import Annotated

import typer
from django_typer.management import command

from allotment.cli.options import day_option
from allotment.cli.output import (
    AllotCommand,
    JsonOption,
    changes_given,
    emit_json,
    emit_object,
    emit_table,
    handles_errors,
)
from allotment.grants import services
from allotment.grants.models import AllocationPeriod


class Command(AllotCommand):
    help = "Allocation periods: list, show, create, set."

    @command(name="list")
    @handles_errors
    def list_(self, as_json: JsonOption = False):
        """List allocation periods, latest first."""
        rows = [services.period_dict(p) for p in AllocationPeriod.objects.all()]
        if as_json:
            return emit_json(rows)
        emit_table(["period", "start", "end"], [(r["name"], r["start"], r["end"]) for r in rows])

    @command()
    @handles_errors
    def show(
        self, name: Annotated[str, typer.Argument(help="Period name")], as_json: JsonOption = False
    ):
        """Show an allocation period."""
        emit_object(services.period_dict(services.get_period(name)), as_json)

    @command()
    @handles_errors
    def create(
        self,
        name: Annotated[str, typer.Argument(help="The new period's name, e.g. 2101")],
        start: Annotated[date, day_option(help="First day")],
        end: Annotated[date, day_option(help="Last day")],
        as_json: JsonOption = False,
    ):
        """Create an allocation period."""
        period = services.create_period(name, start, end)
        emit_object(services.period_dict(period), as_json, f"Created allocation period {name}.")

    @command(name="set")
    @handles_errors
    def set_(
        self,
        name: Annotated[str, typer.Argument(help="Period name")],
        new_name: Annotated[str | None, typer.Option("--name", help="Rename it")] = None,
        start: Annotated[date | None, day_option(help="First day")] = None,
        end: Annotated[date | None, day_option(help="Last day")] = None,
        as_json: JsonOption = False,
    ):
        """Change an allocation period: only the options given."""
        changes = changes_given(name=new_name, start=start, end=end)
        period = services.update_period(services.get_period(name), **changes)
        emit_object(
            services.period_dict(period), as_json, f"Changed allocation period {period.name}."
        )
