"""The daily usage fact table, rebuilt from raw records for the days an import touched.

Rebuilding (delete the days, recompute them from the raw rows) rather than adding
increments keeps the table exactly equal to what the raw rows say, whatever was
re-imported or corrected. A job is split across the days it ran in proportion to its time
in each, in whole base units that add up exactly; it counts as a job, with its wait, on
the day it ended. When sub-projects draw on capped parents, whole allocation periods are
rebuilt, because a cap is consumed in day order from the period's start.
"""

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from allotment.projects.models import ProjectMembership
from allotment.resources.models import Aggregation, Metric, Resource

from . import bulk
from .charging import Charger, Target
from .days import DayClock, to_date
from .models import Charge, DailyUsage, Kind, MonthlyUsage

COLUMNS = (
    "day", "month", "kind", "machine_id", "resource_id", "resource_pool_id", "submitted_project_id",
    "charged_project_id", "allocation_pool_id", "person_id", "institute_id", "career_level_id",
    "project_level_id", "charge", "non_member", "jobs", "raw", "used", "wait",
)  # fmt: skip
TABLE = DailyUsage._meta.db_table
MONTHLY = MonthlyUsage._meta.db_table
DIMENSIONS = (
    "month", "kind", "machine_id", "resource_id", "resource_pool_id", "submitted_project_id",
    "charged_project_id", "allocation_pool_id", "person_id", "institute_id", "career_level_id",
    "project_level_id", "charge", "non_member",
)  # fmt: skip


class Dimensions:
    """Who is who: loaded once per rebuild."""

    def __init__(self, charger: Charger):
        from allotment.people.models import Person

        self.charger = charger
        self.person = {
            pk: (career, institute)
            for pk, career, institute in Person.objects.values_list(
                "pk", "career_level_id", "institute_id"
            )
        }
        self.level = {
            (person, project): level
            for person, project, level in ProjectMembership.objects.values_list(
                "person_id", "project_id", "project_level_id"
            )
        }

    def of(self, person: int | None, project: int | None):
        """(institute, career level, project level, non-member) for a person in a project."""
        career, home = self.person.get(person, (None, None)) if person else (None, None)
        institute = self.charger.institute(project) if project else home
        member = (person, project) in self.level
        level = self.level.get((person, project))
        return institute, career, level, bool(person and project and not member)


def resources_by_machine(metric: str) -> dict[int, list[tuple[int, int, Decimal, str]]]:
    found: dict[int, list] = defaultdict(list)
    for pk, machine, pool, scaling, aggregation in Resource.objects.filter(
        pool__metric=metric
    ).values_list("pk", "machine_id", "pool_id", "scaling_factor", "pool__aggregation"):
        found[machine].append((pk, pool, scaling, aggregation))
    return found


def _expand_for_caps(charger: Charger, first: int, last: int) -> tuple[int, int]:
    if not charger.caps:
        return first, last
    while True:  # overlapping periods can chain: widen until nothing more overlaps
        wider = first, last
        for start, end, _ in charger.periods:
            if start <= wider[1] and wider[0] <= end:
                wider = min(wider[0], start), max(wider[1], end)
        if wider == (first, last):
            return first, last
        first, last = wider


def _expand_resources_for_caps(charger: Charger, resources: list[int]) -> list[int]:
    """A cap is shared by every resource of a pool: rebuild them all together."""
    if not charger.caps or not resources:
        return resources
    pools = Resource.objects.filter(pk__in=resources).values("pool")
    return list(Resource.objects.filter(pool__in=pools).values_list("pk", flat=True))


def _delete(kind: str, first: int, last: int, resources: list[int] | None = None) -> None:
    sql = f"DELETE FROM {TABLE} WHERE kind = %s AND day >= %s AND day <= %s"
    params = [kind, to_date(first).isoformat(), to_date(last).isoformat()]
    if resources is not None:
        if not resources:
            return
        sql += f" AND resource_id IN ({', '.join(['%s'] * len(resources))})"
        params += resources
    bulk.execute(sql, params)


# A resource id no resource has: rows keyed with it are charged to no resource.
NO_RESOURCE = 0


