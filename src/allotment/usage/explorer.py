"""The usage explorer: any measure of the fact tables, grouped by one dimension, per period.

Modelled on Open XDMoD's usage explorer: pick a metric (used, raw, job count, CPU hours per
job, wait hours), a dimension to group by, a period (day, month, quarter, year) and
filters; get one series per group, the biggest few for a chart (the rest folded into
"Other"), and every group for a table or a CSV file.

Like `reports.report`, the database does the work: one GROUP BY on plain columns per kind
of pool, reading `MonthlyUsage` where sum pools are asked for whole months, quarters or
years, and `DailyUsage` otherwise. Python only merges the grouped rows (months into
quarters, days into a max pool's peak) and attaches names.

Resource pools differ in units and in how a period's usage is formed (CPU hours add up;
disk space is the peak of the daily totals), so numbers of two pools are never added:
unless the grouping is by resource pool, one pool is read (by default the first pool
measuring batch jobs, as `reports.default_pool` chooses), and every amount is converted
from base units by that pool's `unit_size`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from allotment.access.policy import visible_usage
from allotment.projects.models import Project
from allotment.resources.models import Aggregation, Metric, ResourcePool

from . import dimensions, periods, reports
from .models import DailyUsage, MonthlyUsage
from .reports import (
    PERIODS,
    _across_days,
    _whole_months,
    default_pool,
    float_sum,
    grouped_rows,
    period_label,
)

METRICS: dict[str, str] = {
    "used": "Used (scaled)",
    "raw": "Raw",
    "jobs": "Job count",
    "cpu_hours_per_job": "CPU hours per job",
    "wait_hours": "Wait hours",
}
# Metrics about batch jobs only: they mean nothing for bytes of disk.
JOB_METRICS = ("cpu_hours_per_job", "wait_hours")

# group-by name -> (fact column, model whose name is shown, its name field, heading)
GROUPS = dimensions.explorer_groups()

OTHER = "__other__"
TOTAL = "__total__"
HOUR = 3600.0


@dataclass(frozen=True)
class Filters:
    """What to count. Objects are already resolved (and checked visible) by the caller;
    the facts are filtered by `access.policy.visible_usage` regardless."""

    date_from: date | None = None
    date_to: date | None = None
    project: Project | None = None
    subtree: bool = False
    machine: object | None = None
    resource_pool: ResourcePool | None = None
    institute: Project | None = None
    person: object | None = None


@dataclass
class Series:
    key: object
    label: str
    unit: str
    values: list[float | None]
    total: float | None


@dataclass
class Exploration:
    metric: str
    group_by: str
    period: str
    periods: list[str]
    pool: ResourcePool | None  # None when grouped by resource pool
    unit: str  # "" when each group has its own (grouped by resource pool)
    groups: list[Series] = field(default_factory=list)  # every group, biggest first
    chart: list[Series] = field(default_factory=list)  # the top groups and "Other"

    @property
    def metric_label(self) -> str:
        return METRICS[self.metric]

    @property
    def group_heading(self) -> str:
        return GROUPS[self.group_by][3]

    def chart_data(self, kind: str = "line") -> dict:
        """What static/web/portal-charts.js draws: labels and one series per group."""
        return {
            "type": kind,
            "labels": self.periods,
            "series": [
                {
                    "label": s.label,
                    "unit": s.unit,
                    # A period without usage is 0, except for a ratio, which has no value.
                    "data": [
                        v if v is not None or self.metric == "cpu_hours_per_job" else 0
                        for v in s.values
                    ],
                    "other": s.key == OTHER,
                }
                for s in self.chart
            ],
        }

    def csv_rows(self) -> Iterable[list]:
        """Long format, one line per period and group that has usage, every group (no
        "Other"), with the unit on each line since pools may differ."""
        yield ["period", self.group_by, self.metric, "unit"]
        for index, period in enumerate(self.periods):
            for series in self.groups:
                value = series.values[index]
                if value is not None:
                    yield [period, series.label, _csv_number(value), series.unit]


def explore(
    viewer,
    metric: str = "used",
    group_by: str = "project",
    period: str = "month",
    filters: Filters | None = None,
    top: int = 8,
) -> Exploration:
    """The usage the viewer may see, as `metric` per `period` and per `group_by` value."""
    if metric not in METRICS:
        raise ValidationError(f'The metric must be one of {", ".join(METRICS)}, not "{metric}".')
    if group_by not in GROUPS:
        raise ValidationError(f'Group by one of {", ".join(GROUPS)}, not "{group_by}".')
    if period not in PERIODS:
        raise ValidationError(f'The period must be one of {", ".join(PERIODS)}, not "{period}".')
    filters = filters or Filters()
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        raise ValidationError(
            f"The date range ends ({filters.date_to}) before it starts ({filters.date_from})."
        )
    pools = _pools(metric, group_by, filters)
    by_pool = {p.pk: p for p in pools}

    # Fetch grouped rows: (bucket field, bucket value, group key, pool id, jobs, raw, used, wait)
    rows: list[tuple] = []
    sums = [p.pk for p in pools if p.aggregation == Aggregation.SUM]
    others = [p.pk for p in pools if p.aggregation != Aggregation.SUM]
    column = GROUPS[group_by][0]
    if sums:
        table, bucket = _sum_source(period, filters)
        rows += _fetch(viewer, table, bucket, column, sums, filters)
    if others:
        rows += _fetch(viewer, DailyUsage, "day", column, others, filters)

    labeller = _Labeller(period)
    axis = _period_axis(period, filters, rows)
    pool_of: Callable[[object], ResourcePool] = (
        (lambda key: by_pool[key]) if group_by == "resource_pool" else (lambda key: pools[0])
    )

    def value(measures: list, pool: ResourcePool) -> float | None:
        return _metric(metric, measures, pool)

    # Every group per period, and every group over the whole range (its rank and total).
    all_sums = all(p.aggregation == Aggregation.SUM for p in pools)
    if all_sums:
        cells, totals = _sum_cells(rows, labeller)
    else:
        cells = _aggregate(rows, by_pool, lambda r: labeller(r[0], r[1]), lambda r: r[2])
        totals = _aggregate(rows, by_pool, lambda r: TOTAL, lambda r: r[2])
    periods.check_cells(len(totals), len(axis))
    names = _names(group_by, {key for (_, key) in totals})
    ranked = sorted(
        ((key, value(m, pool_of(key))) for (_, key), m in totals.items()),
        key=lambda kv: (kv[1] is None, -(kv[1] or 0), _label(names, kv[0])),
    )
    index = {label: i for i, label in enumerate(axis)}
    unit = "" if group_by == "resource_pool" else _unit(metric, pools[0])

    def series_of(key, label: str, pool: ResourcePool, source: dict, total) -> Series:
        values: list[float | None] = [None] * len(axis)
        for (label_, key_), measures in source.items():
            if key_ == key and label_ in index:
                values[index[label_]] = value(measures, pool)
        return Series(key, label, _unit(metric, pool), values, total)

    by_key: dict = defaultdict(dict)
    for (label, key), measures in cells.items():
        by_key[key][(label, key)] = measures
    groups = [
        series_of(key, _label(names, key), pool_of(key), by_key[key], total)
        for key, total in ranked
    ]

    chart = groups
    if group_by != "resource_pool" and len(groups) > top:
        keep = {key for key, _ in ranked[:top]}
        if all_sums:
            # Sums add up: fold the cells and totals made above instead of every row again.
            folded = _fold(cells, keep)
            other_total = _fold(totals, keep)
        else:  # a peak of daily totals is not the sum of the groups' peaks: from the rows
            folded = _aggregate(
                rows,
                by_pool,
                lambda r: labeller(r[0], r[1]),
                lambda r: r[2] if r[2] in keep else OTHER,
            )
            other_total = _aggregate(
                [r for r in rows if r[2] not in keep], by_pool, lambda r: TOTAL, lambda r: OTHER
            )
        rest = len(groups) - top
        chart = [
            *groups[:top],
            series_of(
                OTHER,
                f"Other ({rest} more)",
                pools[0],
                {k: m for k, m in folded.items() if k[1] == OTHER},
                value(other_total[(TOTAL, OTHER)], pools[0]),
            ),
        ]
    return Exploration(
        metric=metric,
        group_by=group_by,
        period=period,
        periods=axis,
        pool=None if group_by == "resource_pool" else pools[0],
        unit=unit,
        groups=groups,
        chart=chart,
    )


def _pools(metric: str, group_by: str, filters: Filters) -> list[ResourcePool]:
    """The pools read: the filter's, or all (grouped by pool), or the default one."""
    if filters.resource_pool is not None:
        pools = [filters.resource_pool]
    elif group_by == "resource_pool":
        pools = list(ResourcePool.objects.order_by("name"))
        if metric in JOB_METRICS:
            pools = [p for p in pools if p.metric == Metric.CORE_SECONDS]
    else:
        pools = [default_pool()]
    if metric in JOB_METRICS and any(p.metric != Metric.CORE_SECONDS for p in pools):
        raise ValidationError(
            f'{METRICS[metric]} is about batch jobs; resource pool "{pools[0]}" measures '
            f"{pools[0].get_metric_display().lower()}."
        )
    if not pools:
        raise ValidationError("There is no resource pool to report on.")
    return pools


