"""allot person: the people in the ledger."""

import sys
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
    person_named,
    say,
)
from allotment.core.validation import save_validated
from allotment.people.models import CareerLevel, Person
from allotment.projects.models import ProjectMembership
from allotment.projects.services import get_project


class Command(AllotCommand):
    help = "People: list, create and set."

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
                "email_verified": p.email_verified,
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
            first_name=first_name,
            last_name=last_name,
            institute=get_project(institute) if institute else None,
            career_level=level,
        )
        # The shell is a site administrator's: the email they give is verified.
        person.set_email(email, verified=True)
        person.set_unusable_password()
        save_validated(person, exclude=["password"])
        say(f"Created {person}.")

    @command(name="set")
    @handles_errors
    def set_(
        self,
        username: Annotated[str, typer.Argument()],
        email: Annotated[
            str | None,
            typer.Option(help="New email, verified (you vouch for it); '' removes it."),
        ] = None,
        first_name: Annotated[str | None, typer.Option("--first-name")] = None,
        last_name: Annotated[str | None, typer.Option("--last-name")] = None,
        title: Annotated[str | None, typer.Option()] = None,
    ):
        """Change a person's name or email, as a site administrator."""
        person = person_named(username)
        changes = {"first_name": first_name, "last_name": last_name, "title": title}
        for field, value in changes.items():
            if value is not None:
                setattr(person, field, value.strip())
        if email is not None:
            person.set_email(email, verified=True)
        if all(value is None for value in (*changes.values(), email)):
            sys.stderr.write("error: nothing to change: give --email, --first-name, --last-name "
                             "or --title.\n")  # fmt: skip
            raise typer.Exit(2)
        save_validated(person, exclude=["password"])
        verified = " (verified)" if person.email_verified else ""
        say(f"Updated {person}: email {person.email or 'none'}{verified}.")
