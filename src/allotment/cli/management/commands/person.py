"""allot person: the people in the ledger."""

from typing import Annotated

import typer
from django.db.models import Prefetch
from django_typer.management import command

from allotment.cli.output import (
    AllotCommand,
    JsonOption,
    emit_json,
    emit_table,
    fail,
    handles_errors,
    say,
)
from allotment.core.validation import save_validated
from allotment.people.models import CareerLevel, Person
from allotment.projects.models import ProjectMembership
from allotment.projects.services import get_project


class Command(AllotCommand):
    help = "People: list and create."

    @command(name="list")
    @handles_errors
    def list_(
        self,
        project: Annotated[str | None, typer.Option(help="Only members of this project.")] = None,
        institute: Annotated[
            str | None, typer.Option(help="Only people of this institute.")
        ] = None,
        include_inactive: Annotated[
            bool, typer.Option("--all", help="Include inactive people.")
        ] = False,
        as_json: JsonOption = False,
    ):
        """List people with their institute, career level and projects."""
        people = Person.objects.select_related("institute", "career_level").prefetch_related(
            Prefetch(
                "memberships",
                queryset=ProjectMembership.objects.select_related("project").order_by(
                    "project__pid"
                ),
            )
        )
        if not include_inactive:
            people = people.filter(is_active=True)
        if project:
            people = people.filter(memberships__project=get_project(project))
        if institute:
            people = people.filter(institute=get_project(institute))
        rows = [
            {
                "username": p.username,
                "name": p.get_full_name(),
                "email": p.email,
                "institute": p.institute.pid if p.institute_id else None,
                "career_level": p.career_level.name if p.career_level_id else None,
                "is_active": p.is_active,
                "is_locked": p.is_locked,
                "is_staff": p.is_staff,
                "projects": [m.project.pid for m in p.memberships.all()],
                "default_project": next(
                    (m.project.pid for m in p.memberships.all() if m.is_default_project), None
                ),
            }
            for p in people.order_by("username")
        ]
        if as_json:
            return emit_json(rows)
        emit_table(
            ["username", "name", "institute", "career level", "projects", "status"],
            [
                (
                    r["username"],
                    r["name"],
                    r["institute"],
                    r["career_level"],
                    ", ".join(r["projects"]),
                    "locked" if r["is_locked"] else ("active" if r["is_active"] else "inactive"),
                )
                for r in rows
            ],
        )

    @command()
    @handles_errors
    def create(
        self,
        username: Annotated[str, typer.Argument()],
        email: Annotated[str, typer.Option()] = "",
        first_name: Annotated[str, typer.Option("--first-name")] = "",
        last_name: Annotated[str, typer.Option("--last-name")] = "",
        institute: Annotated[str | None, typer.Option(help="Institute (root project) id")] = None,
        career_level: Annotated[str | None, typer.Option(help="Career level name")] = None,
    ):
        """Create a person (without a password: they sign in once one is set)."""
        level = None
        if career_level:
            level = CareerLevel.objects.filter(name=career_level).first()
            if level is None:
                fail(f'There is no career level "{career_level}".')
        person = Person(
            username=username,
            email=email,
            first_name=first_name,
            last_name=last_name,
            institute=get_project(institute) if institute else None,
            career_level=level,
        )
        person.set_unusable_password()
        save_validated(person, exclude=["password"])
        say(f"Created {person}.")
