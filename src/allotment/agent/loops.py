"""The agent: reconcile loops that keep engines equal to the ledger.

Each tick looks at every machine run by an engine and runs what is due: a Slurm sync every
`sync_every` seconds, and `settle` seconds after the ledger last changed (any new audit-log
entry: every change to the ledger lands there), and a usage pull every `pull_every`
seconds. Every step is idempotent and reads its state from the ledger and the engine, so
killing the agent at any moment and starting it again loses nothing: a fresh agent simply
finds everything due. One machine failing does not stop the others; its error is kept
for the health report, in memory (`health()`) and in agent.LoopStatus, one row per loop,
which /metrics and /healthz read from the web process.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from auditlog.models import LogEntry

from allotment.resources.models import Engine, Machine

from . import status

log = logging.getLogger("allotment.agent")


@dataclass
class MachineState:
    last_sync: float | None = None
    synced_change: int = 0  # the newest audit-log entry the last sync had seen
    last_pull: float | None = None
    errors: dict[str, str] = field(default_factory=dict)  # step -> its last error
    runs: int = 0


@dataclass
class Agent:
    sync_every: float = 900
    pull_every: float = 300
    settle: float = 10
    sync: Callable | None = None  # injectable for tests; default: the Slurm sync
    pull: Callable | None = None
    machines: dict[str, MachineState] = field(default_factory=dict)
    newest_change: int | None = None  # the newest audit-log entry seen so far
    changed_at: float = 0  # when it was first seen
    recorded: set[str] | None = None  # the loops LoopStatus was last pruned to
    _clock: Callable[[], float] = field(default=time.time, init=False, repr=False)

    def __post_init__(self):
        if self.sync is None:
            from allotment.integrations.slurm.sync import sync as slurm_sync

            self.sync = lambda machine: slurm_sync(machine).as_dict()
        if self.pull is None:
            from allotment.integrations.slurm.usage import pull

            self.pull = pull

    def tick(self, now: float | None = None) -> list[dict]:
        """Run whatever is due now; return what ran."""
        now = time.time() if now is None else now
        began = time.monotonic()
        self._clock = lambda: now + (time.monotonic() - began)  # `now`, advancing in real time
        # Ledger changes, not the agent's own records of its pulls or of its loops' health.
        newest = (
            LogEntry.objects.exclude(content_type__app_label__in=("usage", "agent"))
            .order_by("-pk")
            .values_list("pk", flat=True)
            .first()
            or 0
        )
        if newest != self.newest_change:
            self.newest_change, self.changed_at = newest, now
        done = []
        loops = set()
        for machine in Machine.objects.filter(engine=Engine.SLURM).order_by("name"):
            loops |= {f"sync:{machine.name}", f"pull:{machine.name}"}
            state = self.machines.setdefault(machine.name, MachineState())
            changed = newest > state.synced_change
            settled = now - self.changed_at >= self.settle
            if (
                state.last_sync is None
                or now - state.last_sync >= self.sync_every
                or (changed and settled)
            ):
                ran = self._run("sync", machine, state, self.sync, self.sync_every)
                done.append(ran)
                state.last_sync = now
                if ran["ok"]:  # a failed sync stays due for the change it missed
                    state.synced_change = newest
            if state.last_pull is None or now - state.last_pull >= self.pull_every:
                done.append(self._run("pull", machine, state, self.pull, self.pull_every))
                state.last_pull = now
        if loops != self.recorded:
            status.forget_others(loops)
            self.recorded = loops
        return done

    def _run(self, what: str, machine, state: MachineState, step, interval: float) -> dict:
        """Run one step and record how it went, in memory and in agent.LoopStatus."""
        started = self._clock()
        ran = self._attempt(what, machine, state, step)
        status.record(what, machine.name, interval, _utc(started), _utc(self._clock()),
                      None if ran["ok"] else ran["error"])  # fmt: skip
        return ran

    def _attempt(self, what: str, machine, state: MachineState, step) -> dict:
        state.runs += 1
        try:
            result = step(machine)
        except Exception as e:  # one machine's failure must not stop the others
            state.errors[what] = str(e)
            log.exception("%s of %s failed", what, machine.name)
            return {"machine": machine.name, "step": what, "ok": False, "error": str(e)}
        failed = (result or {}).get("failed") if isinstance(result, dict) else None
        if failed:  # commands the engine refused: the step ran but did not succeed
            state.errors[what] = "; ".join(f["command"] for f in failed)
            return {"machine": machine.name, "step": what, "ok": False,
                    "error": state.errors[what], "result": result}  # fmt: skip
        state.errors.pop(what, None)
        return {"machine": machine.name, "step": what, "ok": True, "result": result}

    def health(self) -> dict:
        return {name: vars(state) for name, state in self.machines.items()}

    def run_forever(self, interval: float = 5, report=print) -> None:
        while True:
            for item in self.tick():
                report(item)
            time.sleep(interval)


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
