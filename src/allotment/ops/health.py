"""The checks behind /healthz, each answering with one word.

- database: "ok" or "fail" (a SELECT 1). The only check that fails the whole service: a
  load balancer should take a process that cannot reach its database out of rotation.
- migrations: "ok", "pending" (code and schema disagree: someone forgot `allot migrate`),
  or "unknown" (no database to ask). Loading the migration graph takes a fair fraction of a
  second, so it is asked once per process; a deploy that migrates restarts the processes.
- agent: "ok" if every loop succeeded recently on every target for its interval (over all
  agents: agent.LoopStatus holds one row per loop and target), "stale" if one has not,
  "absent" if no agent ever recorded a run (the embedded demo runs none: not a fault), or
  "unknown" (no database to ask).

Errors are logged, never returned: the endpoint is public.
"""

import logging
import threading

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

log = logging.getLogger("allotment.ops")

_migrations_lock = threading.Lock()
_migrations: str | None = None  # the answer, once one was had


def database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        log.exception("health: the database did not answer")
        return "fail"
    return "ok"


def migrations() -> str:
    global _migrations
    with _migrations_lock:
        if _migrations is None:
            try:
                executor = MigrationExecutor(connection)
                plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
            except DatabaseError:
                log.exception("health: could not read the applied migrations")
                return "unknown"  # not remembered: ask again next time
            _migrations = "pending" if plan else "ok"
        return _migrations


def forget_migrations() -> None:
    """Ask the database again on the next check (tests; after migrating in-process)."""
    global _migrations
    with _migrations_lock:
        _migrations = None


def agent() -> str:
    from allotment.agent.models import LoopStatus

    try:
        loops = list(LoopStatus.objects.all())
    except DatabaseError:
        log.exception("health: could not read the agent's loop status")
        return "unknown"
    if not loops:
        return "absent"
    now = timezone.now()
    return "ok" if all(loop.healthy(now) for loop in loops) else "stale"


def report() -> tuple[dict, int]:
    """The /healthz body and its HTTP status."""
    db = database()
    if db == "fail":
        checks = {"database": "fail", "migrations": "unknown", "agent": "unknown"}
        return {"status": "fail", "checks": checks}, 503
    checks = {"database": db, "migrations": migrations(), "agent": agent()}
    degraded = checks["migrations"] != "ok" or checks["agent"] in ("stale", "unknown")
    return {"status": "degraded" if degraded else "ok", "checks": checks}, 200
