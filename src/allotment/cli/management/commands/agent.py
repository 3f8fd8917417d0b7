"""allot agent: run the registered reconcile loops, and show what the agents are doing."""

from typing import Annotated

import typer
from django_typer.management import command, initialize
from typer._click.exceptions import UsageError

from allotment.cli.output import AllotCommand, JsonOption, emit_json, emit_table, fail, say


def _intervals(every: list[str] | None) -> dict[str, float]:
    """--every slurm.sync=60 --every slurm.pull=120 as {loop: seconds}."""
    intervals = {}
    for item in every or []:
        name, _, seconds = item.partition("=")
        try:
            intervals[name.strip()] = float(seconds)
        except ValueError:
            raise UsageError(f'--every: give LOOP=SECONDS, not "{item}".') from None
        if intervals[name.strip()] <= 0:
            raise UsageError(f'--every: the interval of "{name}" must be positive.')
    return intervals


def _line(item: dict) -> str:
    return f"{item['loop']} {item['target']}: {'ok' if item['ok'] else item['error']}"


Once = Annotated[bool, typer.Option(help="One pass over every loop, then exit")]
Every = Annotated[
    list[str] | None,
    typer.Option(help="A loop's interval, LOOP=SECONDS (repeatable)", metavar="LOOP=S"),
]
Settle = Annotated[float | None, typer.Option(help="Seconds after a ledger change before a run")]
OnlyLoop = Annotated[list[str] | None, typer.Option(help="Run only this loop (repeatable)")]
Actor = Annotated[
    str | None, typer.Option(help="Person the audit log names for the agent's changes")
]
Tick = Annotated[float, typer.Option(help="Seconds between passes")]


class Command(AllotCommand):
    help = "The agent: run every app's reconcile loops (Slurm sync and usage pull, ...)."

    @initialize(invoke_without_command=True)
    def init(
        self,
        ctx: typer.Context,
        once_: Annotated[bool, typer.Option("--once", help="Same as run --once")] = False,
        every_: Annotated[list[str] | None, typer.Option("--every", hidden=True)] = None,
        settle_: Annotated[float | None, typer.Option("--settle", hidden=True)] = None,
        loop_: Annotated[list[str] | None, typer.Option("--loop", hidden=True)] = None,
        actor_: Annotated[str | None, typer.Option("--actor", hidden=True)] = None,
        tick_: Annotated[float, typer.Option("--tick", hidden=True)] = 5,
        json_: Annotated[bool, typer.Option("--json", hidden=True)] = False,
    ):
        """Run the registered reconcile loops, or show what the agents are doing.
        `allot agent [options]` alone is `allot agent run [options]`."""
        # (The group's parameters are named apart from run's: django-typer hands a group's
        # parameters on to its subcommand by name.)
        if ctx.invoked_subcommand is None:
            self.run(once_, every_, settle_, loop_, actor_, tick_, json_)

    @command()
    def run(
        self,
        once: Once = False,
        every: Every = None,
        settle: Settle = None,
        loop: OnlyLoop = None,
        actor: Actor = None,
        tick: Tick = 5,
        as_json: JsonOption = False,
    ):
        """Run the loops (Ctrl-C to stop; safe to kill at any moment). On SQLite a second
        agent refuses to start; on PostgreSQL any number share the work under leases."""
        from allotment.agent import leases, registry
        from allotment.agent.context import configured_actor
        from allotment.agent.runner import Agent

        intervals = _intervals(every)
        try:
            leases.single_agent_lock()  # held until the process ends
            loops = [registry.get(name) for name in loop] if loop else None
            agent = Agent(loops, intervals=intervals, settle=settle, actor=configured_actor(actor))
        except (leases.AnotherAgent, LookupError) as e:
            fail(str(e))
        if once:
            done = agent.run_once()
            if as_json:
                return emit_json(done)
            for item in done:
                say(_line(item))
            return
        agent.run_forever(interval=tick, report=lambda item: say(_line(item)))

    @command()
    def status(
        self,
        loop: Annotated[str | None, typer.Option(help="Only this loop")] = None,
        as_json: JsonOption = False,
    ):
        """Every loop and target (last run, last success, error, lease, next due), and the
        live agents."""
        from allotment.agent.status import snapshot

        data = snapshot(loop=loop)
        if as_json:
            return emit_json(data)
        emit_table(
            ["loop", "target", "ok", "last run", "last success", "next due", "lease", "error"],
            [
                (
                    u["loop"],
                    u["target"],
                    "yes" if u["healthy"] else "no",
                    _short(u["last_started"]),
                    _short(u["last_ok"]),
                    _short(u["next_due"]) or "now",
                    f"{u['lease_holder']} until {_short(u['lease_expires'])}"
                    if u["lease_holder"]
                    else "",
                    u["last_error"][:80],
                )
                for u in data["units"]
            ],
            title="Loops",
        )
        emit_table(
            ["agent", "host", "pid", "started", "last seen", "loops"],
            [
                (
                    a["identity"],
                    a["host"],
                    a["pid"],
                    _short(a["started"]),
                    _short(a["last_seen"]),
                    ", ".join(a["loops"]),
                )
                for a in data["agents"]
            ],
            title="Live agents",
        )


def _short(iso: str | None) -> str:
    return iso[:19].replace("T", " ") if iso else ""
