"""Reading usage: the report the CLI, API and pages share, and what each pool has used.

A pool's usage over a period follows its aggregation: sum pools add the daily amounts;
max pools take the peak of the daily totals (disk space); average pools average the daily
totals over the days that have any; last pools take the latest day's total. Amounts come
out in the pool's units (hours, KB), converted from base units only here.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal

from django.core.exceptions import EmptyResultSet, ValidationError
from django.db import connection
from django.db.models import FloatField, QuerySet, Sum
from django.db.models.functions import Cast

from allotment.core.compiled import CompiledQuery
from allotment.core.prepared import planned_each_time
from allotment.grants.models import AllocationPool
from allotment.projects.models import Project
from allotment.resources.models import Aggregation, Machine, Metric, ResourcePool

from . import bulk, dimensions, periods
from .models import Charge, DailyUsage, MonthlyUsage

PERIODS = ("day", "month", "quarter", "year")
# group-by name -> (DailyUsage column, the model whose name is shown, its name field, key)
GROUPS = dimensions.report_groups()


def period_label(day: date, by: str) -> str:
    if by == "day":
        return day.isoformat()
    if by == "month":
        return f"{day.year}-{day.month:02d}"
    if by == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    return str(day.year)


def _whole_months(date_from: date | None, date_to: date | None) -> bool:
    """Whether [date_from, date_to] (either open) is made of whole months: then the monthly
    rollup answers exactly."""
    return (date_from is None or date_from.day == 1) and (
        date_to is None or periods.is_month_end(date_to)
    )


def float_sum(field: str) -> Cast:
    """SUM(field) as a double in the database. PostgreSQL sums bigint and numeric columns
    to numeric, which the driver turns into a Decimal per value: on the explorer's tens of
    thousands of grouped rows that costs more than the query. Totals shown are floats
    anyway (exact to the cent of a billion core-hours)."""
    return Cast(Sum(field), FloatField())


def grouped_rows(rows: QuerySet, fields: Sequence[str], **measures) -> list[tuple]:
    """`rows` grouped by `fields` in the database, as tuples (*fields, *measures).

    A plain cursor: Django's per-row converters would cost more than the query on hundreds
    of thousands of grouped rows. Never a prepared statement: PostgreSQL's generic plan
    for one would fit one date range or project badly and cost up to half as much again
    on the explorer's queries, while planning costs little beside them. A query that can
    match nothing (e.g. a viewer who may see nothing) gives no rows."""
    grouped = rows.values(*fields).annotate(**measures).order_by().values_list(*fields, *measures)
    try:
        sql, params = grouped.query.sql_with_params()
    except EmptyResultSet:
        return []
    with planned_each_time(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# Asked by every report that names no pool: compiled once (core.compiled).
_JOB_POOL = CompiledQuery(
    lambda: ResourcePool.objects.filter(metric=Metric.CORE_SECONDS).order_by("name")[:1]
)


def job_pool() -> ResourcePool | None:
    """The first resource pool (by name) measuring batch jobs, if any."""
    return next(iter(_JOB_POOL.objects()), None)


def default_pool() -> ResourcePool:
    pool = job_pool()
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
    viewer=None,
) -> list[dict]:
    """Usage per period (and group): jobs, raw and used in the pool's units.

    With a `viewer`, only the usage that person may see is counted (access.policy), and a
    project they may not see is answered as if it did not exist.

    The database groups on plain columns (day or month, and the group's id); months are
    merged into quarters and years, and ids turned into names, here. That keeps every
    query an index-friendly GROUP BY with no per-row function and no join.
    """
    if by not in PERIODS:
        raise ValidationError(f'--by must be one of {", ".join(PERIODS)}, not "{by}".')
    if group_by is not None and group_by not in GROUPS:
        raise ValidationError(f'--group-by must be one of {", ".join(GROUPS)}, not "{group_by}".')
    resource_pool = ResourcePool.objects.filter(name=pool).first() if pool else default_pool()
    if resource_pool is None:
        raise ValidationError(f'There is no resource pool "{pool}".')
    aggregation = resource_pool.aggregation
    # Sum pools can add months up in the database; the others need each day's total.
    bucket = "month" if by != "day" and aggregation == Aggregation.SUM else "day"
    whole_months = _whole_months(date_from, date_to)
    table = MonthlyUsage if bucket == "month" and whole_months else DailyUsage
    rows = table.objects.filter(resource_pool=resource_pool)
    if viewer is not None:
        from allotment.access.policy import visible_projects, visible_usage

        rows = visible_usage(viewer, rows)
    if project:
        projects = Project.objects.all() if viewer is None else visible_projects(viewer)
        root = projects.filter(pid=project).first()
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
    day = "month" if table is MonthlyUsage else "day"
    if table is MonthlyUsage and by in ("quarter", "year"):
        bucket = by
    if date_from:
        rows = rows.filter(**{f"{day}__gte": date_from})
    if date_to:
        rows = rows.filter(**{f"{day}__lte": date_to})
    column, model, name_field, key_name = GROUPS[group_by] if group_by else (None,) * 4
    fields = [bucket, *([column] if column else [])]
    # Totals for display: floats are exact enough to show and far cheaper to add up here.
    result = grouped_rows(
        rows,
        fields,
        jobs=Sum("jobs"),
        raw=float_sum("raw"),
        used=float_sum("used"),
    )
    labels: dict = {}

    def label(when) -> str:
        found = labels.get(when)
        if found is None:
            if bucket == "year":
                found = str(when)
            elif bucket == "quarter":
                found = f"{when // 10}-Q{when % 10}"
            else:
                day = when if isinstance(when, date) else date.fromisoformat(str(when)[:10])
                found = period_label(day, by)
            labels[when] = found
        return found

    ids = {values[1] for values in result} if column else set()
    names = _names(model, name_field, ids) if model else {}
    unit = float(resource_pool.unit_size)
    out = []
    if aggregation == Aggregation.SUM and bucket == by:
        # One database row is one report row: no merging needed.
        for values in result:
            row = {"period": label(values[0])}
            if column:
                row[key_name] = names.get(values[1], values[1]) if model else values[1]
            row["jobs"] = values[-3] or 0
            row["raw"] = _number(float(values[-2] or 0) / unit)
            row["used"] = _number(float(values[-1] or 0) / unit)
            out.append(row)
    else:
        cells: dict[tuple, list] = defaultdict(list)
        for values in result:
            key = values[1] if column else None
            jobs, raw, used = values[-3:]
            cells[(label(values[0]), key)].append(
                (jobs, float(raw or 0), float(used or 0), str(values[0]))
            )
        for (period, key), parts in cells.items():
            if aggregation == Aggregation.SUM:
                raw = sum(p[1] or 0 for p in parts)
                used = sum(p[2] or 0 for p in parts)
            else:
                parts.sort(key=lambda p: p[3])
                raw = _across_days([p[1] or 0 for p in parts], aggregation)
                used = _across_days([p[2] or 0 for p in parts], aggregation)
            row = {"period": period}
            if column:
                row[key_name] = names.get(key, key) if model else key
            row["jobs"] = sum(p[0] or 0 for p in parts)
            row["raw"] = _number(raw / unit)
            row["used"] = _number(used / unit)
            out.append(row)
    # Only periods with usage are rows, so any range is answered; its size is bounded.
    periods.check_periods_with_usage(len(set(labels.values())), by)
    periods.check_rows(len(out))
    out.sort(key=lambda r: (r["period"], "" if not column else str(r[key_name] or "")))
    return out


def _names(model: str, field: str, ids: set) -> dict:
    from django.apps import apps

    ids.discard(None)
    manager = apps.get_model(model).objects
    found: dict = {}
    for part in bulk.chunks(list(ids)):
        found.update(manager.filter(pk__in=part).values_list("pk", field))
    return found


def _number(value: float) -> int | float:
    """A total for display: whole numbers as ints, others rounded to 6 decimals."""
    rounded = round(value, 6)
    return int(rounded) if rounded == int(rounded) else rounded


def _across_days(values: list, aggregation: str):
    if not values:
        return 0
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
    charged = DailyUsage.objects.filter(charge=Charge.CHARGED)
    # A sum across days is one total per pool in the database; the other aggregations
    # (peak, last, average) need each day's total.
    summed = [pk for pk, (aggregation, _) in info.items() if aggregation == Aggregation.SUM]
    totals: dict[int, Decimal] = dict.fromkeys(summed, Decimal(0))
    if summed:
        for pool, used in (
            charged.filter(allocation_pool_id__in=summed)
            .values("allocation_pool")
            .annotate(used=Sum("used"))
            .order_by()
            .values_list("allocation_pool", "used")
        ):
            totals[pool] = Decimal(used or 0)
    daily: dict[int, list[Decimal]] = defaultdict(list)
    by_day = [pk for pk in info if pk not in totals]
    if by_day:
        for pool, _, used in (
            charged.filter(allocation_pool_id__in=by_day)
            .values("allocation_pool", "day")
            .annotate(used=Sum("used"))
            .order_by("allocation_pool", "day")
            .values_list("allocation_pool", "day", "used")
        ):
            daily[pool].append(Decimal(used or 0))
    return {
        pk: (totals[pk] if pk in totals else _across_days(daily.get(pk, []), aggregation)) / unit
        for pk, (aggregation, unit) in info.items()
    }
