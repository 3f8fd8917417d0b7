"""What the agents are doing, for `allot agent status`, /manage/agent/ and /metrics.

Read from the database (agent.LoopStatus and agent.AgentProcess), so any process can
answer for every agent on every host. Two queries, whatever the number of agents.
"""

from datetime import datetime
from typing import Any

from django.utils import timezone

from .leases import live_agents
from .models import LoopStatus


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def snapshot(now: datetime | None = None, loop: str | None = None) -> dict[str, Any]:
    """Every unit (loop on target) and the live agents, as plain data."""
    now = now or timezone.now()
    rows = LoopStatus.objects.all()
    if loop:
        rows = rows.filter(loop=loop)
    units = [
        {
            "loop": row.loop,
            "target": row.target,
            "healthy": row.healthy(now),
            "interval": row.interval,
            "last_started": _iso(row.last_started),
            "last_finished": _iso(row.last_finished),
            "last_ok": _iso(row.last_ok),
            "last_error": row.last_error,
            "runs": row.runs,
            "consecutive_failures": row.consecutive_failures,
            "next_due": _iso(row.next_due),
            "lease_holder": row.lease_holder if row.leased(now) else "",
            "lease_expires": _iso(row.lease_expires) if row.leased(now) else None,
            "expired_lease_of": row.lease_holder if not row.leased(now) else "",
            "takeovers": row.takeovers,
        }
        for row in rows
    ]
    agents = [
        {
            "identity": agent.identity,
            "host": agent.host,
            "pid": agent.pid,
            "started": _iso(agent.started),
            "last_seen": _iso(agent.last_seen),
            "loops": [name for name in agent.loops.split(",") if name],
        }
        for agent in live_agents(now)
    ]
    return {"units": units, "agents": agents}
