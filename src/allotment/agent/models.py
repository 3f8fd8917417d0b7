"""The agent's persisted state: one row per unit of work (a loop on a target) and one per
running agent process.

The agent runs as its own process (`allot agent run`), possibly several at once on
PostgreSQL; /metrics, /healthz, `allot agent status` and the administrators' page read
these rows from other processes. A unit's row is at once its schedule (`next_due`), its
health (last run, last success, error) and its lease (who works on it until when), so one
conditional UPDATE takes a unit and one UPDATE records its outcome. It is bookkeeping,
rewritten every few minutes, so it is not audited (writes go through UPDATE, not save()).
"""

from datetime import datetime, timedelta

from django.db import models

# How many scheduled runs a loop may miss before it counts as unhealthy: one failure (or
# one slow run) is tolerated, because the next run is already due; two in a row are not.
MISSED_RUNS = 2
# Slack for tick granularity and the duration of the step itself.
GRACE = timedelta(seconds=60)


class LoopStatus(models.Model):
    """One loop on one target: its schedule, how it last went, and who holds it now."""

    loop = models.CharField(max_length=100, help_text='The registered loop, e.g. "slurm.sync"')
    target = models.CharField(max_length=200, help_text="The target's stable key")
    interval = models.FloatField(help_text="Seconds between scheduled runs")
    next_due = models.DateTimeField(null=True, help_text="Empty: never run, due at once")
    last_started = models.DateTimeField(null=True)
    last_finished = models.DateTimeField(null=True)
    last_ok = models.DateTimeField(null=True, help_text="When it last succeeded")
    last_error = models.TextField(blank=True, help_text="Empty after a success")
    consecutive_failures = models.PositiveIntegerField(default=0)
    runs = models.PositiveIntegerField(default=0)
    seen_change = models.BigIntegerField(
        default=0, help_text="The newest ledger audit entry the last success had seen"
    )
    lease_holder = models.CharField(max_length=200, blank=True, help_text="host:pid:random")
    lease_expires = models.DateTimeField(null=True)
    takeovers = models.PositiveIntegerField(
        default=0, help_text="Leases taken from an agent that let them expire (died)"
    )

    class Meta:
        ordering = ["loop", "target"]
        verbose_name_plural = "loop statuses"
        constraints = [
            models.UniqueConstraint(fields=["loop", "target"], name="agent_loop_target_unique")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return f"{self.loop}:{self.target}"

    def stale_after(self) -> timedelta:
        return timedelta(seconds=self.interval * MISSED_RUNS) + GRACE

    def healthy(self, now: datetime) -> bool:
        """Whether the loop last succeeded recently enough for its interval."""
        return self.last_ok is not None and now - self.last_ok <= self.stale_after()

    def leased(self, now: datetime) -> bool:
        return (
            bool(self.lease_holder)
            and self.lease_expires is not None
            and (self.lease_expires > now)
        )


class AgentProcess(models.Model):
    """A running agent's heartbeat: who it is and when it was last alive."""

    identity = models.CharField(max_length=200, unique=True, help_text="host:pid:random")
    host = models.CharField(max_length=200)
    pid = models.PositiveIntegerField()
    started = models.DateTimeField()
    last_seen = models.DateTimeField()
    loops = models.TextField(blank=True, help_text="The loops it runs, comma-separated")

    class Meta:
        ordering = ["identity"]
        verbose_name_plural = "agent processes"

    def __str__(self) -> str:
        return self.identity
