"""The agent's runner: every registered loop on every target, when due, under a lease.

Each tick lists every loop's targets, makes sure each (loop, target) unit has its
agent.LoopStatus row, and runs the units that are due: never run, past `next_due`, or (for
a loop with `on_ledger_change`) the ledger changed since the unit last succeeded and has
been quiet for the loop's `settle` seconds. The schedule is in the database, so a restarted
agent, or a second one, carries on where the first left off; the moment a change was first
seen is kept in memory (a restarted agent waits one settle time more, harmlessly).

A unit runs only if this agent takes its lease (see leases.py), inside the audit context
of the agent (context.py), and its outcome is recorded with the lease's release in one
UPDATE. One target's failure never stops the others; a loop whose targets cannot be listed
is skipped this tick.
"""

import dataclasses
import logging
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from auditlog.models import LogEntry
from django.db import DatabaseError, close_old_connections, connection, transaction

from . import leases, registry
from .context import as_agent
from .leases import utc
from .models import LoopStatus
from .registry import Loop

log = logging.getLogger("allotment.agent")

ERROR_CHARS = 4000  # an engine's error can quote a whole command output
# Audit-log entries of these apps are not ledger changes: usage is what the pulls write,
# agent is the agents' own bookkeeping.
NOT_LEDGER = ("usage", "agent")


class LeaseLost(Exception):
    """The unit's lease was taken over while its atomic step ran: undo the step."""


def newest_ledger_change() -> int:
    return (
        LogEntry.objects.exclude(content_type__app_label__in=NOT_LEDGER)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
        or 0
    )


def _outcome(result: Any) -> str | None:
    """The error a step's result reports, None if it succeeded: a step may return
    {"failed": [{"command": ...}, ...]} for commands the engine refused."""
    failed = result.get("failed") if isinstance(result, dict) else None
    if failed:
        return "; ".join(str(f.get("command", f)) for f in failed)
    return None


