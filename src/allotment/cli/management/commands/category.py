"""allot category: machine categories, the sets of machines that share accounts."""

from typing import Annotated

import typer
from django_typer.management import command

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
from allotment.resources.models import MachineCategory


def category_dict(category: MachineCategory) -> dict:
    return {
        "name": category.name,
        "description": category.description,
        "machines": [m.name for m in category.machines.order_by("name")],
    }


class Command(AllotCommand):
    help = "Machine categories (machines sharing one set of accounts): list, show, create, set."

    @command(name="list")
    @handles_errors
    def list_(self, as_json: JsonOption = False):
        """List machine categories and their machines."""
        rows = [category_dict(c) for c in MachineCategory.objects.prefetch_related("machines")]
        if as_json:
            return emit_json(rows)
        emit_table(
            ["category", "machines", "description"],
            [(r["name"], ", ".join(r["machines"]), r["description"]) for r in rows],
        )

    @command()
    @handles_errors
    def show(
        self,
        name: Annotated[str, typer.Argument(help="Category name")],
        as_json: JsonOption = False,
    ):
        """Show a machine category."""
        emit_object(category_dict(services.get_category(name)), as_json)

    @command()
    @handles_errors
    def create(
        self,
        name: Annotated[str, typer.Argument(help="The new category's name")],
        description: Annotated[str, typer.Option()] = "",
        as_json: JsonOption = False,
    ):
        """Create a machine category: the accounts its machines will share."""
        category = services.create_category(name, description)
        emit_object(category_dict(category), as_json, f"Created machine category {category.name}.")

    @command(name="set")
    @handles_errors
    def set_(
        self,
        name: Annotated[str, typer.Argument(help="Category name")],
        new_name: Annotated[str | None, typer.Option("--name", help="Rename it")] = None,
        description: Annotated[str | None, typer.Option()] = None,
        as_json: JsonOption = False,
    ):
        """Change a machine category: only the options given."""
        changes = changes_given(name=new_name, description=description)
        category = services.update_category(services.get_category(name), **changes)
        emit_object(category_dict(category), as_json, f"Changed machine category {category.name}.")
