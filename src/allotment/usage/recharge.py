"""Charging stored usage again when the ledger changes under it.

Charges are worked out when usage is aggregated. Allocations are often granted after a
period has begun, projects move, modes and caps change: then the usage already stored must
follow. Charging depends only on (submitted project, the day's periods, resource pool), so
each such combination is one UPDATE of the daily rows, not a re-aggregation of raw jobs.
Where caps are involved (a cap is consumed in day order and splits rows) the affected
periods are rebuilt from the raw records instead.

Membership flags (non_member, project level) are not rewritten: they record the membership
as it was when the usage was aggregated.
"""

import itertools
from collections.abc import Iterable
from datetime import date

from allotment.grants.models import AllocationPeriod
from allotment.resources.models import Metric, Resource

from . import aggregate
from .charging import Charger
from .days import DayClock, to_date
from .models import Charge, DailyUsage, Kind


def _segments(charger: Charger, first: int, last: int) -> list[tuple[int, int]]:
    """[first, last] cut where the set of periods covering a day changes."""
    cuts = {first, last + 1}
    for start, end, _ in charger.periods:
        for point in (start, end + 1):
            if first < point <= last:
                cuts.add(point)
    points = sorted(cuts)
    return [(a, b - 1) for a, b in itertools.pairwise(points)]


def recharge(
    project_ids: Iterable[int] | None = None,
    first: date | None = None,
    last: date | None = None,
) -> int:
    """Re-charge stored usage of these projects (None: all) between these days (None: all).
    Returns the number of (project, pool, segment) combinations looked at."""
    rows = DailyUsage.objects.exclude(submitted_project=None).exclude(resource_pool=None)
    if project_ids is not None:
        rows = rows.filter(submitted_project_id__in=list(project_ids))
    if first is not None:
        rows = rows.filter(day__gte=first)
    if last is not None:
        rows = rows.filter(day__lte=last)
    span = rows.order_by("day").values_list("day", flat=True)
    low, high = span.first(), rows.order_by("-day").values_list("day", flat=True).first()
    if low is None:
        return 0
    charger = Charger()
    pairs = rows.values_list("submitted_project_id", "resource_pool_id").distinct()
    segments = _segments(charger, low.toordinal(), high.toordinal())
    to_rebuild: list[tuple[int, int]] = []
    looked = 0
    for project, pool in pairs:
        for a, b in segments:
            looked += 1
            scope = rows.filter(
                submitted_project_id=project,
                resource_pool_id=pool,
                day__gte=to_date(a),
                day__lte=to_date(b),
            )
            target = charger.target(project, a, pool)
            if target.cap is not None or scope.filter(charge=Charge.OVER).exists():
                to_rebuild.append((a, b))
                continue
            scope.exclude(
                charged_project_id=target.charged_project,
                allocation_pool_id=target.allocation_pool,
                charge=target.charge,
            ).update(
                charged_project_id=target.charged_project,
                allocation_pool_id=target.allocation_pool,
                charge=target.charge,
            )
    clock = DayClock()
    if to_rebuild:
        a, b = min(r[0] for r in to_rebuild), max(r[1] for r in to_rebuild)
        aggregate.rebuild_jobs(clock.start(a), clock.start(b + 1))
        storage = list(
            Resource.objects.filter(pool__metric=Metric.BYTES).values_list("pk", flat=True)
        )
        aggregate.rebuild_storage(clock.start(a), clock.start(b + 1) - 1, storage)
    for kind in (Kind.JOB, Kind.STORAGE):
        aggregate.rollup_months(kind, low.toordinal(), high.toordinal())
    return looked


def recharge_period(period: AllocationPeriod, project_ids: Iterable[int] | None = None) -> int:
    return recharge(project_ids, period.start, period.end)


def reassign_institutes(project_ids: Iterable[int]) -> None:
    """After a move, stored usage of the moved projects counts for their new institute."""
    from .models import MonthlyUsage

    charger = Charger()
    by_root: dict[int, list[int]] = {}
    for pk in project_ids:
        by_root.setdefault(charger.institute(pk), []).append(pk)
    for root, ids in by_root.items():
        for table in (DailyUsage, MonthlyUsage):
            table.objects.filter(submitted_project_id__in=ids).exclude(institute_id=root).update(
                institute_id=root
            )
