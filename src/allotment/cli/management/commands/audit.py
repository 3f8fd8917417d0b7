"""allot audit: the site-wide audit log."""

from datetime import datetime
from typing import Annotated

import typer
from django_typer.management import command

from allotment.audit import services
from allotment.cli.output import (
    AllotCommand,
    JsonOption,
    emit_json,
    emit_table,
    fail,
    handles_errors,
)


class Command(AllotCommand):
    help = "The audit log: who changed what, when."

    @command(name="list")
    @handles_errors
    def list_(
        self,
        model: Annotated[str | None, typer.Option(help="app.model, e.g. projects.project")] = None,
        object_pk: Annotated[str | None, typer.Option("--object", help="Object's key")] = None,
        actor: Annotated[str | None, typer.Option(help="Username of who acted")] = None,
        since: Annotated[
            datetime | None, typer.Option(help="ISO date or time", formats=None)
        ] = None,
        limit: Annotated[int, typer.Option(help="At most this many, newest first")] = 50,
        as_json: JsonOption = False,
    ):
        """List audit log entries, newest first."""
        rows = [
            services.as_dict(e)
            for e in services.entries(model=model, object_pk=object_pk, actor=actor, since=since)[
                :limit
            ]
        ]
        if as_json:
            return emit_json(rows)
        emit_table(
            ["when", "action", "model", "object", "by", "changes"],
            [
                (
                    r["timestamp"][:19].replace("T", " "),
                    r["action"],
                    r["model"],
                    r["object"],
                    r["actor"] or (r["additional_data"] or {}).get("via", ""),
                    "; ".join(
                        f"{field}: {old} → {new}" for field, (old, new) in r["changes"].items()
                    )[:120],
                )
                for r in rows
            ],
        )

    @command()
    @handles_errors
    def show(
        self,
        entry_id: Annotated[int, typer.Argument(help="Audit log entry id")],
        as_json: JsonOption = False,
    ):
        """Show one entry with every field it changed."""
        entry = services.entries().filter(pk=entry_id).first()
        if entry is None:
            fail(f"There is no audit log entry {entry_id}.")
        data = services.as_dict(entry)
        if as_json:
            return emit_json(data)
        emit_table(
            ["field", "before", "after"],
            [(field, old, new) for field, (old, new) in data["changes"].items()],
            title=f"{data['action']} {data['model']} {data['object']} at {data['timestamp']} "
            f"by {data['actor'] or (data['additional_data'] or {}).get('via', 'unknown')}",
        )
