"""allot vm: burst's worker VMs (burst.status reads; retiring through burst.services)."""

from typing import Annotated

import hostlist
import typer
from django_typer.management import command

from allotment.burst import services, status
from allotment.cli.output import (
    AllotCommand,
    JsonOption,
    emit_json,
    emit_record,
    emit_table,
    handles_errors,
    say,
)

# What `retire` does to a VM in each state (services.retire, then the burst.vm loop).
RETIRING = {
    "requested": "deleted before it boots",
    "booting": "deleted while it boots",
    "idle": "drained, then deleted (it runs no job)",
    "busy": "drained: takes no new job, deleted once its jobs end",
}
NOTHING = {
    "retiring": "already retiring",
    "deleting": "already being deleted",
    "deleted": "already deleted",
    "abandoned": "abandoned: deleted once its cloud answers again",
    "failed": "failed: retire does nothing (an operator's retry deletes it)",
}


def vm_table(rows: list[dict], title: str | None = None) -> None:
    emit_table(
        ["id", "vm", "state", "cloud", "batch", "flavor", "cores", "account", "requested",
         "ended"],
        [[r["id"], r["name"], r["state"] + (" (retire asked)" if r["retire_asked"]
                                             and r["state"] in RETIRING else ""),
          r["cloud"], r["batch"], r["flavor"], r["cores"], r["account"],
          f"{r['requested_at']:%Y-%m-%d %H:%M:%S}",
          f"{r['ended_at']:%Y-%m-%d %H:%M:%S}" if r["ended_at"] else None]
         for r in rows],
        title=title, numeric=["id", "cores"],
    )  # fmt: skip


def named(names: list[str]) -> list[str]:
    """Names, ranges (burst[1-3]) and ids, in the order given, each once."""
    out: list[str] = []
    for item in names:
        for name in hostlist.expand_hostlist(item) if "[" in item else [item]:
            if name not in out:
                out.append(name)
    return out


class Command(AllotCommand):
    help = "Burst VMs: list, show, retire."

    @command(name="list")
    @handles_errors
    def list_(
        self,
        cloud: Annotated[str | None, typer.Option(help="Only this cloud's")] = None,
        state: Annotated[str | None, typer.Option(help="Only VMs in this state")] = None,
        batch: Annotated[str | None, typer.Option(help="Only this batch machine's")] = None,
        project: Annotated[str | None, typer.Option(help="Only this project's (or account)")] = (
            None
        ),
        all_: Annotated[bool, typer.Option("--all", help="Ended VMs too")] = False,
        limit: Annotated[int, typer.Option(min=1, help="At most this many (up to 1000)")] = 200,
        as_json: JsonOption = False,
    ):
        """List VMs, newest first: the live ones, or all with --all."""
        rows = status.vm_rows(
            cloud=cloud, state=state, batch=batch, project=project,
            live_only=not all_ and state is None, limit=limit,
        )  # fmt: skip
        if as_json:
            return emit_json(rows)
        vm_table(rows)

    @command()
    @handles_errors
    def show(
        self,
        name_or_id: Annotated[str, typer.Argument(help="A VM's name (the live or latest) or id")],
        as_json: JsonOption = False,
    ):
        """Show a VM and its history (newest first)."""
        data = status.vm_detail(name_or_id)
        if as_json:
            return emit_json(data)
        emit_record({k: v for k, v in data.items() if k != "history"})
        emit_table(
            ["at", "from", "to", "event", "by", "reason"],
            [[f"{h['at']:%Y-%m-%d %H:%M:%S}", h["from"], h["to"], h["event"],
              h["by"] or h["via"], h["reason"]] for h in data["history"]],
            title="history",
        )  # fmt: skip
        return None

    @command()
    @handles_errors
    def retire(
        self,
        names: Annotated[list[str], typer.Argument(help="VM names (live ones), ranges or ids")],
        as_json: JsonOption = False,
    ):
        """Retire VMs: each is drained and deleted once its jobs end (the agent does it).
        All or none: an unknown name retires nothing."""
        vms = [status.get_vm(n) for n in named(names)]
        done = []
        for vm in vms:
            before = vm.state
            services.retire(vm)
            what = RETIRING.get(before) or NOTHING.get(before, f"{before}: nothing to do")
            done.append({"id": vm.pk, "name": vm.name, "state": before,
                         "retiring": before in RETIRING, "what": what})  # fmt: skip
        if as_json:
            return emit_json(done)
        for d in done:
            say(f"{d['name']} ({d['state']}): {d['what']}.")
        if any(d["retiring"] for d in done):
            say("The agent's burst.vm loop does it (allot vm list to follow).")
        return None