def burst_partitions() -> set[tuple[int, str]]:
    """(machine, partition) pairs whose jobs run on burst VMs (the machine's engine option
    "burst": {"partitions": [...]}, for machines that burst into some cloud)."""
    from allotment.resources.models import Machine

    found = set()
    for pk, options in (
        Machine.objects.filter(burst_clouds__isnull=False)
        .distinct()
        .values_list("pk", "engine_options")
    ):
        for part in ((options or {}).get("burst") or {}).get("partitions", ["burst"]):
            found.add((pk, part))
    return found


def rebuild_vms(lo: int, hi: int, clock: DayClock | None = None) -> int:
    """Recompute VM usage (burst.VMCharge rows: each project's share of a VM's seconds)
    for every day touched by [lo, hi], split across days as jobs are; a VM counts once,
    on the day it ended, in the `jobs` column."""
    clock = clock or DayClock()
    charger = Charger()
    first, last = _expand_for_caps(charger, clock.day(lo), clock.last_day(lo, hi))
    _delete(Kind.VM, first, last)
    acc: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    begin, finish = clock.start(first), clock.start(last + 1)
    rows = bulk.select(
        "SELECT cloud_id, project_id, start_ts, end_ts, seconds FROM burst_vmcharge "
        "WHERE end_ts >= %s AND start_ts < %s",
        [begin, finish],
    )
    for machine, project, start, end, seconds in rows:
        end_day = clock.last_day(start, end)
        if seconds:
            for day, amount in clock.split(start, end, seconds):
                if first <= day <= last:
                    acc[(day, machine, None, project)][1] += amount
        if first <= end_day <= last:
            acc[(end_day, machine, None, project)][0] += 1
    written = _write(Kind.VM, acc, charger, resources_by_machine(Metric.VM_SECONDS))
    rollup_months(Kind.VM, first, last)
    return written


# The state of a run that Slurm ended to run the job again (`sacct --duplicates`).
REQUEUED = "REQUEUED"


def rebuild_jobs(lo: int, hi: int, clock: DayClock | None = None) -> int:
    """Recompute job usage for every day touched by [lo, hi] (epoch seconds)."""
    clock = clock or DayClock()
    charger = Charger()
    first, last = _expand_for_caps(charger, clock.day(lo), clock.last_day(lo, hi))
    _delete(Kind.JOB, first, last)
    acc: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    utc = clock.utc
    begin, finish = clock.start(first), clock.start(last + 1)
    rows = bulk.select(
        "SELECT machine_id, person_id, project_id, start_ts, end_ts, elapsed, cores, "
        "submit_ts, eligible_ts, state, partition FROM usage_job "
        "WHERE end_ts >= %s AND start_ts < %s",
        [begin, finish],
    )
    on_vms = burst_partitions()
    for row in rows:
        machine, person, project, start, end, elapsed, cores, submit, eligible, state, part = row
        raw = cores * elapsed
        if (machine, part) in on_vms:
            # Ran on burst VMs, whose time is charged as VM-seconds to the cloud's pool:
            # kept and reported (jobs, core-seconds, waits), charged to no resource here.
            tail: tuple = (NO_RESOURCE,)
        else:
            tail = ()
        if utc:
            day0 = start // 86400 + 719163
            end_day = (end - 1 if end > start else start) // 86400 + 719163
        else:
            day0, end_day = clock.day(start), clock.last_day(start, end)
        if raw:
            if day0 == end_day:
                if first <= day0 <= last:
                    acc[(day0, machine, person, project, *tail)][1] += raw
            else:
                for day, amount in clock.split(start, end, raw):
                    if first <= day <= last:
                        acc[(day, machine, person, project, *tail)][1] += amount
        if first <= end_day <= last:
            cell = acc[(end_day, machine, person, project, *tail)]
            # Each run of a requeued job is charged (it held the cores), but the job is
            # counted once: by the run that did not end in a requeue.
            if state != REQUEUED:
                cell[0] += 1
            waited_from = eligible if eligible is not None else submit
            if waited_from is not None and start > waited_from:
                cell[2] += start - waited_from
    written = _write(Kind.JOB, acc, charger, resources_by_machine(Metric.CORE_SECONDS))
    rollup_months(Kind.JOB, first, last)
    return written


