"""Reading usage: the report the CLI, API and pages share, and what each pool has used.

A pool's usage over a period follows its aggregation: sum pools add the daily amounts;
max pools take the peak of the daily totals (disk space); average pools average the daily
totals over the days that have any; last pools take the latest day's total. Amounts come
out in the pool's units (hours, KB), converted from base units only here.
"""

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.db.models.functions import TruncDay, TruncMonth, TruncQuarter, TruncYear

from allotment.core.numbers import plain
from allotment.grants.models import AllocationPool
from allotment.projects.models import Project
from allotment.resources.models import Aggregation, Machine, Metric, ResourcePool

from .models import Charge, DailyUsage

PERIODS = {"day": TruncDay, "month": TruncMonth, "quarter": TruncQuarter, "year": TruncYear}
GROUPS = {
    "project": ("submitted_project__pid", "project"),
    "charged-project": ("charged_project__pid", "charged_project"),
    "person": ("person__username", "person"),
    "institute": ("institute__pid", "institute"),
    "machine": ("machine__name", "machine"),
    "career-level": ("career_level__name", "career_level"),
    "project-level": ("project_level__name", "project_level"),
    "charge": ("charge", "charge"),
}


def period_label(day: date, by: str) -> str:
    if by == "day":
        return day.isoformat()
    if by == "month":
        return f"{day.year}-{day.month:02d}"
    if by == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    return str(day.year)


def default_pool() -> ResourcePool:
    pool = ResourcePool.objects.filter(metric=Metric.CORE_SECONDS).order_by("name").first()
    if pool is None:
        raise ValidationError("No resource pool measures batch jobs; give --pool NAME.")
    return pool


def report(
    *,
    project: str | None = None,
    subtree: bool = False,
    machine: str | None = None,
    pool: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    by: str = "month",
    group_by: str | None = None,
) -> list[dict]:
    """Usage per period (and group): jobs, raw and used in the pool's units."""
    if by not in PERIODS:
        raise ValidationError(f'--by must be one of {", ".join(PERIODS)}, not "{by}".')
    if group_by is not None and group_by not in GROUPS:
        raise ValidationError(f'--group-by must be one of {", ".join(GROUPS)}, not "{group_by}".')
    resource_pool = ResourcePool.objects.filter(name=pool).first() if pool else default_pool()
    if resource_pool is None:
        raise ValidationError(f'There is no resource pool "{pool}".')
    rows = DailyUsage.objects.filter(resource_pool=resource_pool)
    if project:
        root = Project.objects.filter(pid=project).first()
        if root is None:
            raise ValidationError(f'There is no project "{project}".')
        if subtree:
            ids = list(Project.objects.subtree(root).values_list("pk", flat=True))
            rows = rows.filter(submitted_project_id__in=ids)
        else:
            rows = rows.filter(submitted_project=root)
    if machine:
        found = Machine.objects.filter(name=machine).first()
        if found is None:
            raise ValidationError(f'There is no machine "{machine}".')
        rows = rows.filter(machine=found)
    if date_from:
        rows = rows.filter(day__gte=date_from)
    if date_to:
        rows = rows.filter(day__lte=date_to)
    key_path, key_name = GROUPS[group_by] if group_by else (None, None)
    unit = resource_pool.unit_size
    aggregation = resource_pool.aggregation

    if aggregation == Aggregation.SUM:
        fields = ["bucket", *([key_path] if key_path else [])]
        result = (
            rows.annotate(bucket=PERIODS[by]("day"))
            .values(*fields)
            .annotate(jobs=Sum("jobs"), raw=Sum("raw"), used=Sum("used"))
            .order_by(*fields)
        )
        return [
            {
                "period": period_label(r["bucket"], by),
                **({key_name: r[key_path]} if key_path else {}),
                "jobs": r["jobs"] or 0,
                "raw": plain(Decimal(r["raw"] or 0) / unit),
                "used": plain(Decimal(r["used"] or 0) / unit),
            }
            for r in result
        ]

    # max, average, last: first the daily totals per group, then across the period's days
    fields = ["day", *([key_path] if key_path else [])]
    daily = rows.values(*fields).annotate(jobs=Sum("jobs"), raw=Sum("raw"), used=Sum("used"))
    buckets: dict[tuple, list] = defaultdict(list)
    for r in daily.order_by(*fields):
        key = (period_label(r["day"], by), r[key_path] if key_path else None)
        buckets[key].append(
            (r["day"], r["jobs"] or 0, Decimal(r["raw"] or 0), Decimal(r["used"] or 0))
        )
    out = []
    for (label, key), days in sorted(buckets.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        raw = _across_days([d[2] for d in days], aggregation)
        used = _across_days([d[3] for d in days], aggregation)
        out.append(
            {
                "period": label,
                **({key_name: key} if key_path else {}),
                "jobs": sum(d[1] for d in days),
                "raw": plain(raw / unit),
                "used": plain(used / unit),
            }
        )
    return out


def _across_days(values: list[Decimal], aggregation: str) -> Decimal:
    if not values:
        return Decimal(0)
    if aggregation == Aggregation.MAX:
        return max(values)
    if aggregation == Aggregation.LAST:
        return values[-1]
    if aggregation == Aggregation.AVERAGE:
        return sum(values) / len(values)
    return sum(values)


def used_by_pool(pool_ids: Iterable[int]) -> dict[int, Decimal]:
    """What was charged to each allocation pool, in its units, by its aggregation."""
    pool_ids = list(pool_ids)
    if not pool_ids:
        return {}
    info = {
        pk: (aggregation, unit)
        for pk, aggregation, unit in AllocationPool.objects.filter(pk__in=pool_ids).values_list(
            "pk", "resource_pool__aggregation", "resource_pool__unit_size"
        )
    }
    daily: dict[int, list[Decimal]] = defaultdict(list)
    for pool, _, used in (
        DailyUsage.objects.filter(allocation_pool_id__in=pool_ids, charge=Charge.CHARGED)
        .values("allocation_pool", "day")
        .annotate(used=Sum("used"))
        .order_by("allocation_pool", "day")
        .values_list("allocation_pool", "day", "used")
    ):
        daily[pool].append(Decimal(used or 0))
    return {
        pk: _across_days(daily.get(pk, []), aggregation) / unit
        for pk, (aggregation, unit) in info.items()
    }
