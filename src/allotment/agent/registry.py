"""The loops `allot agent` runs, declared by the apps that own them.

An app registers its loops in its `AppConfig.ready()`, so the agent knows them as soon as
Django has started and needs no list of its own: the Slurm integration registers
"slurm.sync" and "slurm.pull"; an inventory or burst app adds its own the same way.

A loop is level-triggered, as a Kubernetes controller is: every `interval` seconds (and,
if `on_ledger_change`, `settle` seconds after the ledger last changed) its `step` runs once
per target, and each step observes, compares and does what is missing. A step must be
idempotent: the agent may die inside it, and the unit is then run again by whichever agent
takes its lease over (at least once). When `atomic` is set, the step's effects are only in
the database: the runner runs it in the same transaction as the record of its completion,
under a lock on the unit's row, so it happens exactly once.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Loop:
    """One kind of reconcile work, run on each of its targets."""

    name: str  # stable: LoopStatus rows and metrics are keyed by it, e.g. "slurm.sync"
    interval: float  # seconds between scheduled runs on one target
    targets: Callable[[], Iterable[Any]]  # what to run on now (machines, nodes, VMs, ...)
    key: Callable[[Any], str]  # a target's stable key: the same target, the same key
    step: Callable[[Any], Any]  # one idempotent pass over one target
    on_ledger_change: bool = False  # also run soon after any change to the ledger
    settle: float = 10  # ... once it has been quiet this many seconds
    lease: float = 120  # seconds a unit is held; renewed while its step runs
    atomic: bool = False  # effects only in the database: exactly once, in one transaction
    target_kind: str = "target"  # what a target is ("machine", "node"): names it in reports

    def __post_init__(self) -> None:
        if not self.name or ":" in self.name:
            raise ValueError(f'Loop name "{self.name}": give a non-empty name without ":".')
        if self.interval <= 0 or self.lease <= 0 or self.settle < 0:
            raise ValueError(
                f'Loop "{self.name}": interval and lease must be positive, settle not negative.'
            )


_loops: dict[str, Loop] = {}


def register(loop: Loop) -> Loop:
    """Declare a loop (from AppConfig.ready()); registering the same name twice is a bug
    unless it is the very same declaration (ready() may run twice in tests)."""
    known = _loops.get(loop.name)
    if known is not None and known != loop:
        raise ValueError(f'A loop named "{loop.name}" is already registered.')
    _loops[loop.name] = loop
    return loop


def unregister(name: str) -> None:
    _loops.pop(name, None)


def loops() -> list[Loop]:
    """Every registered loop, in the order registered (the Slurm sync before the pull, so
    a pass applies the ledger's limits before it charges usage against them)."""
    return list(_loops.values())


def get(name: str) -> Loop:
    try:
        return _loops[name]
    except KeyError:
        known = ", ".join(sorted(_loops)) or "none"
        raise LookupError(f'There is no loop "{name}" (registered: {known}).') from None
