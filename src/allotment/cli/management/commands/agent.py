"""allot agent: keep every engine equal to the ledger, in a loop."""

from typing import Annotated

import typer
from django_typer.management import command

from allotment.agent.loops import Agent
from allotment.cli.output import AllotCommand, JsonOption, emit_json, say


class Command(AllotCommand):
    help = "The agent: sync engines and pull usage, periodically and soon after a change."

    @command()
    def run(
        self,
        once: Annotated[bool, typer.Option(help="One pass over every machine, then exit")] = False,
        sync_every: Annotated[float, typer.Option(help="Seconds between syncs")] = 900,
        pull_every: Annotated[float, typer.Option(help="Seconds between usage pulls")] = 300,
        settle: Annotated[float, typer.Option(help="Seconds after a change before a sync")] = 10,
        as_json: JsonOption = False,
    ):
        """Run the loops (Ctrl-C to stop; safe to kill at any moment)."""
        agent = Agent(sync_every=sync_every, pull_every=pull_every, settle=settle)
        if once:
            done = agent.tick()
            if as_json:
                return emit_json(done)
            for item in done:
                say(f"{item['machine']}: {item['step']} {'ok' if item['ok'] else item['error']}")
            return
        agent.run_forever(
            report=lambda item: say(
                f"{item['machine']}: {item['step']} {'ok' if item['ok'] else item['error']}"
            )
        )
