"""allot burst: what burst decided last, per bursting batch machine: its demand against
the supply per cloud and per project, quotas, health and refusals (burst.status)."""

from typing import Annotated

import typer
from django_typer.management import command

from allotment.burst import status
from allotment.cli.management.commands.cloud import room, states_cell
from allotment.cli.output import (
    AllotCommand,
    JsonOption,
    emit_json,
    emit_table,
    fail,
    handles_errors,
    say,
)
from allotment.core.numbers import display
from allotment.resources.models import Machine


def _amount(value) -> str | None:
    return None if value is None else display(value)


def show_batch(b: dict) -> None:
    cycle = b["last_cycle"]
    if cycle is None:
        say(f"[bold]{b['batch']}[/bold] (partitions {', '.join(b['partitions'])}): "
            "no decision yet (is the agent's burst.decide loop running?)")  # fmt: skip
    else:
        say(f"[bold]{b['batch']}[/bold] (partitions {', '.join(b['partitions'])}): decided "
            f"{cycle['at']:%Y-%m-%d %H:%M:%S} in {cycle['seconds']:.3f} s: "
            f"{cycle['idle_jobs']} idle job(s) in {cycle['groups']} group(s), "
            f"{cycle['running_jobs']} running; {cycle['shortfall_vms']} VM(s) short, "
            f"{cycle['boots']} booted.")  # fmt: skip
    emit_table(
        ["cloud", "health", "VMs", "supply", "boots", "free inst", "free cores", "free MB",
         "slots"],
        [[c["name"],
          (c["health"] if c["enabled"] else "disabled")
          + (f": {c['health_reason']}" if c["health_reason"] else ""),
          states_cell(c["live"]), c["supply"], c["boots"],
          room(c["free"]["instances"], c["quota"]["limits"]["instances"]),
          room(c["free"]["cores"], c["quota"]["limits"]["cores"]),
          room(c["free"]["ram_mb"], c["quota"]["limits"]["ram_mb"]),
          c["free"]["starting_slots"]]
         for c in b["clouds"]],
        title="supply per cloud (free/quota; slots: VMs that may start now)",
        numeric=["supply", "boots", "slots"],
    )  # fmt: skip
    if b["projects"]:
        emit_table(
            ["account", "idle jobs", "live VMs", "VM h used", "VM h allocated", "remaining"],
            [[p["account"], p["idle_jobs"], p["live_vms"], _amount(p["vm_hours_used"]),
              _amount(p["vm_hours_allocated"]), _amount(p["remaining"])]
             for p in b["projects"]],
            title="demand per project",
            numeric=["idle jobs", "live VMs", "VM h used", "VM h allocated", "remaining"],
        )  # fmt: skip
    refusals = (cycle or {}).get("refusals") or {}
    if refusals:
        emit_table(
            ["refused because", "VMs"],
            sorted(refusals.items(), key=lambda r: (-r[1], r[0])),
            title="refusals",
            numeric=["VMs"],
        )


class Command(AllotCommand):
    help = "Burst: status, decide."

    @command()
    @handles_errors
    def status(
        self,
        batch: Annotated[str | None, typer.Argument(help="Only this batch machine")] = None,
        as_json: JsonOption = False,
    ):
        """The last decision per bursting batch machine: demand, supply per cloud and per
        project, quotas, health, refusals."""
        data = status.burst_status(batch)
        if as_json:
            return emit_json(data)
        if not data["batches"]:
            say("No batch machine bursts: add a cloud that serves one (allot cloud add).")
        for b in data["batches"]:
            show_batch(b)
        return None

    @command()
    @handles_errors
    def decide(
        self,
        batch: Annotated[str | None, typer.Argument(help="Only this batch machine")] = None,
        as_json: JsonOption = False,
    ):
        """Take one decision now, as the agent's burst.decide loop does: read the queue,
        decide, record the VMs to boot (the burst.vm loop boots them)."""
        from allotment.burst import services
        from allotment.burst.engines import EngineError

        machines = [
            Machine.objects.get(name=b["batch"]) for b in status.burst_status(batch)["batches"]
        ]
        done = []
        for machine in machines:
            try:
                cycle = services.run_cycle(machine)
            except EngineError as e:
                fail(f"{machine.name}: its queue did not answer: {e}")
            done.append({"batch": machine.name, "idle_jobs": cycle.idle_jobs,
                         "groups": cycle.groups, "boots": cycle.boots,
                         "refusals": cycle.report.get("refusals", {})})  # fmt: skip
        if as_json:
            return emit_json(done)
        for d in done:
            refused = sum(d["refusals"].values())
            say(f"{d['batch']}: {d['idle_jobs']} idle job(s) in {d['groups']} group(s); "
                f"{d['boots']} VM(s) to boot, {refused} refused.")  # fmt: skip
        return None
