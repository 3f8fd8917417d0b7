"""allot allocation: what projects were allocated, used and have left."""

from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from django_typer.management import command

from allotment.cli.output import AllotCommand, JsonOption, emit_json, fail, handles_errors, say
from allotment.grants.models import AllocationPeriod, Grant
from allotment.grants.services import allocate, project_pools
from allotment.projects.services import get_project
from allotment.resources.models import ResourcePool

from .project import _pool_table


class Command(AllotCommand):
    help = "Allocations: show a project's pools, add an allocation under a grant."

    @command()
    @handles_errors
    def show(
        self,
        pid: Annotated[str, typer.Argument(help="Project id")],
        period: Annotated[str | None, typer.Option(help="Allocation period name")] = None,
        as_json: JsonOption = False,
    ):
        """A project's allocation pools with allocated, used and remaining amounts."""
        project = get_project(pid)
        pools = [s.as_dict() for s in project_pools(project, period)]
        if as_json:
            return emit_json({"project": project.pid, "period": period, "pools": pools})
        say(f"[bold]{project.pid}[/bold]" + (f" in period {period}" if period else ""))
        _pool_table(pools)

    @command()
    @handles_errors
    def add(
        self,
        grant: Annotated[int, typer.Option(help="Grant number")],
        period: Annotated[str, typer.Option(help="Allocation period name")],
        pool: Annotated[str, typer.Option(help="Resource pool name")],
        quantity: Annotated[str, typer.Argument(help="Amount, in the pool's units")],
        description: Annotated[str, typer.Option()] = "",
    ):
        """Allocate an amount of a resource pool to a grant's project for a period."""
        try:
            amount = Decimal(quantity)
        except InvalidOperation:
            fail(f'The quantity "{quantity}" is not a number.')
        grant_obj = Grant.objects.select_related("project").filter(pk=grant).first()
        if grant_obj is None:
            fail(f"There is no grant {grant}.")
        period_obj = AllocationPeriod.objects.filter(name=period).first()
        if period_obj is None:
            fail(f'There is no allocation period "{period}".')
        pool_obj = ResourcePool.objects.filter(name=pool).first()
        if pool_obj is None:
            fail(f'There is no resource pool "{pool}".')
        allocation = allocate(grant_obj, period_obj, pool_obj, amount, description)
        say(f"Allocated {allocation}.")
