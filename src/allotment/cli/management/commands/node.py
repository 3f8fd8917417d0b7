"""allot node: the bare-metal inventory, and shifting nodes between services."""

from datetime import timedelta
from typing import Annotated

import typer
from django_typer.management import command

from allotment.cli.options import DURATION
from allotment.cli.output import (
    AllotCommand,
    JsonOption,
    changes_given,
    emit_json,
    emit_object,
    emit_table,
    fail,
    handles_errors,
    say,
)
from allotment.core.validation import get_named
from allotment.inventory import services
from allotment.inventory.models import Node, Provisioner
from allotment.inventory.queries import with_tag
from allotment.inventory.views_data import history_dicts, node_dict, shift_dict
from allotment.resources.models import Machine

Nodes = Annotated[str, typer.Argument(help="Node names or ranges: node4, n[001-016],cnode1")]
LIST_LIMIT = 10_000


def shift_and_follow(shift, wait: bool, as_json: bool) -> None:
    """Print what was asked; with --wait, follow it with a progress bar; exit 1 if any
    node failed. Shared by `node shift` and `shift watch`."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from allotment.inventory.following import follow, shift_agents

    if not wait:
        if as_json:
            return emit_json(shift_dict(shift))
        say(f"Shift {shift.pk}: {shift.items.count()} node(s) to {shift.to_service}; "
            f"the agent does the work (allot shift watch {shift.pk}).")  # fmt: skip
        if not shift_agents():
            say("No agent runs the shift loop: start one with `allot agent run`.")
        return None
    if not shift_agents():
        fail(f"Shift {shift.pk} is recorded, but no agent runs the shift loop to do it: "
             f"start `allot agent run`, then `allot shift watch {shift.pk}`.")  # fmt: skip
    total = shift.items.count()
    if as_json:
        last = follow(shift, lambda p: None)
    else:
        with Progress(
            TextColumn(f"shift {shift.pk} → {shift.to_service}"), BarColumn(),
            MofNCompleteColumn(), TextColumn("{task.description}"),
        ) as bar:  # fmt: skip
            task = bar.add_task("", total=total)

            def show(p: dict) -> None:
                stuck = f", failed: {', '.join(p['stuck'])}" if p["stuck"] else ""
                done = p["done"] + p["aborted"] + len(p["stuck"])
                text = f"{p['moving']} moving, {p['waiting']} waiting{stuck}"
                bar.update(task, completed=done, description=text)

            last = follow(shift, show)
    shift.refresh_from_db()
    if as_json:
        emit_json(shift_dict(shift))
    failed = last["stuck"] or last["failed"]
    if failed:
        fail(f"Shift {shift.pk}: {len(failed)} node(s) failed: "
             + ", ".join(failed) + f" (allot shift show {shift.pk})")  # fmt: skip
    if not as_json:
        say(f"Shift {shift.pk}: {last['done']} node(s) in service in {shift.to_service}"
            + (f", {last['aborted']} aborted" if last["aborted"] else "") + ".")  # fmt: skip
    return None


class Command(AllotCommand):
    help = "Bare-metal nodes: list, show, import, set, shift."

    @command(name="list")
    @handles_errors
    def list_(
        self,
        names: Annotated[str | None, typer.Argument(help="Only these (a range)")] = None,
        state: Annotated[str | None, typer.Option(help="Only nodes in this state")] = None,
        service: Annotated[str | None, typer.Option(help="Only nodes in this service")] = None,
        rack: Annotated[str | None, typer.Option(help="Only this rack's")] = None,
        tag: Annotated[str | None, typer.Option(help="Only nodes with this tag")] = None,
        as_json: JsonOption = False,
    ):
        """List nodes (at most 10,000; narrow with a range or filters)."""
        nodes = Node.objects.select_related("service", "destination", "provisioner", "image")
        if names:
            nodes = nodes.filter(name__in=services.expand(names))
        if state:
            nodes = nodes.filter(state=state)
        if service:
            nodes = nodes.filter(service=get_named(Machine.objects, "machine", service))
        if rack:
            nodes = nodes.filter(rack=rack)
        if tag:
            nodes = with_tag(nodes, tag)
        rows = [node_dict(n) for n in nodes[:LIST_LIMIT]]
        if as_json:
            return emit_json(rows)
        emit_table(
            ["node", "state", "service", "→", "rack", "cpus", "mem MB", "gpus", "flags"],
            [[r["name"], r["state"], r["service"], r["destination"], r["rack"], r["cpus"],
              r["memory_mb"], r["gpus"],
              " ".join(f for f, on in (("protected", r["protected"]),
                                       ("maintenance", r["maintenance"])) if on)]
             for r in rows],
            numeric=["cpus", "mem MB", "gpus"],
        )  # fmt: skip

    @command()
    @handles_errors
    def show(
        self, name: Annotated[str, typer.Argument(help="Node name")], as_json: JsonOption = False
    ):
        """Show a node and its history (newest first)."""
        node = get_named(Node.objects, "node", name)
        data = node_dict(node) | {"history": history_dicts(node)}
        if as_json:
            return emit_json(data)
        emit_object(node_dict(node), False)
        emit_table(
            ["at", "from", "to", "event", "by", "reason"],
            [[f"{h['at']:%Y-%m-%d %H:%M:%S}", h["from"], h["to"], h["event"],
              h["by"] or h["via"], h["reason"]] for h in data["history"]],
            title="history",
        )  # fmt: skip

    @command(name="import")
    @handles_errors
    def import_(
        self,
        path: Annotated[str, typer.Argument(help="A CSV (header row) or YAML file of nodes")],
        as_json: JsonOption = False,
    ):
        """Add or update nodes from a file; all or nothing (errors name file:line)."""
        result = services.import_nodes(path)
        data = {"created": result.created, "updated": result.updated, "adopted": result.adopted}
        if as_json:
            return emit_json(data)
        adopted = f", {len(result.adopted)} recorded in service" if result.adopted else ""
        say(f"Imported {path}: {len(result.created)} created, "
            f"{len(result.updated)} updated{adopted}.")  # fmt: skip

    @command(name="set")
    @handles_errors
    def set_(
        self,
        names: Nodes,
        site: Annotated[str | None, typer.Option()] = None,
        rack: Annotated[str | None, typer.Option()] = None,
        rack_unit: Annotated[int | None, typer.Option(min=0)] = None,
        bmc_address: Annotated[str | None, typer.Option()] = None,
        bmc_driver: Annotated[str | None, typer.Option()] = None,
        cpus: Annotated[int | None, typer.Option(min=0)] = None,
        memory_mb: Annotated[int | None, typer.Option(min=0)] = None,
        gpus: Annotated[int | None, typer.Option(min=0)] = None,
        tags: Annotated[str | None, typer.Option(help="Comma-separated; replaces them")] = None,
        protected: Annotated[
            bool | None, typer.Option("--protected/--no-protected", help="Never shift it")
        ] = None,
        maintenance: Annotated[
            str | None, typer.Option(help="Put it in maintenance with this reason")
        ] = None,
        no_maintenance: Annotated[
            bool, typer.Option("--no-maintenance", help="Take it out of maintenance")
        ] = False,
        provisioner: Annotated[str | None, typer.Option(help="Provisioner name")] = None,
        as_json: JsonOption = False,
    ):
        """Change nodes: only the options given, on every node named (all or none)."""
        if maintenance is not None and no_maintenance:
            fail("Give --maintenance REASON or --no-maintenance, not both.")
        changes = changes_given(
            site=site, rack=rack, rack_unit=rack_unit, bmc_address=bmc_address,
            bmc_driver=bmc_driver, cpus=cpus, memory_mb=memory_mb, gpus=gpus,
            tags=[t.strip() for t in tags.split(",") if t.strip()] if tags is not None else None,
            protected=protected,
            maintenance=True if maintenance is not None else (False if no_maintenance else None),
            maintenance_reason=maintenance,
            provisioner=get_named(Provisioner.objects, "provisioner", provisioner)
            if provisioner else None,
        )  # fmt: skip
        nodes = services.set_nodes(services.nodes_named(names), changes)
        if as_json:
            return emit_json([node_dict(n) for n in nodes])
        say(f"Changed {services.collapse(n.name for n in nodes)}.")

    @command()
    @handles_errors
    def shift(
        self,
        names: Nodes,
        to: Annotated[str, typer.Option("--to", help="The service (machine) to move them into")],
        image: Annotated[
            str | None, typer.Option(help="Image to deploy; default: the service's")
        ] = None,
        drain_timeout: Annotated[
            timedelta,
            typer.Option(click_type=DURATION, help="Wait this long for work to end (2h, 90m)"),
        ] = "2h",
        force: Annotated[
            bool, typer.Option(help="After the timeout, requeue (else cancel) jobs")
        ] = False,
        parallel: Annotated[int, typer.Option(help="Nodes moving at once")] = 10,
        wait: Annotated[
            bool, typer.Option(help="Follow it until every node is in or failed")
        ] = False,
        as_json: JsonOption = False,
    ):
        """Move nodes into a service; the agent does the work (drain, deploy, join)."""
        from allotment.cli.output import cli_actor

        service = get_named(Machine.objects, "machine", to)
        shift = services.request_shift(
            services.nodes_named(names), service, image=image, drain_timeout=drain_timeout,
            force=force, parallel=parallel, actor=cli_actor()[0], via="cli",
        )  # fmt: skip
        shift_and_follow(shift, wait, as_json)