def _sum_source(period: str, filters: Filters) -> tuple[type, str]:
    """Where sum pools are read from: the monthly rollup when it answers exactly."""
    if period == "day":
        return DailyUsage, "day"
    if _whole_months(filters.date_from, filters.date_to):
        return MonthlyUsage, period
    return DailyUsage, "month"


def _fetch(viewer, table, bucket: str, column: str, pool_ids: list[int], filters: Filters):
    rows: QuerySet = visible_usage(viewer, table.objects.filter(resource_pool_id__in=pool_ids))
    day = "day" if table is DailyUsage else "month"
    if filters.date_from:
        rows = rows.filter(**{f"{day}__gte": filters.date_from})
    if filters.date_to:
        rows = rows.filter(**{f"{day}__lte": filters.date_to})
    if filters.project is not None:
        if filters.subtree:
            ids = Project.objects.subtree(filters.project).values_list("pk", flat=True)
            rows = rows.filter(submitted_project_id__in=list(ids))
        else:
            rows = rows.filter(submitted_project_id=filters.project.pk)
    if filters.machine is not None:
        rows = rows.filter(machine_id=filters.machine.pk)
    if filters.institute is not None:
        rows = rows.filter(institute_id=filters.institute.pk)
    if filters.person is not None:
        rows = rows.filter(person_id=filters.person.pk)
    fields = (
        [bucket, column, "resource_pool_id"] if column != "resource_pool_id" else [bucket, column]
    )
    # An anonymous viewer sees nothing: no rows.
    result = grouped_rows(
        rows,
        fields,
        n_jobs=float_sum("jobs"),
        n_raw=float_sum("raw"),
        n_used=float_sum("used"),
        n_wait=float_sum("wait"),
    )
    # Floats from the database already (float_sum); a sum of no value at all is NULL.
    if column == "resource_pool_id":
        return [
            (bucket, when, key, key, jobs or 0.0, raw or 0.0, used or 0.0, wait or 0.0)
            for when, key, jobs, raw, used, wait in result
        ]
    return [
        (bucket, when, key, pool, jobs or 0.0, raw or 0.0, used or 0.0, wait or 0.0)
        for when, key, pool, jobs, raw, used, wait in result
    ]


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _bucket_start(bucket: str, value) -> date:
    if bucket == "year":
        return date(int(value), 1, 1)
    if bucket == "quarter":
        value = int(value)
        return date(value // 10, 3 * (value % 10 - 1) + 1, 1)
    return _as_date(value)


class _Labeller:
    """Period labels ("2100-03", "2100-Q1"), memoised: there are few distinct buckets."""

    def __init__(self, period: str):
        self.period = period
        self.memo: dict = {}

    def __call__(self, bucket: str, value) -> str:
        key = (bucket, value)
        found = self.memo.get(key)
        if found is None:
            found = self.memo[key] = period_label(_bucket_start(bucket, value), self.period)
        return found


def _period_axis(period: str, filters: Filters, rows: list[tuple]) -> list[str]:
    """Every period from the start to the end, empty ones included: a time axis.

    A range of more periods than `periods.MAX_PERIODS` allows (any range may be asked
    for: 0001-01-01 to 9999-12-31 by day is 3.6 million periods) is cut to the span of the
    usage the rows hold; if that is still too long, the request is refused."""
    days = [_bucket_start(b, v) for b, v in {(r[0], r[1]) for r in rows}]
    first = filters.date_from or (min(days) if days else None)
    last = filters.date_to or (max(days) if days else None)
    if first is None or last is None:
        return []
    if periods.count(first, last, period) > periods.MAX_PERIODS[period]:
        if not days:
            return []
        first, last = max(first, min(days)), min(last, max(days))
        periods.check_span(periods.count(first, last, period), period)
    return periods.axis(first, last, period)


def _sum_cells(rows, labeller: _Labeller) -> tuple[dict, dict]:
    """For sum pools only: measures [jobs, raw, used, wait] per (period label, group key)
    and per (TOTAL, group key), in one pass. What _aggregate gives twice, without its
    per-row aggregation test: the explorer's largest answers are tens of thousands of
    rows, and this loop is most of their time."""
    cells: dict[tuple, list[float]] = {}
    totals: dict[tuple, list[float]] = {}
    for bucket, when, key, _, jobs, raw, used, wait in rows:
        cell = (labeller(bucket, when), key)
        for table, at in ((cells, cell), (totals, (TOTAL, key))):
            found = table.get(at)
            if found is None:
                table[at] = [jobs, raw, used, wait]
            else:
                found[0] += jobs
                found[1] += raw
                found[2] += used
                found[3] += wait
    return cells, totals


def _aggregate(rows, by_pool: dict, label_of, key_of) -> dict[tuple, list[float]]:
    """Measures [jobs, raw, used, wait] per (period label, group key), by each pool's
    aggregation: sum pools add up; the others first total each day, then take the peak
    (average, last) of those daily totals."""
    sums: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    daily: dict[tuple, dict] = defaultdict(lambda: defaultdict(lambda: [0.0, 0.0]))
    aggregation_of: dict[tuple, str] = {}
    for row in rows:
        cell = (label_of(row), key_of(row))
        _, when, _, pool, jobs, raw, used, wait = row
        total = sums[cell]
        aggregation = by_pool[pool].aggregation
        if aggregation == Aggregation.SUM:
            total[1] += raw
            total[2] += used
        else:
            aggregation_of[cell] = aggregation
            day = daily[cell][str(when)]
            day[0] += raw
            day[1] += used
        total[0] += jobs
        total[3] += wait
    for cell, days in daily.items():
        ordered = [days[d] for d in sorted(days)]
        aggregation = aggregation_of[cell]
        sums[cell][1] += _across_days([d[0] for d in ordered], aggregation)
        sums[cell][2] += _across_days([d[1] for d in ordered], aggregation)
    return dict(sums)


def _fold(cells: dict[tuple, list[float]], keep: set) -> dict[tuple, list[float]]:
    """The measures of the groups not kept, added up per period as group OTHER (sum pools)."""
    folded: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    for (label, key), measures in cells.items():
        if key not in keep:
            total = folded[(label, OTHER)]
            for index, measure in enumerate(measures):
                total[index] += measure
    return dict(folded)


def _metric(metric: str, measures: list[float], pool: ResourcePool) -> float | None:
    jobs, raw, used, wait = measures
    unit = float(pool.unit_size)
    if metric == "used":
        return _round(used / unit)
    if metric == "raw":
        return _round(raw / unit)
    if metric == "jobs":
        return jobs
    if metric == "cpu_hours_per_job":
        return _round(raw / HOUR / jobs) if jobs else None
    return _round(wait / HOUR)


def _unit(metric: str, pool: ResourcePool) -> str:
    if metric in ("used", "raw"):
        return pool.units
    if metric == "jobs":
        return "jobs"
    return "hours"


def _round(value: float) -> float:
    return round(value, 6)


def _csv_number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.6f}".rstrip("0")


def _names(group_by: str, keys: set) -> dict:
    _, model, name_field, _ = GROUPS[group_by]
    return reports._names(model, name_field, {k for k in keys if k != OTHER})


def _label(names: dict, key) -> str:
    if key is None:
        return "(none)"
    return str(names.get(key, key))
