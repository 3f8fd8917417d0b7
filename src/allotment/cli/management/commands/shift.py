"""allot shift: the shifts asked for, followed, retried and aborted."""

from typing import Annotated

import typer
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
from allotment.core import fsm
from allotment.core.numbers import is_digits
from allotment.inventory import services
from allotment.inventory.models import Shift
from allotment.inventory.views_data import shift_dict

from .node import shift_and_follow

LIST_LIMIT = 200


def get_shift(ident: int) -> Shift:
    shift = Shift.objects.select_related("to_service", "image", "created_by").filter(pk=ident)
    if not shift:
        fail(f"There is no shift {ident}.")
    return shift.get()


class Command(AllotCommand):
    help = "Shifts: list, show, watch, retry, abort."

    @command(name="list")
    @handles_errors
    def list_(
        self,
        open_only: Annotated[bool, typer.Option("--open", help="Only unfinished ones")] = False,
        as_json: JsonOption = False,
    ):
        """The newest shifts (at most 200)."""
        shifts = Shift.objects.select_related("to_service", "image", "created_by")
        if open_only:
            shifts = shifts.filter(finished_at__isnull=True)
        rows = [shift_dict(s, items=False) for s in shifts[:LIST_LIMIT]]
        if as_json:
            return emit_json(rows)
        emit_table(
            ["shift", "to", "image", "nodes", "done", "moving", "waiting", "failed", "by", "at",
             "finished"],
            [[r["id"], r["to_service"], r["image"], r["progress"]["total"], r["progress"]["done"],
              r["progress"]["moving"], r["progress"]["waiting"],
              r["progress"]["failed"] + r["progress"]["aborted"], r["created_by"] or r["via"],
              f"{r['created_at']:%Y-%m-%d %H:%M}",
              f"{r['finished_at']:%H:%M:%S}" if r["finished_at"] else ""] for r in rows],
            numeric=["shift", "nodes", "done", "moving", "waiting", "failed"],
        )  # fmt: skip

    @command()
    @handles_errors
    def show(
        self,
        ident: Annotated[int, typer.Argument(help="Shift number")],
        as_json: JsonOption = False,
    ):
        """A shift and each node's progress."""
        data = shift_dict(get_shift(ident))
        if as_json:
            return emit_json(data)
        say(f"shift {data['id']} → {data['to_service']} (image {data['image']}, drain timeout "
            f"{data['drain_timeout_seconds']} s{', force' if data['force'] else ''}, "
            f"{data['parallel']} at once){' aborted' if data['aborted'] else ''}"
            f"{' finished' if data['finished_at'] else ''}")  # fmt: skip
        emit_table(
            ["node", "from", "outcome", "state", "step", "detail"],
            [[n["node"], n["from"], n["outcome"], n["state"], n["step"],
              n["error"] or n["detail"]] for n in data["items"]],
        )  # fmt: skip

    @command()
    @handles_errors
    def watch(
        self,
        ident: Annotated[int, typer.Argument(help="Shift number")],
        as_json: JsonOption = False,
    ):
        """Follow a shift until every node is in service or failed; exit 1 if any failed."""
        shift_and_follow(get_shift(ident), True, as_json)

    @command()
    @handles_errors
    def retry(
        self,
        nodes: Annotated[str, typer.Argument(help="Failed nodes (names or a range)")],
        as_json: JsonOption = False,
    ):
        """Try a failed node's step again."""
        self._act(nodes, fsm.Action.RETRY, as_json)

    @command()
    @handles_errors
    def force(
        self,
        nodes: Annotated[str, typer.Argument(help="Failed nodes (names or a range)")],
        as_json: JsonOption = False,
    ):
        """Say a failed node's step was done by hand; the shift carries on."""
        self._act(nodes, fsm.Action.FORCE, as_json)

    @command()
    @handles_errors
    def abort(
        self,
        target: Annotated[str, typer.Argument(help="A shift number, or failed nodes")],
        as_json: JsonOption = False,
    ):
        """Abort a whole shift (by number), or failed nodes' part in theirs."""
        from allotment.cli.output import cli_actor

        if is_digits(target):
            shift = services.abort_shift(get_shift(int(target)), actor=cli_actor()[0], via="cli")
            if as_json:
                return emit_json(shift_dict(shift))
            return say(f"Shift {shift.pk} aborted; nodes on the move stop at their next stable "
                       "state, draining ones go back into service.")  # fmt: skip
        return self._act(target, fsm.Action.ABORT, as_json)

    def _act(self, names: str, action: fsm.Action, as_json: bool):
        from django.db import transaction

        from allotment.cli.output import cli_actor
        from allotment.inventory.views_data import node_dict

        with transaction.atomic():
            nodes = [
                services.operator_action(n, action, actor=cli_actor()[0], via="cli")
                for n in services.nodes_named(names)
            ]
        if as_json:
            return emit_json([node_dict(n) for n in nodes])
        return say(", ".join(f"{n.name}: {n.state}" for n in nodes))
