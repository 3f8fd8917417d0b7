"""allot project: the project tree and its members."""

from typing import Annotated

import typer
from django.db.models import Count
from django_typer.management import command

from allotment.cli.output import (
    AllotCommand,
    JsonOption,
    emit_json,
    emit_table,
    fail,
    handles_errors,
    level_named,
    person_named,
    say,
)
from allotment.grants.services import project_pools
from allotment.projects import services
from allotment.projects.models import AllocationMode, Project


def project_row(p: Project) -> dict:
    return {
        "pid": p.pid,
        "name": p.name,
        "parent": p.parent.pid if p.parent_id else None,
        "depth": getattr(p, "tree_depth", None),
        "allocation_mode": p.allocation_mode,
        "is_active": p.is_active,
        "start_date": p.start_date,
        "end_date": p.end_date,
        "members": getattr(p, "member_count", None),
    }


class Command(AllotCommand):
    help = "The project tree: list, show, create, move, rename and manage members."

    @command(name="list")
    def list_(
        self,
        under: Annotated[
            str | None, typer.Option(help="Only this project and its subtree.")
        ] = None,
        as_json: JsonOption = False,
    ):
        """List projects in tree order, institutes first at each root."""
        projects = (
            Project.objects.with_tree_fields()
            .select_related("parent")
            .annotate(member_count=Count("memberships"))
        )
        if under:
            projects = projects.filter(
                pk__in=Project.objects.subtree(services.get_project(under)).values("pk")
            )
        rows = [project_row(p) for p in projects]
        if as_json:
            return emit_json(rows)
        emit_table(
            ["project", "name", "mode", "active", "members", "start", "end"],
            [
                (
                    "  " * (r["depth"] or 0) + r["pid"],
                    r["name"],
                    r["allocation_mode"],
                    "yes" if r["is_active"] else "no",
                    r["members"],
                    r["start_date"],
                    r["end_date"],
                )
                for r in rows
            ],
            numeric=["members"],
        )

    @command()
    @handles_errors
    def show(
        self, pid: Annotated[str, typer.Argument(help="Project id")], as_json: JsonOption = False
    ):
        """Show a project: its place in the tree, members, group, grants and pools."""
        project = services.get_project(pid)
        members = project.memberships.select_related("person", "project_level").order_by(
            "person__username"
        )
        data = project_row(project) | {
            "description": project.description,
            "institute": project.institute.pid,
            "ancestors": [a.pid for a in Project.objects.ancestors(project)],
            "children": list(project.children.order_by("pid").values_list("pid", flat=True)),
            "group": (
                {"name": project.group.name, "gid": project.group.gid} if project.group else None
            ),
            "members": [
                {
                    "username": m.person.username,
                    "name": m.person.get_full_name(),
                    "level": m.project_level.name if m.project_level else None,
                    "leader": m.is_leader,
                    "supervisor": m.is_supervisor,
                    "primary_contact": m.is_primary_contact,
                    "default_project": m.is_default_project,
                }
                for m in members
            ],
            "grants": [
                {
                    "id": g.pk,
                    "scheme": g.scheme.name,
                    "awarded": g.awarded,
                    "begins": g.begins,
                    "expires": g.expires,
                }
                for g in project.grants.select_related("scheme").order_by("begins", "pk")
            ],
            "pools": [s.as_dict() for s in project_pools(project)],
        }
        if as_json:
            return emit_json(data)
        path = " › ".join([*data["ancestors"], project.pid])
        say(f"[bold]{project.pid}[/bold] — {project.name}  ({path})")
        group = data["group"]
        say(
            f"mode {project.allocation_mode}; {'active' if project.is_active else 'inactive'}; "
            f"{project.start_date} to {project.end_date or 'open'}; "
            f"group {group['name'] + ' (' + str(group['gid']) + ')' if group else 'none'}"
        )
        if project.description:
            say(project.description)
        emit_table(
            ["member", "name", "level", "roles"],
            [
                (
                    m["username"],
                    m["name"],
                    m["level"],
                    ", ".join(
                        r
                        for r, on in (
                            ("leader", m["leader"]),
                            ("supervisor", m["supervisor"]),
                            ("primary contact", m["primary_contact"]),
                            ("default", m["default_project"]),
                        )
                        if on
                    ),
                )
                for m in data["members"]
            ],
            title="Members",
        )
        emit_table(
            ["grant", "scheme", "awarded", "begins", "expires"],
            [
                (g["id"], g["scheme"], g["awarded"], g["begins"], g["expires"])
                for g in data["grants"]
            ],
            title="Grants",
        )
        _pool_table(data["pools"])

    @command()
    @handles_errors
    def create(
        self,
        pid: Annotated[str, typer.Argument(help="The new project id")],
        name: Annotated[str, typer.Option(help="Full name")],
        parent: Annotated[
            str | None, typer.Option(help="Parent project id; omit to create an institute")
        ] = None,
        mode: Annotated[AllocationMode, typer.Option(help="Allocation mode")] = (
            AllocationMode.PRIVATE
        ),
        description: Annotated[str, typer.Option()] = "",
    ):
        """Create a project (or, without --parent, an institute) and its unix group."""
        project = services.create_project(
            pid,
            name,
            parent=services.get_project(parent) if parent else None,
            allocation_mode=mode.value,
            description=description,
        )
        say(f"Created project {project.pid} (group {project.group.name}, gid {project.group.gid}).")

    @command()
    @handles_errors
    def move(
        self,
        pid: Annotated[str, typer.Argument(help="Project to move")],
        parent: Annotated[str | None, typer.Option(help="New parent project id")] = None,
        root: Annotated[bool, typer.Option("--root", help="Make it an institute")] = False,
    ):
        """Move a project under another (or to the root with --root)."""
        if bool(parent) == root:
            fail("Give exactly one of --parent PID or --root.")
        project = services.get_project(pid)
        services.move_project(project, services.get_project(parent) if parent else None)
        say(f"Moved {pid} under {parent or 'the root (now an institute)'}.")

    @command(name="set-pid")
    @handles_errors
    def set_pid(
        self,
        pid: Annotated[str, typer.Argument(help="Current project id")],
        new_pid: Annotated[str, typer.Argument(help="New project id")],
    ):
        """Change a project's id (and its group's name, when it was derived from the id)."""
        project = services.set_pid(services.get_project(pid), new_pid)
        say(f"Project {pid} is now {project.pid}.")

    @command(name="add-member")
    @handles_errors
    def add_member(
        self,
        pid: Annotated[str, typer.Argument(help="Project id")],
        username: Annotated[str, typer.Argument(help="Person's username")],
        level: Annotated[str | None, typer.Option(help="Project level name")] = None,
        leader: bool = False,
        supervisor: bool = False,
        default: Annotated[bool, typer.Option("--default", help="Make it their default")] = False,
        primary_contact: bool = False,
    ):
        """Add a person to a project; the project's unix group follows."""
        services.add_member(
            services.get_project(pid),
            person_named(username),
            level=level_named(level or None),
            leader=leader,
            supervisor=supervisor,
            default=default,
            primary_contact=primary_contact,
        )
        say(f"Added {username} to {pid}.")

    @command(name="remove-member")
    @handles_errors
    def remove_member(
        self,
        pid: Annotated[str, typer.Argument(help="Project id")],
        username: Annotated[str, typer.Argument(help="Person's username")],
    ):
        """Remove a person from a project; the project's unix group follows."""
        services.remove_member(services.get_project(pid), person_named(username))
        say(f"Removed {username} from {pid}.")


def _pool_table(pools: list[dict]) -> None:
    from allotment.core.numbers import display

    emit_table(
        ["pool", "period", "allocated", "used", "remaining", "% used", "units"],
        [
            (
                p["pool"],
                p["period"],
                display(p["allocated"]),
                display(p["used"]),
                display(p["remaining"]),
                "—" if p["percent_used"] is None else f"{p['percent_used']:.1f}",
                p["units"],
            )
            for p in pools
        ],
        title="Allocation pools",
        numeric=["allocated", "used", "remaining", "% used"],
    )
