"""allot burst: what burst decided last, per bursting batch machine: its demand against
the supply per cloud and per project, quotas, health and refusals (burst.status)."""

from pathlib import Path
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
            f"{cycle['running_jobs']} running; {cycle['shortfall_vms']} VM(s) wanted, "
            f"{cycle['boots']} booted, {cycle['still_short_vms']} still short.")  # fmt: skip
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


def show_simulation(s: dict) -> None:
    vms = s["vms_per_day"]
    say(f"[bold]{s['trace']}[/bold] {s['from'][:16]} to {s['to'][:16]}: {s['jobs']} job(s), "
        f"{s['jobs_run']} run, {s['jobs_fit_nowhere']} fit no flavor, "
        f"{s['jobs_never_run']} never ran; replayed in {s['seconds']} s.")  # fmt: skip
    say(f"VMs booted: {s['vms_booted']} ({vms['mean']} a day over {vms['full_days']} full "
        f"day(s), at most {vms['max']}); waits: mean {s['wait_mean_s']} s, 95th percentile "
        f"{s['wait_p95_s']} s; utilisation {s['utilisation']:.1%}; "
        f"cost {s['cost']['total']}.")  # fmt: skip
    emit_table(
        ["cloud", "VMs booted", "VM hours", "cost", "peak VMs", "peak cores", "peak starting"],
        [[c, s["vms_booted_by_cloud"].get(c, 0), s["vm_hours_by_cloud"].get(c, 0),
          s["cost"]["by_cloud"].get(c, 0), p.get("instances", 0), p.get("cores", 0),
          p.get("starting", 0)]
         for c, p in s["peaks"].items()],
        title="per cloud",
        numeric=["VMs booted", "VM hours", "cost", "peak VMs", "peak cores", "peak starting"],
    )  # fmt: skip
    if s["refusals"]:
        emit_table(
            ["refused because", "VM-cycles"],
            sorted(s["refusals"].items(), key=lambda r: (-r[1], r[0])),
            title="refusals (VMs not booted, summed over the decisions)",
            numeric=["VM-cycles"],
        )


class Command(AllotCommand):
    help = "Burst: status, decide, simulate."

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

    @command()
    def simulate(
        self,
        trace: Annotated[Path, typer.Option("--trace", help="An SWF trace (.swf or .swf.gz)")],
        clouds: Annotated[Path, typer.Option("--clouds", help="The clouds (examples/clouds.yaml)")],
        start: Annotated[str | None, typer.Option("--from", help="Jobs submitted from (ISO time in "
                                                  "the trace's zone, or epoch)")] = None,
        end: Annotated[str | None, typer.Option("--to", help="... until, excluded")] = None,
        speedup: Annotated[float, typer.Option(help="Arrivals K times closer (the load "
                                               "scaled up); run times unchanged")] = 1.0,
        plot: Annotated[Path | None, typer.Option(help="Write a plot of demand, VMs and "
                                                  "waits over time (.svg, or .png)")] = None,
        store: Annotated[bool, typer.Option("--store", help="Save the run for the page")] = False,
        as_json: JsonOption = False,
    ):  # fmt: skip
        """Replay a real trace in virtual time through the agent's own decision and VM
        rules: VMs booted per day, waits, utilisation, VM hours and cost per cloud and per
        project, refusals. Needs no database but with --store (its runs are not audited)."""
        from allotment.burst import simulation as sim
        from allotment.usage.parsing.common import ParseError

        if speedup <= 0:
            fail(f"--speedup: expected a number > 0, got {speedup}")
        if not trace.is_file():
            fail(f"--trace: {trace}: no such file")
        try:
            result = sim.simulate(trace, clouds, start, end, speedup)
            if plot is not None:
                sim.write_plot(result, plot, f"{trace.name} on {clouds.name}")
        except (sim.ConfigError, ParseError, ValueError) as e:
            fail(str(e))
        summary = result.summary
        if speedup != 1:
            summary["speedup"] = speedup
        if store:
            summary["run_id"] = sim.store(
                result, str(trace), str(clouds),
                {"from": start, "to": end, "speedup": speedup},
            )  # fmt: skip
        if as_json:
            return emit_json(summary)
        show_simulation(summary)
        if plot is not None:
            say(f"Plot: {plot}")
        if store:
            say(f"Stored as run {summary['run_id']}.")
        return None
