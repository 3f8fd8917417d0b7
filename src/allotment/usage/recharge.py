"""Charging stored usage again when the ledger changes under it.

Charges are worked out when usage is aggregated. Allocations are often granted after a
period has begun, projects move, modes and caps change: then the usage already stored must
follow. Charging depends only on (submitted project, the day's periods, resource pool), so
the daily rows are rewritten by UPDATEs, not re-aggregated from raw jobs: one per (stretch
of days with the same periods, resource pool, target), for every project charged alike.
Where caps are involved (a cap is consumed in day order and splits rows) the affected
periods are rebuilt from the raw records instead.

Membership flags (non_member, project level) are not rewritten: they record the membership
as it was when the usage was aggregated.
"""

import bisect
import itertools
from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from allotment.grants.models import AllocationPeriod

from . import aggregate, bulk, rebuild
from .charging import Charger, Target
from .days import to_date
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
    starts = [a for a, _ in segments]
    # Which (project, pool, segment) hold over-allocation rows: one query for all.
    over = {
        (project, pool, segments[bisect.bisect_right(starts, day.toordinal()) - 1])
        for project, pool, day in rows.filter(charge=Charge.OVER)
        .values_list("submitted_project_id", "resource_pool_id", "day")
        .distinct()
    }
    to_rebuild: list[tuple[int, int]] = []
    # (segment, resource pool, target) -> the projects charged that way there
    groups: dict[tuple[tuple[int, int], int, Target], list[int]] = defaultdict(list)
    looked = 0
    for project, pool in pairs:
        for segment in segments:
            looked += 1
            target = charger.target(project, segment[0], pool)
            if target.cap is not None or (project, pool, segment) in over:
                to_rebuild.append(segment)
                continue
            groups[(segment, pool, target)].append(project)
    changed: list[int] = []  # the days of the segments where a row changed
    for ((a, b), pool, target), projects in groups.items():
        for part in bulk.chunks(projects):
            count = (
                rows.filter(
                    submitted_project_id__in=part,
                    resource_pool_id=pool,
                    day__gte=to_date(a),
                    day__lte=to_date(b),
                )
                .exclude(
                    charged_project_id=target.charged_project,
                    allocation_pool_id=target.allocation_pool,
                    charge=target.charge,
                )
                .update(
                    charged_project_id=target.charged_project,
                    allocation_pool_id=target.allocation_pool,
                    charge=target.charge,
                )
            )
            if count:
                changed += [a, b]
    rebuilt: tuple[int, int] | None = None
    if to_rebuild:
        a, b = min(r[0] for r in to_rebuild), max(r[1] for r in to_rebuild)
        rebuild.rebuild_days(to_date(a), to_date(b))  # rolls up the months it rebuilt
        rebuilt = aggregate._expand_for_caps(charger, a, b)
    if changed:
        a, b = min(changed), max(changed)
        if rebuilt is None or not _same_months_within(a, b, *rebuilt):
            for kind in (Kind.JOB, Kind.STORAGE):
                aggregate.rollup_months(kind, a, b)
    return looked


def _same_months_within(a: int, b: int, first: int, last: int) -> bool:
    """Whether the months of days [a, b] are among those of days [first, last]."""

    def month(ordinal: int) -> date:
        return to_date(ordinal).replace(day=1)

    return month(first) <= month(a) and month(b) <= month(last)


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
