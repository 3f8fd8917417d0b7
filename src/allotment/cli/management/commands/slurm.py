"""allot slurm: keep Slurm clusters equal to the ledger."""

from datetime import datetime
from typing import Annotated

import typer
from django_typer.management import command
from typer._click.exceptions import BadOptionUsage

from allotment.cli.output import AllotCommand, JsonOption, emit_json, fail, handles_errors, say
from allotment.integrations.slurm.sacctmgr import SlurmError
from allotment.resources.models import Engine, Machine
from allotment.usage.ingest import ImportFailed
from allotment.usage.parsing.common import ParseError


def slurm_machine(name: str) -> Machine:
    machine = Machine.objects.filter(name=name).first()
    if machine is None:
        names = Machine.objects.filter(engine=Engine.SLURM).order_by("name")
        listed = ", ".join(names.values_list("name", flat=True)) or "none yet"
        fail(f'There is no machine "{name}"; the machines using Slurm are: {listed}.')
    if machine.engine != Engine.SLURM:
        fail(
            f'Machine "{name}" does not use Slurm (its engine is "{machine.engine}"); set its '
            'engine to slurm, with engine options {"cluster": ..., "slurm_conf": ...}.'
        )
    return machine


class Command(AllotCommand):
    help = "Slurm: reconcile with the ledger, pull usage, adopt an existing cluster."

    @command()
    @handles_errors(SlurmError)  # a Slurm command failed: its message, exit 1
    def sync(
        self,
        machine: Annotated[str, typer.Argument(help="A machine whose engine is slurm")],
        dry_run: Annotated[bool, typer.Option(help="Print the plan, change nothing")] = False,
        as_json: JsonOption = False,
    ):
        """Make the cluster's accounts, users and associations equal to the ledger."""
        from allotment.integrations.slurm import sync

        outcome = sync.sync(slurm_machine(machine), dry_run=dry_run)
        if as_json:
            emit_json(outcome.as_dict())
        else:
            plan = outcome.plan
            if plan.empty:
                say(f"Cluster {plan.cluster} already equals the ledger: nothing to do.")
            else:
                verb = "Would run" if dry_run else "Ran"
                say(f"{verb} {len(plan.all_commands())} sacctmgr command(s) on {plan.cluster}:")
                if plan.load:
                    say("  sacctmgr load of:")
                    for line in plan.load.splitlines():
                        say(f"    {line}")
                for c in plan.commands:
                    say(f"  sacctmgr {c}")
            for d in outcome.deferred:
                say(f"Deferred (jobs still run; retried next sync): {d['command']}")
        if outcome.failed:
            fail(*(f"sacctmgr {f['command']}: {f['reason']}" for f in outcome.failed))

    @command(name="pull-usage")
    @handles_errors(SlurmError, ParseError, ImportFailed)  # what and where, exit 1
    def pull_usage(
        self,
        machine: Annotated[str, typer.Argument(help="A machine whose engine is slurm")],
        since: Annotated[
            str | None, typer.Option(help="Start from this time (YYYY-MM-DDTHH:MM:SS) instead")
        ] = None,
        as_json: JsonOption = False,
    ):
        """Import finished jobs with `sacct --json` since the machine's watermark."""
        from allotment.integrations.slurm import usage

        if since is not None:
            try:
                datetime.fromisoformat(since)
            except ValueError:
                raise BadOptionUsage(
                    "--since", f"{since} is not a time (YYYY-MM-DDTHH:MM:SS, the machine's zone)"
                ) from None
        summary = usage.pull(slurm_machine(machine), since=since)
        if as_json:
            return emit_json(summary)
        say(", ".join(f"{k} {v}" for k, v in summary.items() if not isinstance(v, list | dict)))

    @command(name="import")
    @handles_errors(SlurmError)
    def import_(
        self,
        machine: Annotated[str, typer.Argument(help="A machine whose engine is slurm")],
        as_json: JsonOption = False,
    ):
        """Adopt the cluster's accounts, users and associations into the ledger."""
        from allotment.integrations.slurm.adopt import adopt

        made = adopt(slurm_machine(machine))
        if as_json:
            return emit_json(made)
        say("Adopted: " + ", ".join(f"{n} {kind}" for kind, n in made.items()) + ".")
