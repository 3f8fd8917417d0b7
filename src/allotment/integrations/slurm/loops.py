"""The Slurm integration's reconcile loops, run by `allot agent`.

- slurm.sync: associations and limits equal to the ledger, on every machine Slurm runs;
  every 15 minutes, and 10 s after the ledger last changed (a new member, a new grant).
- slurm.pull: finished jobs since the watermark into usage, every 5 minutes.

Both talk to Slurm, so they are at-least-once (not `atomic`): both are idempotent (a sync
applies only the difference it observes; a pull re-reads from its watermark and job rows
are keyed by (machine, job id)).
"""

from allotment.agent.registry import Loop
from allotment.resources.models import Engine, Machine


def slurm_machines() -> list[Machine]:
    return list(Machine.objects.filter(engine=Engine.SLURM).order_by("name"))


def machine_name(machine: Machine) -> str:
    return machine.name


def sync_machine(machine: Machine) -> dict:
    from .sync import sync

    return sync(machine).as_dict()


def pull_usage(machine: Machine) -> dict:
    from .usage import pull

    return pull(machine)


SYNC = Loop(
    name="slurm.sync",
    interval=900,
    targets=slurm_machines,
    key=machine_name,
    step=sync_machine,
    on_ledger_change=True,
    settle=10,
    lease=300,
    target_kind="machine",
)
PULL = Loop(
    name="slurm.pull",
    interval=300,
    targets=slurm_machines,
    key=machine_name,
    step=pull_usage,
    lease=300,
    target_kind="machine",
)
