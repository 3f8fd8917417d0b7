"""allot scheme: the schemes grants are awarded under."""

from datetime import date
from typing import Annotated

import typer
from django_typer.management import command

from allotment.cli.options import day_option, end_option
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
from allotment.grants.models import Scheme


class Command(AllotCommand):
    help = "Grant schemes: list, show, create, set."

    @command(name="list")
    @handles_errors
    def list_(self, as_json: JsonOption = False):
        """List schemes, with how many grants each awarded."""
        rows = [services.scheme_dict(s) for s in Scheme.objects.all()]
        if as_json:
            return emit_json(rows)
        emit_table(
            ["scheme", "opened", "closed", "grants", "description"],
            [(r["name"], r["opened"], r["closed"], r["grants"], r["description"]) for r in rows],
            numeric=["grants"],
        )

    @command()
    @handles_errors
    def show(
        self, name: Annotated[str, typer.Argument(help="Scheme name")], as_json: JsonOption = False
    ):
        """Show a scheme."""
        emit_object(services.scheme_dict(services.get_scheme(name)), as_json)

    @command()
    @handles_errors
    def create(
        self,
        name: Annotated[str, typer.Argument(help="The new scheme's name")],
        description: Annotated[str, typer.Option()] = "",
        opened: Annotated[date | None, day_option(help="Default: today")] = None,
        closed: Annotated[date | None, day_option(help="Takes no grants from this day")] = None,
        as_json: JsonOption = False,
    ):
        """Create a scheme grants can be awarded under."""
        dates = {"opened": opened, "closed": closed}
        scheme = services.create_scheme(
            name, description=description, **{k: v for k, v in dates.items() if v is not None}
        )
        emit_object(services.scheme_dict(scheme), as_json, f"Created scheme {scheme.name}.")

    @command(name="set")
    @handles_errors
    def set_(
        self,
        name: Annotated[str, typer.Argument(help="Scheme name")],
        new_name: Annotated[str | None, typer.Option("--name", help="Rename it")] = None,
        description: Annotated[str | None, typer.Option()] = None,
        opened: Annotated[date | None, day_option()] = None,
        closed: Annotated[
            date | None, end_option(help="Takes no grants from this day; open: reopen it")
        ] = None,
        as_json: JsonOption = False,
    ):
        """Change a scheme: only the options given."""
        changes = changes_given(
            name=new_name, description=description, opened=opened, closed=closed
        )
        scheme = services.update_scheme(services.get_scheme(name), **changes)
        emit_object(services.scheme_dict(scheme), as_json, f"Changed scheme {scheme.name}.")
