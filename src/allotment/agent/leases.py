"""Leases: how several agents share the work, and how one agent holds SQLite.

A unit of work is one loop on one target, one agent.LoopStatus row. An agent takes it
with one conditional UPDATE:

    UPDATE agent_loopstatus SET lease_holder = me, lease_expires = now + lease,
           takeovers = takeovers + (1 if someone held it)
     WHERE id = unit AND runs = <runs when I read it>
       AND (lease_holder = '' OR lease_expires < now)

and gives it back with the UPDATE that records the outcome (WHERE lease_holder = me).
Why this rather than SELECT ... FOR UPDATE SKIP LOCKED held across the step: a step may
take minutes (a sync of a big cluster) and talks to an engine, and a transaction left open
that long pins a connection and holds back vacuum; SKIP LOCKED is also PostgreSQL's only.
The UPDATE is one round trip on both databases, needs no transaction around the step, and
is race-free: on PostgreSQL a second UPDATE on the same row waits for the first to commit
and then re-checks its WHERE (READ COMMITTED), so exactly one agent gets rowcount 1. The
`runs` condition makes the claim conditional on the unit not having been run since it was
read, so an agent acting on a stale list does not run a unit another agent just finished.

A lease lasts `Loop.lease` seconds and is renewed by a heartbeat thread while a long step
runs. An agent that dies (SIGKILL, a lost host) stops renewing; once its lease has expired
another agent takes the unit over and `takeovers` counts it. So an engine step is run at
least once and may run twice (the dead agent may have been half-way): steps are idempotent.
A step whose effects are only in the database (`Loop.atomic`) runs inside the transaction
that records its completion, holding the unit's row lock: a dead agent's transaction rolls
back, and a live agent whose step outlives its lease still blocks a second claim until it
commits, after which `runs` has changed and the claim fails. So those run exactly once.

Lease times are the agents' wall clocks: hosts running agents keep time with NTP, and a
lease is long (minutes) against any skew.

On SQLite one agent runs: `single_agent_lock` takes an fcntl lock on a file beside the
database, which the kernel frees when the process ends however it ends.
"""

import fcntl
import logging
import os
import secrets
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from django.conf import settings
from django.db import DatabaseError, connection

from .models import AgentProcess, LoopStatus

log = logging.getLogger("allotment.agent")

LIVE_WITHIN = timedelta(seconds=60)  # an agent not seen for longer is not counted as live
FORGET_AFTER = timedelta(hours=1)  # and its heartbeat row is dropped after this


def utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def new_identity() -> str:
    """host:pid:random: unique even when a pid is reused after a restart."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _at(moment: datetime | None):
    """A datetime as the database backend stores it (SQLite: naive UTC text)."""
    return connection.ops.adapt_datetimefield_value(moment)


def _execute(sql: str, params: list) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql.format(table=LoopStatus._meta.db_table), params)
        return cursor.rowcount


# Raw SQL for the two statements every step runs: building them through the ORM cost more
# than the round trips themselves (about 0.5 ms a step); on PostgreSQL they are prepared
# once per connection.
CLAIM = """
    UPDATE {table} SET lease_holder = %s, lease_expires = %s,
           takeovers = takeovers + CASE WHEN lease_holder = '' THEN 0 ELSE 1 END
     WHERE id = %s AND runs = %s
       AND (lease_holder = '' OR lease_expires IS NULL OR lease_expires < %s)
"""
FINISH = """
    UPDATE {table} SET "interval" = %s, next_due = %s, last_started = %s, last_finished = %s,
           last_error = %s, runs = runs + 1,
           consecutive_failures = CASE WHEN %s THEN 0 ELSE consecutive_failures + 1 END,
           last_ok = CASE WHEN %s THEN %s ELSE last_ok END,
           seen_change = CASE WHEN %s THEN %s ELSE seen_change END,
           lease_holder = '', lease_expires = NULL
     WHERE id = %s AND lease_holder = %s
