"""Following a shift from the command line: is an agent there to do it, and how far is it."""

from __future__ import annotations

import time
from collections.abc import Callable

from .models import Outcome, Shift
from .services import shift_progress

LOOP = "inventory.shift"


def shift_agents() -> list[str]:
    """The live agents that run the shift loop."""
    from allotment.agent.leases import live_agents

    return [a.identity for a in live_agents() if LOOP in [x.strip() for x in a.loops.split(",")]]


def follow(
    shift: Shift,
    on_change: Callable[[dict], None],
    *,
    poll: float = 1.0,
    timeout: float | None = None,
) -> dict:
    """Call `on_change` with the shift's progress whenever it changes, until every node is in
    service, failed or aborted (a failed node stops its own move, not the others'); return
    the last progress. Failed counts nodes in a failed state now, whose item stays open."""
    deadline = None if timeout is None else time.monotonic() + timeout
    last = None
    while True:
        shift.refresh_from_db()
        progress = shift_progress(shift)
        failed = [
            i.node.name
            for i in shift.items.select_related("node").filter(outcome=Outcome.MOVING)
            if i.node.state.endswith("failed") or i.node.state == "drain_timeout"
        ]
        progress["stuck"] = failed
        if progress != last:
            on_change(progress)
            last = progress
        open_ = progress[Outcome.WAITING] + progress[Outcome.MOVING] - len(failed)
        if progress["finished"] or open_ <= 0:
            return progress
        if deadline is not None and time.monotonic() > deadline:
            return progress
        time.sleep(poll)
