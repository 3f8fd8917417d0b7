"""Writing the agent's loop health (agent.LoopStatus) without ever stopping the agent.

One UPDATE per step in the steady state (an INSERT the first time a loop runs). The write
is bookkeeping: if the database refuses it, the agent logs that and carries on, because the
loops themselves matter more than their report.
"""

import logging
from datetime import datetime

from django.db import DatabaseError, transaction
from django.db.models import F

from .models import LoopStatus

log = logging.getLogger("allotment.agent")

ERROR_CHARS = 4000  # an engine's error can quote a whole command output


def record(
    step: str,
    machine: str,
    interval: float,
    started: datetime,
    finished: datetime,
    error: str | None,
) -> None:
    """Record one run of `step` on `machine`; `error` is None when it succeeded."""
    name = f"{step}:{machine}"
    ok = error is None
    fields = {
        "step": step,
        "machine": machine,
        "interval": interval,
        "last_started": started,
        "last_finished": finished,
        "last_error": "" if ok else error[:ERROR_CHARS],
    }
    try:
        with transaction.atomic():  # a savepoint: a refused write must not poison a caller's
            updated = LoopStatus.objects.filter(name=name).update(
                **fields,
                runs=F("runs") + 1,
                consecutive_failures=0 if ok else F("consecutive_failures") + 1,
                **({"last_ok": finished} if ok else {}),
            )
            if not updated:
                LoopStatus.objects.create(
                    name=name,
                    **fields,
                    runs=1,
                    consecutive_failures=0 if ok else 1,
                    last_ok=finished if ok else None,
                )
    except DatabaseError:
        log.exception("could not record the status of %s", name)


def forget_others(names: set[str]) -> None:
    """Drop the rows of loops the agent no longer runs (a machine left Slurm, or is gone),
    so they do not report stale forever."""
    try:
        with transaction.atomic():
            LoopStatus.objects.exclude(name__in=names).delete()
    except DatabaseError:
        log.exception("could not forget the status of loops no longer run")
