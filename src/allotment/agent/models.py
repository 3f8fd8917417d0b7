"""The agent's loop health, kept in the database so other processes can read it.

The agent runs as its own process (`allot agent run`); /metrics and /healthz run in the web
process. One row per loop (a step on a machine, e.g. "sync:brecca") is the only thing they
share. It is bookkeeping, rewritten every few minutes, so it is not audited.
"""

from datetime import datetime, timedelta

from django.db import models

# How many scheduled runs a loop may miss before it counts as unhealthy: one failure (or
# one slow run) is tolerated, because the next run is already due; two in a row are not.
MISSED_RUNS = 2
# Slack for tick granularity and the duration of the step itself.
GRACE = timedelta(seconds=60)


class LoopStatus(models.Model):
    """How one agent loop last went: when it ran, when it last succeeded, and its error."""

    name = models.CharField(max_length=150, unique=True, help_text='"step:machine"')
    step = models.CharField(max_length=16, help_text="sync or pull")
    machine = models.CharField(max_length=100)
    interval = models.FloatField(help_text="Seconds between scheduled runs")
    last_started = models.DateTimeField(null=True)
    last_finished = models.DateTimeField(null=True)
    last_ok = models.DateTimeField(null=True, help_text="When it last succeeded")
    last_error = models.TextField(blank=True, help_text="Empty after a success")
    consecutive_failures = models.PositiveIntegerField(default=0)
    runs = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "loop statuses"

    def __str__(self) -> str:
        return self.name

    def stale_after(self) -> timedelta:
        return timedelta(seconds=self.interval * MISSED_RUNS) + GRACE

    def healthy(self, now: datetime) -> bool:
        """Whether the loop last succeeded recently enough for its interval."""
        return self.last_ok is not None and now - self.last_ok <= self.stale_after()
