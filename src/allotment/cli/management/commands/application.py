"""allot application: join requests, invitations and project applications.

References name what a command acts on: J<n> a join request, I<n> an invitation, P<n> a
project application. Decisions from the shell carry a site administrator's authority (as
every `allot` command does) and are attributed to $ALLOTMENT_ACTOR or the login name.
"""

import sys
from typing import Annotated

import typer
from django.utils import timezone
from django_typer.management import command

from allotment.applications import services
from allotment.applications.mail import url
from allotment.applications.models import Invitation, JoinRequest, ProjectApplication
from allotment.cli.output import (
    AllotCommand,
    JsonOption,
    cli_actor,
    emit_json,
    emit_table,
    fail,
    handles_errors,
    level_named,
    say,
)
from allotment.projects.services import get_project

KINDS = {"join": JoinRequest, "invitation": Invitation, "project": ProjectApplication}
OPEN = {"pending", "leader_approved"}


def _name(person) -> str | None:
    return person.username if person is not None else None


def row(obj) -> dict:
    """One application as `list` and `show` print it, whatever its kind."""
    if isinstance(obj, JoinRequest):
        return {
            "ref": obj.ref,
            "kind": "join",
            "who": obj.person.username,
            "project": obj.project.pid,
            "state": obj.state,
            "created": obj.created,
            "decided_by": _name(obj.decided_by),
            "decided_at": obj.decided_at,
            "reason": obj.reason,
            "message": obj.message,
        }
    if isinstance(obj, Invitation):
        return {
            "ref": obj.ref,
            "kind": "invitation",
            "who": obj.email,
            "project": obj.project.pid,
            "state": obj.status,
            "created": obj.created,
            "invited_by": _name(obj.invited_by),
            "level": obj.project_level.name if obj.project_level_id else None,
            "expires_at": obj.expires_at,
            "accepted_by": _name(obj.accepted_by),
            "accepted_at": obj.accepted_at,
            "revoked_by": _name(obj.revoked_by),
            "revoked_at": obj.revoked_at,
        }
    return {
        "ref": obj.ref,
        "kind": "project",
        "who": obj.applicant.username,
        "project": obj.pid,
        "institute": obj.institute.pid,
        "name": obj.name,
        "state": obj.state,
        "created": obj.created,
        "leader_decided_by": _name(obj.leader_decided_by),
        "leader_decided_at": obj.leader_decided_at,
        "decided_by": _name(obj.decided_by),
        "decided_at": obj.decided_at,
        "reason": obj.reason,
    }


def _matches(state: str | None, status: str) -> bool:
    if state is None:
        return True
    return status in OPEN if state == "open" else status == state


class Command(AllotCommand):
    help = "Join requests (J), invitations (I) and project applications (P): list and decide."

    @command(name="list")
    @handles_errors
    def list_(
        self,
        state: Annotated[
            str | None,
            typer.Option(
                help="Only this state: pending, leader_approved, approved, declined, "
                "withdrawn, accepted, revoked, expired, or open (still waiting)."
            ),
        ] = None,
        kind: Annotated[
            str | None, typer.Option(help="Only this kind: join, invitation or project.")
        ] = None,
        project: Annotated[str | None, typer.Option(help="Only for this project id.")] = None,
        as_json: JsonOption = False,
    ):
        """List applications of every kind, newest first."""
        if kind is not None and kind not in KINDS:
            fail(f'There is no kind "{kind}": use join, invitation or project.')
        rows = []
        for name, model in KINDS.items():
            if kind not in (None, name):
                continue
            objects = model.objects.all()
            if project is not None:
                field = "pid__iexact" if model is ProjectApplication else "project"
                target = project if model is ProjectApplication else get_project(project)
                objects = objects.filter(**{field: target})
            rows += [r for r in map(row, objects) if _matches(state, r["state"])]
        rows.sort(key=lambda r: r["created"], reverse=True)
        if as_json:
            return emit_json(rows)
        emit_table(
            ["ref", "kind", "who", "project", "state", "created", "decided by"],
            [
                (
                    r["ref"],
                    r["kind"],
                    r["who"],
                    r["project"],
                    r["state"],
                    timezone.localtime(r["created"]).strftime("%Y-%m-%d %H:%M"),
                    r.get("decided_by") or r.get("accepted_by") or r.get("revoked_by"),
                )
                for r in rows
            ],
        )

    @command()
    @handles_errors
    def show(self, ref: Annotated[str, typer.Argument()], as_json: JsonOption = False):
        """Show one application with everything recorded about it."""
        data = row(services.find(ref))
        if as_json:
            return emit_json(data)
        emit_table(["field", "value"], [(k, v) for k, v in data.items()], title=data["ref"])

    @command()
    @handles_errors
    def approve(
        self,
        ref: Annotated[str, typer.Argument(help="J<n> or P<n>.")],
        level: Annotated[
            str | None, typer.Option(help="Project level of the new member (join requests).")
        ] = None,
    ):
        """Approve a join request, or a project application (creating the project)."""
        found = services.find(ref)
        options = {"level": level_named(level)} if level is not None else {}
        if options and not isinstance(found, JoinRequest):
            fail("--level applies to join requests only.")
        result = services.approve(found, cli_actor()[0], operator=True, **options)
        if isinstance(found, JoinRequest):
            say(f"Approved {found.ref}: {result} now.")
        else:
            say(f'Approved {found.ref}: project "{result.project.pid}" created.')

    @command()
    @handles_errors
    def decline(
        self,
        ref: Annotated[str, typer.Argument(help="J<n> or P<n> (I<n> revokes).")],
        reason: Annotated[str, typer.Option(help="Why; the applicant is told it.")],
    ):
        """Decline a join request or project application, telling the applicant why."""
        found = services.find(ref)
        services.decline(found, cli_actor()[0], reason, operator=True)
        say(f"Declined {found.ref}.")

    @command()
    @handles_errors
    def invite(
        self,
        pid: Annotated[str, typer.Argument(help="The project id.")],
        email: Annotated[str, typer.Argument()],
        level: Annotated[str | None, typer.Option(help="Project level on joining.")] = None,
        message: Annotated[str, typer.Option(help="A note for the email.")] = "",
    ):
        """Invite someone by email to a project; prints the link the email carries."""
        invitation, token = services.invite(
            get_project(pid),
            email,
            cli_actor()[0],
            level=level_named(level),
            message=message,
            operator=True,
        )
        say(f"Invited {invitation.email} to {pid} ({invitation.ref}); the link:")
        sys.stdout.write(url("applications:invitation", token) + "\n")  # unwrapped

    @command()
    @handles_errors
    def revoke(self, ref: Annotated[str, typer.Argument(help="I<n>.")]):
        """Revoke an open invitation: its link stops working."""
        found = services.find(ref)
        if not isinstance(found, Invitation):
            fail(f"{found.ref} is not an invitation; decline it instead.")
        services.revoke_invitation(found, cli_actor()[0], operator=True)
        say(f"Revoked {found.ref}.")
