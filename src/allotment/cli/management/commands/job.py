"""allot job: submit, list, show, cancel and read the output of your own batch jobs.

The command acts as the person running it ($ALLOTMENT_ACTOR, else the login name, as the
audit log names them), and the job goes to Slurm as that person's account through
slurmrestd (allotment.jobs.services). A site administrator may act for someone with --as.
"""

import sys
from pathlib import Path
from typing import Annotated

import typer
from django_typer.management import command

from allotment.cli.output import (
    AllotCommand,
    JsonOption,
    cli_actor,
    emit_json,
    emit_object,
    emit_table,
    fail,
    handles_errors,
    say,
)
from allotment.jobs import output as job_output
from allotment.jobs import services
from allotment.jobs.models import Via

MachineOption = Annotated[
    str, typer.Option("--machine", help="Which machine (default: the one taking jobs).")
]
AsOption = Annotated[
    str | None,
    typer.Option("--as", help="Act as this person (site administrators only).", show_default=False),
]
JobId = Annotated[int, typer.Argument(min=1, help="The Slurm job id.")]


def _actor():
    actor, os_user = cli_actor()
    if actor is None:
        fail(f"You ({os_user}) are not a person in the ledger; set $ALLOTMENT_ACTOR to yours.")
    return actor


def _read_script(path: str) -> str:
    """The script's text: a file, or - for standard input; never more than the limit."""
    limit = services.MAX_SCRIPT_BYTES
    try:
        if path == "-":
            raw = sys.stdin.buffer.read(limit + 1)
        else:
            with open(Path(path), "rb") as f:
                raw = f.read(limit + 1)
    except OSError as e:
        fail(f"Cannot read the script {path}: {e.strerror or e}.")
    if len(raw) > limit:
        fail(f"The script {path} is larger than {limit} bytes.")
    try:
        return raw.decode()
    except UnicodeDecodeError:
        fail(f"The script {path} is not UTF-8 text.")


class Command(AllotCommand):
    help = "Your batch jobs: submit, list, show, cancel and output (run as you in Slurm)."

    @command()
    @handles_errors(services.JobRefused)
    def submit(
        self,
        script: Annotated[str, typer.Argument(help="The job script (a file, or - for stdin).")],
        project: Annotated[str, typer.Option("--project", help="The project charged.")],
        machine: MachineOption = "",
        cores: Annotated[int, typer.Option(min=1, max=services.MAX_CORES)] = 1,
        memory: Annotated[
            int, typer.Option(min=0, max=services.MAX_MEMORY_MB, help="MB per node (0: default).")
        ] = 0,
        time: Annotated[
            str, typer.Option("--time", help="Time limit: 90, 1h30m, 2d, 1:30:00.")
        ] = "1h",
        partition: Annotated[str, typer.Option(help="Slurm partition (default: Slurm's).")] = "",
        image: Annotated[str, typer.Option(help="VM image a burst job needs.")] = "",
        name: Annotated[str, typer.Option(help="The job's name.")] = "",
        as_username: AsOption = None,
        as_json: JsonOption = False,
    ):
        """Submit SCRIPT to Slurm as you, charged to --project."""
        ask = services.Ask(
            script=_read_script(script),
            project=project,
            machine=machine,
            cores=cores,
            memory_mb=memory,
            minutes=services.parse_minutes(time),
            partition=partition,
            image=image,
            name=name or (Path(script).name if script != "-" else ""),
        )
        row = services.submit(_actor(), ask, as_username, via=Via.CLI)
        if as_json:
            return emit_json(services.as_dict(row))
        say(f"Submitted job {row.job_id} on {row.machine.name} as {row.slurm_user}, "
            f"charged to {row.project.pid}.")  # fmt: skip

    @command(name="list")
    @handles_errors(services.JobRefused)
    def list_(
        self,
        machine: MachineOption = "",
        limit: Annotated[
            int, typer.Option(min=1, max=services.MAX_LIST, help="At most this many, newest first.")
        ] = services.DEFAULT_LIST,
        as_username: AsOption = None,
        as_json: JsonOption = False,
    ):
        """Your jobs submitted through Allotment, newest first, with Slurm's state."""
        rows = services.submissions(_actor(), as_username, machine, limit)
        if as_json:
            return emit_json([services.as_dict(r) for r in rows])
        emit_table(
            ["job", "machine", "project", "name", "partition", "cores", "state", "submitted"],
            [
                (
                    r.job_id,
                    r.machine.name,
                    r.project.pid,
                    r.name,
                    r.partition,
                    r.cores,
                    r.state,
                    r.submitted_at.isoformat(timespec="seconds"),
                )
                for r in rows
            ],
            numeric=["job", "cores"],
        )

    @command()
    @handles_errors(services.JobRefused)
    def show(
        self,
        job_id: JobId,
        machine: MachineOption = "",
        as_username: AsOption = None,
        as_json: JsonOption = False,
    ):
        """One of your jobs: what was asked, and what Slurm shows of it now."""
        row, view = services.show(_actor(), job_id, machine, as_username)
        data = services.as_dict(row, view)
        if as_json:
            return emit_json(data)
        slurm = data.pop("slurm", None)
        if slurm:
            data.update({f"slurm {k}": v for k, v in slurm.items()})
        emit_object(data, False)

    @command()
    @handles_errors(services.JobRefused)
    def cancel(self, job_id: JobId, machine: MachineOption = "", as_username: AsOption = None):
        """Cancel one of your jobs (Slurm checks it is yours, too)."""
        row = services.cancel(_actor(), job_id, machine, as_username)
        say(f"Cancelled job {row.job_id} on {row.machine.name}.")

    @command()
    @handles_errors(services.JobRefused)
    def output(
        self,
        job_id: JobId,
        tail: Annotated[
            int | None,
            typer.Option(min=1, max=job_output.MAX_LINES, help="Only the last N lines."),
        ] = None,
        machine: MachineOption = "",
        as_username: AsOption = None,
        as_json: JsonOption = False,
    ):
        """What one of your jobs printed (at most its last 64 KiB), when this host sees it."""
        found = services.output(_actor(), job_id, machine, as_username, tail)
        if as_json:
            return emit_json({"job_id": job_id, **found.as_dict()})
        if not found.shown:
            fail(found.note)
        if found.cut:
            print(f"(the end of {found.path}: {found.size} bytes in all)", file=sys.stderr)
        sys.stdout.write(found.text)
        sys.stdout.flush()