"""


def claim(row: LoopStatus, holder: str, lease: float, now: float | None = None) -> bool:
    """Take the unit if nobody holds it (or the holder let it expire) and it was not run
    since `row` was read; True if this agent holds it now."""
    now_at = utc(time.time() if now is None else now)
    expires = now_at + timedelta(seconds=lease)
    return _execute(CLAIM, [holder, _at(expires), row.pk, row.runs, _at(now_at)]) == 1


def finish(
    pk: int,
    holder: str,
    *,
    interval: float,
    next_due: datetime,
    started: datetime,
    finished: datetime,
    error: str,
    ok: bool,
    seen_change: int | None,
) -> bool:
    """Record a run's outcome, schedule the next and give the lease back, in one UPDATE;
    False if `holder` no longer held the lease. `seen_change` None leaves it as it was."""
    params = [
        interval, _at(next_due), _at(started), _at(finished), error,
        ok, ok, _at(finished), seen_change is not None, seen_change or 0,
        pk, holder,
    ]  # fmt: skip
    return _execute(FINISH, params) == 1


def renew(pk: int, holder: str, lease: float) -> bool:
    expires = utc(time.time()) + timedelta(seconds=lease)
    return LoopStatus.objects.filter(pk=pk, lease_holder=holder).update(lease_expires=expires) == 1


def release_all(holder: str) -> None:
    """Give back whatever this agent still holds (a clean exit mid-step)."""
    LoopStatus.objects.filter(lease_holder=holder).update(lease_holder="", lease_expires=None)


def announce(identity: str, loops: list[str]) -> None:
    """Write this agent's heartbeat row (no save(): bookkeeping stays out of the audit log)."""
    host, pid, _ = identity.rsplit(":", 2)
    now = utc(time.time())
    AgentProcess.objects.filter(last_seen__lt=now - FORGET_AFTER)._raw_delete(connection.alias)
    AgentProcess.objects.bulk_create(
        [
            AgentProcess(
                identity=identity,
                host=host,
                pid=int(pid),
                started=now,
                last_seen=now,
                loops=",".join(loops),
            )
        ],
        ignore_conflicts=True,
    )


def touch(identity: str) -> None:
    AgentProcess.objects.filter(identity=identity).update(last_seen=utc(time.time()))


def withdraw(identity: str) -> None:
    AgentProcess.objects.filter(identity=identity)._raw_delete(connection.alias)


def live_agents(now: datetime | None = None) -> list[AgentProcess]:
    now = now or utc(time.time())
    return list(AgentProcess.objects.filter(last_seen__gte=now - LIVE_WITHIN))


class Heartbeat:
    """A thread that keeps this agent's row fresh and renews the lease of the unit whose
    (non-atomic) step is running, so a step longer than its lease is not taken over while
    its agent is alive. It uses its own database connection."""

    def __init__(self, identity: str, every: float) -> None:
        self.identity = identity
        self.every = every
        self.unit: tuple[int, float] | None = None  # (LoopStatus pk, lease seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="agent-heartbeat", daemon=True)

    def start(self) -> "Heartbeat":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.every + 5)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.every):
                self.beat()
        finally:
            connection.close()

    def beat(self) -> None:
        try:
            touch(self.identity)
            unit = self.unit
            if unit is not None:
                renew(unit[0], self.identity, unit[1])
        except DatabaseError:
            log.exception("heartbeat: could not renew")


class AnotherAgent(RuntimeError):
    """A second agent on a database that allows one."""


def lock_path() -> Path | None:
    """The lock file beside a SQLite database file; None for PostgreSQL or in-memory."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.sqlite3":
        return None
    name = str(connection.settings_dict.get("NAME") or db.get("NAME") or "")
    if not name or name == ":memory:" or "mode=memory" in name:
        return None
    return Path(name + ".agent.lock")


_held: IO[str] | None = None  # the lock file, open for the life of the process


def single_agent_lock() -> IO[str] | None:
    """Hold the SQLite agent lock for the life of the process; raise AnotherAgent, saying
    who holds it, if another agent does. None: no lock is needed (PostgreSQL, in-memory)."""
    global _held
    path = lock_path()
    if path is None:
        return None
    if _held is not None:
        return _held
    handle = open(path, "a+")  # noqa: SIM115 (held open for the life of the process)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        pid, _, host = handle.read().strip().partition(" ")
        handle.close()
        database = str(path).removesuffix(".agent.lock")
        raise AnotherAgent(
            f"another agent is running (pid {pid or '?'} on host {host or '?'}) on the SQLite "
            f"database {database}; only one may run on SQLite (use PostgreSQL to run "
            "several), so this one stops."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()} {socket.gethostname()}\n")
    handle.flush()
    _held = handle
    return handle
