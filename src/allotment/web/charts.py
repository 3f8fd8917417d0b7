"""Chart data for the project and person pages, each from one grouped query.

The data is a plain dict that `static/web/portal-charts.js` draws:
`{"type": "line"|"bar", "labels": [...], "series": [{"label", "unit", "data", ...}]}`.
Series with different units get their own y axis there, so CPU hours and disk kilobytes
can share one time axis.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from django.db.models import FloatField, Max, Min, Q, Sum

from allotment.access.policy import visible_usage
from allotment.grants.services import PoolSummary
from allotment.resources.models import Aggregation, Metric, ResourcePool
from allotment.usage.models import Charge, DailyUsage

# What each kind of pool is called on a usage chart.
SOURCE_NAMES = {
    Metric.CORE_SECONDS: "CPU",
    Metric.BYTES: "Disk peak",
    Metric.VM_SECONDS: "Cloud VMs",
}


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(n) for n in range((last - first).days + 1)]


def last_usage_day(viewer, condition: Q, first: date, last: date) -> date | None:
    found = (
        visible_usage(viewer, DailyUsage.objects.filter(condition, day__range=(first, last)))
        .order_by("-day")
        .values_list("day", flat=True)
        .first()
    )
    return found


def usage_span(viewer, condition: Q) -> tuple[date, date] | None:
    """The first and last day of the usage matching `condition` that the viewer may see."""
    found = visible_usage(viewer, DailyUsage.objects.filter(condition)).aggregate(
        first=Min("day"), last=Max("day")
    )
    return None if found["first"] is None else (found["first"], found["last"])


def usage_over_time(viewer, condition: Q, first: date, last: date) -> dict:
    """Daily usage of every pool on one time axis: CPU hours of core-seconds pools, the
    day's disk total of byte pools, VM hours of cloud pools, in each pool's units."""
    rows = (
        visible_usage(viewer, DailyUsage.objects.filter(condition, day__range=(first, last)))
        .values("resource_pool_id", "day")
        .annotate(total=Sum("used", output_field=FloatField()))
        .order_by()
        .values_list("resource_pool_id", "day", "total")
    )
    by_pool: dict[int, dict[date, float]] = defaultdict(dict)
    for pool_id, day, total in rows:
        if pool_id is not None:
            by_pool[pool_id][day] = total or 0.0
    axis = days(first, last)
    series = []
    for pool in ResourcePool.objects.filter(pk__in=by_pool).order_by("metric", "name"):
        unit = float(pool.unit_size)
        values = by_pool[pool.pk]
        name = SOURCE_NAMES.get(pool.metric, pool.name)
        series.append(
            {
                "label": f"{name} ({pool.name}, {pool.units})",
                "unit": pool.units,
                # A storage day nothing is known of (past the newest snapshot, or a month
                # after the last one of its key) is a gap, not 0; between snapshots the
                # fact table already holds the earlier one's value.
                "data": [
                    round(values[d] / unit, 4)
                    if d in values
                    else (0.0 if pool.aggregation == Aggregation.SUM else None)
                    for d in axis
                ],
                "kind": "bar" if pool.aggregation == Aggregation.SUM else "line",
            }
        )
    return {"type": "line", "labels": [d.isoformat() for d in axis], "series": series}


def burn_down(viewer, pools: list[PoolSummary], until: date | None = None) -> list[dict]:
    """Per allocation pool: used so far (cumulative for sum pools, the running peak for
    max pools) against what was allocated, day by day across the pool's period."""
    if not pools:
        return []
    rows = (
        visible_usage(
            viewer,
            DailyUsage.objects.filter(
                allocation_pool_id__in=[p.pool_id for p in pools], charge=Charge.CHARGED
            ),
        )
        .values("allocation_pool_id", "day")
        .annotate(total=Sum("used", output_field=FloatField()))
        .order_by()
        .values_list("allocation_pool_id", "day", "total")
    )
    daily: dict[int, dict[date, float]] = defaultdict(dict)
    for pool_id, day, total in rows:
        daily[pool_id][day] = total or 0.0
    units = dict(
        ResourcePool.objects.filter(name__in=[p.pool for p in pools]).values_list(
            "name", "unit_size"
        )
    )
    charts = []
    for pool in pools:
        axis = days(pool.period_start, pool.period_end)
        end = until or pool.period_end
        unit = float(units.get(pool.pool, 1))
        allocated = float(pool.allocated)
        used: list[float | None] = []
        running = 0.0
        seen = 0
        for day in axis:
            if day > end:
                used.append(None)
                continue
            amount = daily[pool.pool_id].get(day)
            if pool.aggregation == Aggregation.SUM:
                running += (amount or 0.0) / unit
            elif amount is not None:
                seen += 1
                value = amount / unit
                if pool.aggregation == Aggregation.MAX:
                    running = max(running, value)
                elif pool.aggregation == Aggregation.LAST:
                    running = value
                else:  # average of the days with usage
                    running += (value - running) / seen
            used.append(round(running, 4))
        series = [
            {"label": f"Used ({pool.units})", "unit": pool.units, "data": used, "fill": True},
            {
                "label": "Allocated",
                "unit": pool.units,
                "data": [allocated] * len(axis),
                "dashed": True,
            },
        ]
        if pool.aggregation == Aggregation.SUM and len(axis) > 1:
            step = allocated / (len(axis) - 1)
            series.append(
                {
                    "label": "Even pace",
                    "unit": pool.units,
                    "data": [round(step * n, 4) for n in range(len(axis))],
                    "dotted": True,
                }
            )
        charts.append(
            {
                "id": f"burn-{pool.pool_id}",
                "title": pool.pool,
                "summary": pool,
                "data": {
                    "type": "line",
                    "labels": [d.isoformat() for d in axis],
                    "series": series,
                },
            }
        )
    return charts
