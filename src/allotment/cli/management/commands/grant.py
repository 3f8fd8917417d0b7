"""allot grant: grants awarded to projects under schemes."""

from datetime import date
from typing import Annotated

import typer
from django_typer.management import command

from allotment.cli.options import day_option
from allotment.cli.output import (
    AllotCommand,
    JsonOption,
    emit_json,
    emit_table,
    handles_errors,
    say,
)
from allotment.grants.models import Grant
from allotment.grants.services import create_grant, get_scheme
from allotment.projects.services import get_project


class Command(AllotCommand):
    help = "Grants: list and create."

    @command(name="list")
    @handles_errors
    def list_(
        self,
        project: Annotated[str | None, typer.Option(help="Only this project's grants")] = None,
        as_json: JsonOption = False,
    ):
        """List grants."""
        grants = Grant.objects.select_related("project", "scheme").order_by("pk")
        if project:
            grants = grants.filter(project=get_project(project))
        rows = [
            {
                "id": g.pk,
                "project": g.project.pid,
                "scheme": g.scheme.name,
                "awarded": g.awarded,
                "begins": g.begins,
                "expires": g.expires,
                "description": g.description,
            }
            for g in grants
        ]
        if as_json:
            return emit_json(rows)
        emit_table(
            ["grant", "project", "scheme", "awarded", "begins", "expires"],
            [
                (r["id"], r["project"], r["scheme"], r["awarded"], r["begins"], r["expires"])
                for r in rows
            ],
        )

    @command()
    @handles_errors
    def create(
        self,
        pid: Annotated[str, typer.Argument(help="Project id")],
        scheme: Annotated[str, typer.Option(help="Scheme name")],
        begins: Annotated[date, day_option(help="First day of the grant")],
        expires: Annotated[date, day_option(help="Last day of the grant")],
        awarded: Annotated[date | None, day_option(help="Default: today")] = None,
        description: Annotated[str, typer.Option()] = "",
    ):
        """Record a grant to a project under a scheme."""
        grant = create_grant(
            get_project(pid),
            get_scheme(scheme),
            begins,
            expires,
            awarded=awarded,
            description=description,
        )
        say(f"Created grant {grant.pk} to {pid}.")
