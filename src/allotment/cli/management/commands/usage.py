"""allot usage: import usage records, report on them, retry the quarantine."""

import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from django_typer.management import command
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
from typer._click.exceptions import BadOptionUsage

from allotment.cli.options import day_option
from allotment.cli.output import (
    AllotCommand,
    JsonOption,
    cli_actor,
    emit_json,
    emit_table,
    fail,
    handles_errors,
    say,
)
from allotment.core.numbers import display
from allotment.usage import ingest, reports
from allotment.usage.parsing.common import ParseError


class Format(StrEnum):
    sacct = "sacct"
    sacct_json = "sacct-json"
    swf = "swf"
    condor = "condor"
    csv = "csv"
    json = "json"
    storage_csv = "storage-csv"


class By(StrEnum):
    day = "day"
    month = "month"
    quarter = "quarter"
    year = "year"


class GroupBy(StrEnum):
    project = "project"
    charged_project = "charged-project"
    person = "person"
    institute = "institute"
    machine = "machine"
    career_level = "career-level"
    project_level = "project-level"
    charge = "charge"


SUMMARY_KEYS = ingest.COUNTS


class Command(AllotCommand):
    help = "Usage: import job and storage records, report on them, retry the quarantine."

    @command(name="import")
    @handles_errors
    def import_(
        self,
        files: Annotated[list[Path], typer.Argument(help="Files to import (.gz is read too)")],
        format: Annotated[Format, typer.Option("--format", help="What the files hold")],
        machine: Annotated[
            str | None, typer.Option(help="The machine the records come from")
        ] = None,
        create_missing: Annotated[
            bool, typer.Option(help="Create unknown people and projects (and the machine)")
        ] = False,
        institute: Annotated[
            str | None, typer.Option(help="Institute new projects are created under")
        ] = None,
        strict: Annotated[bool, typer.Option(help="Fail on unknown names instead")] = False,
        as_json: JsonOption = False,
    ):
        """Import usage records: each file atomically; unknown names go to the quarantine."""
        for path in files:
            if not path.is_file():
                fail(f"{path}: no such file.")
        options = ingest.Options(
            format=format.value, machine=machine, create_missing=create_missing,
            institute=institute, strict=strict,
        )  # fmt: skip
        total = sum(p.stat().st_size for p in files)
        console = Console(stderr=True)
        actor, _ = cli_actor()
        with Progress(
            "[progress.description]{task.description}", BarColumn(), DownloadColumn(),
            TimeRemainingColumn(), console=console, transient=True,
            disable=as_json or not console.is_terminal,
        ) as progress:  # fmt: skip
            task = progress.add_task("importing", total=total)
            try:
                summary = ingest.import_files(
                    files, options, progress=lambda n: progress.advance(task, n), actor=actor
                )
            except ParseError as e:
                fail(str(e), "Nothing of that file was imported.")
            except ingest.UnknownMachine as e:  # a mistyped option: bad usage, exit 2
                raise BadOptionUsage("--machine", str(e)) from None
            except ingest.ImportFailed as e:
                fail(str(e), "Nothing of that file was imported.")
        data = summary.as_dict()
        if as_json:
            return emit_json(data)
        emit_table(
            list(SUMMARY_KEYS),
            [[data[k] for k in SUMMARY_KEYS]],
            title=f"Imported {len(files)} file(s)",
            numeric=SUMMARY_KEYS,
        )
        if summary.created:
            from collections import Counter

            kinds = Counter(item.split(" ", 1)[0] for item in summary.created)
            say("Created " + ", ".join(f"{n} {kind}" + ("" if n == 1 else "s")
                                        for kind, n in kinds.items()) + ".")  # fmt: skip
        if summary.quarantined:
            say("Quarantined records wait for what they name: `allot usage quarantine` lists "
                "them, `allot usage requeue` retries them.")  # fmt: skip

    @command()
    @handles_errors
    def report(
        self,
        project: Annotated[str | None, typer.Option(help="Only this project's usage")] = None,
        subtree: Annotated[bool, typer.Option(help="With --project: its subtree too")] = False,
        machine: Annotated[str | None, typer.Option(help="Only this machine")] = None,
        pool: Annotated[str | None, typer.Option(help="Resource pool (default: CPU)")] = None,
        date_from: Annotated[date | None, day_option("--from", help="First day")] = None,
        date_to: Annotated[date | None, day_option("--to", help="Last day")] = None,
        by: Annotated[By, typer.Option(help="Period")] = By.month,
        group_by: Annotated[GroupBy | None, typer.Option(help="Group rows by")] = None,
        as_json: JsonOption = False,
        as_csv: Annotated[bool, typer.Option("--csv")] = False,
    ):
        """Usage per period: jobs, raw and used (scaled), in the pool's units."""
        rows = reports.report(
            project=project, subtree=subtree, machine=machine, pool=pool,
            date_from=date_from, date_to=date_to,
            by=by.value, group_by=group_by.value if group_by else None,
        )  # fmt: skip
        key = reports.GROUPS[group_by.value][3] if group_by else None
        columns = ["period", *([key] if key else []), "jobs", "raw", "used"]
        if as_json:
            return emit_json(rows)
        if as_csv:
            import csv

            writer = csv.writer(sys.stdout)
            writer.writerow(columns)
            for r in rows:
                writer.writerow([r.get(c) for c in columns])
            return
        emit_table(
            columns,
            [[display(r[c]) if c in ("raw", "used") else r.get(c) for c in columns] for r in rows],
            numeric=["jobs", "raw", "used"],
        )

    @command()
    @handles_errors
    def requeue(self, as_json: JsonOption = False):
        """Retry quarantined records now that what they name may exist."""
        summary = ingest.requeue()
        if as_json:
            return emit_json(summary.as_dict())
        data = summary.as_dict()
        imported = data["new"] + data["updated"] + data["unchanged"]
        say(f"Retried {data['read']}: imported {imported}, still waiting {data['quarantined']}.")

    @command()
    @handles_errors
    def rebuild(
        self,
        date_from: Annotated[date, day_option("--from", help="First day")],
        date_to: Annotated[date, day_option("--to", help="Last day")],
    ):
        """Aggregate the days again from the raw records (after changing a scaling factor)."""
        from allotment.usage import rebuild

        days = rebuild.rebuild_days(date_from, date_to)
        say(f"Rebuilt {days} days of usage from the raw records.")

    @command()
    @handles_errors
    def quarantine(self, as_json: JsonOption = False):
        """List the records kept aside, with why."""
        rows = ingest.quarantine_rows()
        if as_json:
            return emit_json(rows)
        emit_table(
            ["kind", "machine", "key", "reason", "detail", "source"],
            [
                [r["kind"], r["machine"], r["key"], r["reason"], r["detail"], r["source"]]
                for r in rows
            ],
        )