class Agent:
    """Runs `loops` (default: every registered loop). `intervals` and `settle` override
    the loops' own ({"slurm.sync": 60}); `actor` is the person the audit log names."""

    def __init__(
        self,
        loops: Iterable[Loop] | None = None,
        *,
        intervals: dict[str, float] | None = None,
        settle: float | None = None,
        actor: Any = None,
        identity: str | None = None,
    ) -> None:
        chosen = list(registry.loops() if loops is None else loops)
        intervals = intervals or {}
        unknown = set(intervals) - {loop.name for loop in chosen}
        if unknown:
            raise LookupError(f"No such loop to set the interval of: {', '.join(sorted(unknown))}")
        self.loops = [
            dataclasses.replace(
                loop,
                interval=intervals.get(loop.name, loop.interval),
                settle=loop.settle if settle is None else settle,
            )
            for loop in chosen
        ]
        self.actor = actor
        self.identity = identity or leases.new_identity()
        self.heartbeat: leases.Heartbeat | None = None
        self.newest_change: int | None = None  # the newest ledger change seen so far
        self.changed_at = 0.0  # when it was first seen
        self._announced = False

    # -- one pass ------------------------------------------------------------------------

    def tick(self, now: float | None = None) -> list[dict]:
        """Run whatever is due now; return what ran."""
        now = time.time() if now is None else now
        began = time.monotonic()
        clock: Callable[[], float] = lambda: now + (time.monotonic() - began)  # noqa: E731
        self._keep_alive()
        if any(loop.on_ledger_change for loop in self.loops):
            newest = newest_ledger_change()
            if newest != self.newest_change:
                self.newest_change, self.changed_at = newest, now
        done: list[dict] = []
        for loop in self.loops:
            try:
                done.extend(self._run_loop(loop, now, clock))
            except DatabaseError:
                log.exception("loop %s: the database refused its bookkeeping", loop.name)
        return done

    def _keep_alive(self) -> None:
        try:
            if not self._announced:
                leases.announce(self.identity, [loop.name for loop in self.loops])
                self._announced = True
                self._forget_unknown_loops()  # what this process knows cannot change later
            else:
                leases.touch(self.identity)
        except DatabaseError:
            log.exception("could not write the agent's heartbeat")

    def _units(self, loop: Loop) -> tuple[dict[str, Any], dict[str, LoopStatus]]:
        targets: dict[str, Any] = {}
        for target in loop.targets():
            targets[str(loop.key(target))] = target
        rows = {row.target: row for row in LoopStatus.objects.filter(loop=loop.name)}
        missing = [key for key in targets if key not in rows]
        if missing:
            LoopStatus.objects.bulk_create(
                [LoopStatus(loop=loop.name, target=key, interval=loop.interval) for key in missing],
                ignore_conflicts=True,
                batch_size=500,
            )
            rows = {row.target: row for row in LoopStatus.objects.filter(loop=loop.name)}
        now = utc(time.time())
        gone = [row.pk for key, row in rows.items() if key not in targets and not row.leased(now)]
        for i in range(0, len(gone), 500):  # a target no longer listed: no stale report
            LoopStatus.objects.filter(pk__in=gone[i : i + 500]).delete()
        return targets, rows

    def _run_loop(self, loop: Loop, now: float, clock: Callable[[], float]) -> list[dict]:
        try:
            targets, rows = self._units(loop)
        except DatabaseError:
            raise
        except Exception:  # an engine or a bug in the listing: the other loops still run
            log.exception("loop %s: could not list its targets", loop.name)
            return []
        done = []
        for key, target in targets.items():
            row = rows.get(key)
            if row is None or not self._due(loop, row, now):
                continue
            try:
                ran = self._run_unit(loop, row, target, now, clock)
            except DatabaseError:
                log.exception("%s on %s: the database refused its bookkeeping", loop.name, key)
                continue
            if ran is not None:
                done.append(ran)
        return done

    def _due(self, loop: Loop, row: LoopStatus, now: float) -> bool:
        if row.next_due is None or row.next_due <= utc(now):
            return True
        return (
            loop.on_ledger_change
            and self.newest_change is not None
            and self.newest_change > row.seen_change
            and now - self.changed_at >= loop.settle
        )

    def _run_unit(
        self, loop: Loop, row: LoopStatus, target: Any, now: float, clock: Callable[[], float]
    ) -> dict | None:
        if not leases.claim(row, self.identity, loop.lease):
            return None  # another agent has it, or just did it
        started = clock()
        seen = self.newest_change or 0
        if loop.atomic:
            try:
                with transaction.atomic():
                    # Hold the row: a claim by another agent waits for this transaction.
                    held = (
                        LoopStatus.objects.select_for_update()
                        .filter(pk=row.pk, lease_holder=self.identity)
                        .exists()
                    )
                    if not held:
                        raise LeaseLost
                    with as_agent(loop.name, row.target, self.actor, self.identity):
                        result = loop.step(target)
                    error = _outcome(result)
                    if not self._complete(loop, row, now, started, clock(), error, seen):
                        raise LeaseLost
                return self._report(loop, row, error, result)
            except LeaseLost:
                log.warning("%s on %s: lease lost, step undone", loop.name, row.target)
                return None
            except Exception as e:  # undone; one target's failure must not stop the others
                log.exception("%s on %s failed", loop.name, row.target)
                error = str(e) or type(e).__name__
                with transaction.atomic():
                    self._complete(loop, row, now, started, clock(), error, seen)
                return self._report(loop, row, error, None)
        if self.heartbeat is not None:
            self.heartbeat.unit = (row.pk, loop.lease)
        try:
            with as_agent(loop.name, row.target, self.actor, self.identity):
                result = loop.step(target)
            error = _outcome(result)
        except Exception as e:  # one target's failure must not stop the others
            log.exception("%s on %s failed", loop.name, row.target)
            result, error = None, str(e) or type(e).__name__
        finally:
            if self.heartbeat is not None:
                self.heartbeat.unit = None
        try:
            # In a caller's transaction, a savepoint: a refused write must not poison it.
            with transaction.atomic() if connection.in_atomic_block else nullcontext():
                if not self._complete(loop, row, now, started, clock(), error, seen):
                    log.warning("%s on %s: lease was taken over", loop.name, row.target)
        except DatabaseError:
            log.exception("could not record the outcome of %s on %s", loop.name, row.target)
        return self._report(loop, row, error, result)

    def _complete(
        self,
        loop: Loop,
        row: LoopStatus,
        now: float,
        started: float,
        finished: float,
        error: str | None,
        seen: int,
    ) -> bool:
        """Record the outcome, schedule the next run and give the lease back, in one UPDATE;
        False if this agent no longer held the lease."""
        ok = error is None
        return leases.finish(
            row.pk,
            self.identity,
            interval=loop.interval,
            next_due=utc(now + loop.interval),
            started=utc(started),
            finished=utc(finished),
            error="" if ok else error[:ERROR_CHARS],
            ok=ok,
            # a failed run stays due for the ledger change it missed
            seen_change=seen if ok and loop.on_ledger_change else None,
        )

    @staticmethod
    def _report(loop: Loop, row: LoopStatus, error: str | None, result: Any) -> dict:
        # "step" and the target's kind as a key ("machine": "brecca") as well, as reports of
        # `allot agent --once --json` have always named them.
        ran: dict[str, Any] = {
            "loop": loop.name,
            "target": row.target,
            loop.target_kind: row.target,
            "step": loop.name.rsplit(".", 1)[-1],
            "ok": error is None,
        }
        if error is not None:
            ran["error"] = error
        if result is not None:
            ran["result"] = result
        return ran

    def _forget_unknown_loops(self) -> None:
        """Drop the rows of loops no agent runs any more (an app removed), unless leased.
        Loops another live agent announces are kept: during a rolling upgrade an older agent
        must not erase the schedule and health of a newer one's loops."""
        try:
            known = {loop.name for loop in registry.loops()} | {loop.name for loop in self.loops}
            known |= {name for agent in leases.live_agents() for name in agent.loops.split(",")}
            now = utc(time.time())
            LoopStatus.objects.exclude(loop__in=known).exclude(lease_expires__gt=now).delete()
        except DatabaseError:
            log.exception("could not forget the status of loops no longer run")

    # -- running ---------------------------------------------------------------------------

    def run_forever(self, interval: float = 5, report: Callable[[dict], None] = print) -> None:
        """Tick every `interval` seconds until SIGTERM/SIGINT; then give back what this
        agent holds and withdraw its heartbeat row. SIGKILL needs none of this: leases
        expire and the heartbeat row goes stale."""

        def stop(signum, frame):
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, stop)
        try:
            with self.beating():
                while True:
                    close_old_connections()
                    for item in self.tick():
                        report(item)
                    time.sleep(interval)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            connection.close()

    def run_once(self) -> list[dict]:
        """One pass, as `allot agent run --once`: with the heartbeat (a sync may outlast
        its lease), and withdrawn after."""
        with self.beating():
            return self.tick()

    @contextmanager
    def beating(self) -> Iterator[None]:
        """Run the heartbeat thread meanwhile; shut down (release, withdraw) after."""
        every = max(0.1, min(20.0, min((loop.lease for loop in self.loops), default=60) / 3))
        self.heartbeat = leases.Heartbeat(self.identity, every).start()
        try:
            yield
        finally:
            self.heartbeat.stop()
            self.heartbeat = None
            self.shutdown()

    def shutdown(self) -> None:
        try:
            leases.release_all(self.identity)
            leases.withdraw(self.identity)
        except DatabaseError:
            log.exception("could not withdraw the agent %s", self.identity)
