"""Ledger and agent gauges, read from the database when Prometheus scrapes.

Computed at scrape time rather than kept in process memory because the numbers belong to
the database, not to a process: imports run from the CLI and the agent runs in its own
process, and every web worker must report the same values. Four small queries per scrape
(import runs, quarantine, loop status, live agents), none over the job table itself.

If the database cannot answer, the scrape still succeeds with allotment_ledger_up 0, so the
process metrics keep flowing and the outage is itself visible. Burst's families
(burst_metrics.py) follow, with their own allotment_burst_up, only when the ledger's
database answered.
"""

import logging
from collections.abc import Iterator
from datetime import datetime

from django.db import DatabaseError
from django.db.models import BigIntegerField, Count, Max, Q, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from . import burst_metrics

log = logging.getLogger("allotment.ops")


def _ts(moment: datetime | None) -> float:
    """Seconds since the epoch, 0 for never (Prometheus' convention for "no such time")."""
    return moment.timestamp() if moment else 0.0


class LedgerCollector(Collector):
    def describe(self) -> list[Metric]:
        return []  # nothing to check at registration: collecting needs the database

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "allotment_ledger_up", "1 if the ledger's database answered this scrape."
        )
        try:
            families = [*imports(), *quarantine(), *loops()]
        except DatabaseError:
            log.exception("ledger metrics: the database did not answer")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families
        yield from burst_metrics.collect()  # its own allotment_burst_up


def imports() -> list[Metric]:
    from allotment.usage.models import ImportRun

    unfinished = Q(finished__isnull=True)
    error = Q(summary__has_key="error")
    rows = (
        ImportRun.objects.values("format")
        .annotate(
            ok=Count("pk", filter=~unfinished),
            failed=Count("pk", filter=unfinished & error),
            unfinished=Count("pk", filter=unfinished & ~error),
            new=Sum(Cast(KT("summary__new"), BigIntegerField())),
            last=Max("finished"),
        )
        .order_by("format")
    )
    runs = GaugeMetricFamily(
        "allotment_usage_import_runs",
        "Usage imports and pulls by format and outcome: ok (finished), failed (stopped with "
        "an error, rolled back from the failing file on), unfinished (running, or killed).",
        labels=["format", "status"],
    )
    new = CounterMetricFamily(
        "allotment_usage_imported_records",
        "Records new to the ledger, over all imports: jobs, or snapshots for storage-csv.",
        labels=["format"],
    )
    last = GaugeMetricFamily(
        "allotment_usage_last_import_timestamp_seconds",
        "When the last import of this format finished successfully (0: never).",
        labels=["format"],
    )
    for row in rows:
        for status in ("ok", "failed", "unfinished"):
            runs.add_metric([row["format"], status], row[status])
        new.add_metric([row["format"]], row["new"] or 0)
        last.add_metric([row["format"]], _ts(row["last"]))
    return [runs, new, last]


def quarantine() -> list[Metric]:
    from allotment.usage.models import QuarantinedRecord

    held = GaugeMetricFamily(
        "allotment_usage_quarantined_records",
        "Records held back until what they name exists (allot usage quarantine).",
        labels=["kind", "reason"],
    )
    rows = QuarantinedRecord.objects.values("kind", "reason").annotate(n=Count("pk")).order_by()
    for row in rows:
        held.add_metric([row["kind"], row["reason"]], row["n"])
    return [held]


def loops() -> list[Metric]:
    """One sample per unit of agent work (a loop on a target), and the live agents."""
    from allotment.agent.leases import live_agents
    from allotment.agent.models import LoopStatus

    labels = ["loop", "target"]
    families = {
        "started": GaugeMetricFamily(
            "allotment_agent_loop_last_run_timestamp_seconds",
            "When the loop last started a run on the target.",
            labels=labels,
        ),
        "ok": GaugeMetricFamily(
            "allotment_agent_loop_last_success_timestamp_seconds",
            "When the loop last succeeded on the target (0: never).",
            labels=labels,
        ),
        "duration": GaugeMetricFamily(
            "allotment_agent_loop_last_duration_seconds",
            "How long the loop's last run on the target took.",
            labels=labels,
        ),
        "interval": GaugeMetricFamily(
            "allotment_agent_loop_interval_seconds",
            "Seconds between the loop's scheduled runs.",
            labels=labels,
        ),
        "failures": GaugeMetricFamily(
            "allotment_agent_loop_consecutive_failures",
            "Failed runs in a row (0 after a success).",
            labels=labels,
        ),
        "healthy": GaugeMetricFamily(
            "allotment_agent_loop_healthy",
            "1 if the loop succeeded within two of its intervals (plus a minute), else 0.",
            labels=labels,
        ),
        "leased": GaugeMetricFamily(
            "allotment_agent_loop_leased",
            "1 if an agent holds the unit's lease now (its step is running), else 0.",
            labels=labels,
        ),
        "runs": CounterMetricFamily(
            "allotment_agent_loop_runs", "Runs of the loop on the target, recorded.", labels=labels
        ),
        "takeovers": CounterMetricFamily(
            "allotment_agent_loop_lease_takeovers",
            "Leases taken over from an agent that let them expire (it died or hung).",
            labels=labels,
        ),
    }
    now = timezone.now()
    for loop in LoopStatus.objects.all():
        key = [loop.loop, loop.target]
        families["started"].add_metric(key, _ts(loop.last_started))
        families["ok"].add_metric(key, _ts(loop.last_ok))
        duration = (
            (loop.last_finished - loop.last_started).total_seconds()
            if loop.last_started and loop.last_finished
            else 0.0
        )
        families["duration"].add_metric(key, duration)
        families["interval"].add_metric(key, loop.interval)
        families["failures"].add_metric(key, loop.consecutive_failures)
        families["healthy"].add_metric(key, 1 if loop.healthy(now) else 0)
        families["leased"].add_metric(key, 1 if loop.leased(now) else 0)
        families["runs"].add_metric(key, loop.runs)
        families["takeovers"].add_metric(key, loop.takeovers)
    agents = GaugeMetricFamily(
        "allotment_agent_live_agents", "Agent processes that sent a heartbeat in the last minute."
    )
    agents.add_metric([], len(live_agents(now)))
    return [*families.values(), agents]