# How long a storage snapshot's value holds when no newer snapshot of its key (resource,
# person, project) comes: long enough for monthly measurements, short enough that a key
# no longer measured (a project removed from the filesystem) fades out.
CARRY_DAYS = 31


def rebuild_storage(lo: int, hi: int, resources: list[int], clock: DayClock | None = None) -> int:
    """Recompute storage usage of `resources` for the days touched by [lo, hi].

    A snapshot's value holds until the next snapshot of its key (a disk is measured now
    and then; in between it held what was measured), for at most CARRY_DAYS days and
    never past the resource's newest snapshot, beyond which nothing is known. Days without
    a snapshot of their own carry it with a count of 0 snapshots. Sum pools (amounts that
    add up, not levels) do not carry. So the days a change can reach are bounded: from
    CARRY_DAYS before it (a newest snapshot moving on lets older values hold longer) to
    CARRY_DAYS after it."""
    clock = clock or DayClock()
    charger = Charger()
    if not resources:
        return 0
    marks = ", ".join(["%s"] * len(resources))
    first, last = clock.day(lo), clock.day(hi)
    # The resource's newest snapshot before this change: values it ended may hold longer.
    before = bulk.select(
        f"SELECT MAX(timestamp) FROM usage_storagesnapshot WHERE resource_id IN ({marks}) "
        "AND timestamp < %s",
        [*resources, clock.start(first)],
    )
    earlier = next(iter(before), (None,))[0]
    first = min(first - CARRY_DAYS, clock.day(earlier) + 1 if earlier is not None else first)
    first, last = _expand_for_caps(charger, first, last + CARRY_DAYS)
    resources = _expand_resources_for_caps(charger, resources)
    _delete(Kind.STORAGE, first, last, resources)
    marks = ", ".join(["%s"] * len(resources))
    info = {
        pk: (machine, pool, scaling, aggregation)
        for pk, machine, pool, scaling, aggregation in Resource.objects.filter(
            pk__in=resources
        ).values_list("pk", "machine_id", "pool_id", "scaling_factor", "pool__aggregation")
    }
    newest = {
        resource: clock.day(ts)
        for resource, ts in bulk.select(
            f"SELECT resource_id, MAX(timestamp) FROM usage_storagesnapshot "
            f"WHERE resource_id IN ({marks}) GROUP BY resource_id",
            resources,
        )
    }
    # Per key, per day: the day's snapshots in time order (from CARRY_DAYS before the
    # window, whose values may hold into it).
    samples: dict[tuple, dict[int, list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
    for resource, project, person, size, ts in bulk.select(
        "SELECT resource_id, project_id, person_id, bytes, timestamp FROM usage_storagesnapshot "
        f"WHERE timestamp >= %s AND timestamp < %s AND resource_id IN ({marks})",
        [clock.start(first - CARRY_DAYS), clock.start(last + 1), *resources],
    ):
        samples[(resource, person, project)][clock.day(ts)].append((ts, size))
    acc: dict[tuple, list[int]] = {}
    per_machine: dict[int, list] = defaultdict(list)
    for (resource, person, project), by_day in samples.items():
        machine, pool, scaling, aggregation = info[resource]
        held_until = newest[resource]
        days = sorted(by_day)
        for n, when in enumerate(days):
            values = sorted(by_day[when])
            sizes = [size for _, size in values]
            if aggregation == Aggregation.MAX:
                amount = max(sizes)
            elif aggregation == Aggregation.LAST:
                amount = sizes[-1]
            elif aggregation == Aggregation.AVERAGE:
                amount = sum(sizes) // len(sizes)
            else:
                amount = sum(sizes)
            if first <= when <= last:
                acc[(when, machine, person, project, resource)] = [len(sizes), amount, 0]
            if aggregation == Aggregation.SUM:
                continue
            # The value left at the day's end holds until the next snapshot of the key.
            following = days[n + 1] if n + 1 < len(days) else when + CARRY_DAYS + 1
            until = min(following - 1, when + CARRY_DAYS, held_until, last)
            for carried in range(max(when + 1, first), until + 1):
                acc[(carried, machine, person, project, resource)] = [0, sizes[-1], 0]
        entry = (resource, pool, scaling, aggregation)
        if entry not in per_machine[machine]:
            per_machine[machine].append(entry)
    written = _write(Kind.STORAGE, acc, charger, per_machine)
    rollup_months(Kind.STORAGE, first, last)
    return written


def _write(kind: str, acc: dict, charger: Charger, resources: dict) -> int:
    dims = Dimensions(charger)
    rows: list[list] = []
    capped: dict[tuple, list[list]] = defaultdict(list)
    for key, (jobs, raw, wait) in acc.items():
        day, machine, person, project = key[:4]
        only = key[4] if len(key) > 4 else None
        institute, career, level, non_member = dims.of(person, project)
        targets = [r for r in resources.get(machine, ()) if only is None or r[0] == only]
        if not targets:
            targets = [(None, None, Decimal(0), Aggregation.SUM)]
        for resource, pool, scaling, aggregation in targets:
            target: Target = charger.target(project, day, pool)
            when = to_date(day)
            row = [
                when.isoformat(), when.replace(day=1).isoformat(), kind, machine, resource,
                pool, project,
                target.charged_project, target.allocation_pool, person, institute, career,
                level, target.charge, non_member, jobs, raw, Decimal(raw) * scaling, wait,
            ]  # fmt: skip
            if target.cap is not None:
                capped[(project, pool, target.period, aggregation, target.cap)].append(row)
            else:
                rows.append(row)
    for (_, _, _, aggregation, cap), group in capped.items():
        rows.extend(_apply_cap(group, cap, aggregation))
    bulk.insert(TABLE, COLUMNS, rows)
    return len(rows)


def rollup_months(kind: str, first: int, last: int) -> None:
    """Rebuild the monthly table for the months holding days [first, last]."""
    m0 = to_date(first).replace(day=1).isoformat()
    m1 = to_date(last).replace(day=1).isoformat()
    bulk.execute(f"DELETE FROM {MONTHLY} WHERE kind = %s AND month >= %s AND month <= %s",
                 [kind, m0, m1])  # fmt: skip
    dims = ", ".join(DIMENSIONS)
    bulk.execute(
        f"INSERT INTO {MONTHLY} ({dims}, jobs, raw, used, wait, quarter, year) "
        f"SELECT {dims}, SUM(jobs), SUM(raw), SUM(used), SUM(wait), 0, 0 FROM {TABLE} "
        f"WHERE kind = %s AND month >= %s AND month <= %s GROUP BY {dims}",
        [kind, m0, m1],
    )
    # Quarter and year of each month, set per month (a handful of updates, no SQL dialect).
    month = to_date(first).replace(day=1)
    end = to_date(last).replace(day=1)
    while month <= end:
        bulk.execute(
            f"UPDATE {MONTHLY} SET quarter = %s, year = %s WHERE kind = %s AND month = %s",
            [month.year * 10 + (month.month - 1) // 3 + 1, month.year, kind, month.isoformat()],
        )
        month = (month + timedelta(days=32)).replace(day=1)


def _apply_cap(rows: list[list], cap: Decimal, aggregation: str) -> list[list]:
    """Charge a capped sub-project's rows to its parent's pool in day order until the cap
    is used; the rest becomes over-allocation rows charged to nobody. For a sum pool the
    cap is consumed over the period; for max, average and last pools it applies per day."""
    out: list[list] = []
    # Row layout: see COLUMNS (0 day, 9 person, 13 charge, 15 jobs, 16 raw, 17 used, 18 wait).
    rows.sort(key=lambda r: (r[0], r[9] or 0, r[3]))
    consumed, current_day = Decimal(0), None
    for row in rows:
        if aggregation != Aggregation.SUM and row[0] != current_day:
            consumed, current_day = Decimal(0), row[0]
        used = row[17]
        room = max(cap - consumed, Decimal(0))
        if used <= room:
            consumed += used
            out.append(row)
            continue
        over = list(row)
        charged_raw = int(row[16] * room / used) if used else 0
        row[16], row[17] = charged_raw, room
        over[16], over[17] = over[16] - charged_raw, used - room
        over[7] = over[8] = None  # charged project, allocation pool
        over[13] = Charge.OVER
        if room > 0:
            over[15] = over[18] = 0  # the job count and wait stay on the charged part
            out.append(row)
        consumed = cap
        out.append(over)
    return out
