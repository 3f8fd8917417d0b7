"""Which allocation pool pays for a project's usage on a day.

- A project with its own pool for the period and resource pool is charged there, whatever
  its allocation mode.
- Otherwise, if its parent is *capped* and has a pool, the parent's pool is charged up to
  the project's cap (AllocationCap, per resource pool, per period); the rest is flagged
  as over allocation and charged to nobody.
- Otherwise the nearest *shared* ancestor with a pool is charged.
- Otherwise the usage is unallocated: kept and reported, charged to nobody.
"""

from dataclasses import dataclass
from decimal import Decimal

from allotment.grants.models import AllocationCap, AllocationPeriod, AllocationPool
from allotment.projects.models import AllocationMode, Project

from .models import Charge


@dataclass(frozen=True)
class Target:
    charged_project: int | None
    allocation_pool: int | None
    charge: str
    period: int | None = None
    cap: Decimal | None = None  # in base units, when drawn from a capped parent


UNALLOCATED = Target(None, None, Charge.UNALLOCATED)


class Charger:
    """Loads the project tree, periods, pools and caps once; answers per (project, day,
    resource pool) from memory."""

    def __init__(self):
        self.parent: dict[int, int | None] = {}
        self.mode: dict[int, str] = {}
        for pk, parent, mode in Project.objects.values_list("pk", "parent_id", "allocation_mode"):
            self.parent[pk], self.mode[pk] = parent, mode
        self.periods = [
            (p.start.toordinal(), p.end.toordinal(), p.pk)
            for p in AllocationPeriod.objects.order_by("start", "pk")
        ]
        self.pools = {
            (project, period, rp): pk
            for pk, project, period, rp in AllocationPool.objects.values_list(
                "pk", "project_id", "period_id", "resource_pool_id"
            )
        }
        self.caps = {
            (project, rp): (quantity, unit_size)
            for project, rp, quantity, unit_size in AllocationCap.objects.values_list(
                "project_id", "resource_pool_id", "quantity", "resource_pool__unit_size"
            )
        }
        self._cache: dict[tuple[int, int, int], Target] = {}

    def institute(self, project: int) -> int:
        while self.parent.get(project) is not None:
            project = self.parent[project]
        return project

    def periods_on(self, ordinal: int) -> list[int]:
        return [pk for start, end, pk in self.periods if start <= ordinal <= end]

    def target(self, project: int | None, ordinal: int, resource_pool: int | None) -> Target:
        if project is None or resource_pool is None:
            return UNALLOCATED
        periods = tuple(self.periods_on(ordinal))
        key = (project, periods, resource_pool)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._resolve(project, periods, resource_pool)
        return found

    def _resolve(self, project: int, periods: tuple[int, ...], rp: int) -> Target:
        for period in periods:
            own = self.pools.get((project, period, rp))
            if own is not None:
                return Target(project, own, Charge.CHARGED, period)
        parent = self.parent.get(project)
        if parent is not None and self.mode.get(parent) == AllocationMode.CAPPED:
            for period in periods:
                pool = self.pools.get((parent, period, rp))
                if pool is not None:
                    quantity, unit_size = self.caps.get((project, rp), (Decimal(0), Decimal(1)))
                    return Target(parent, pool, Charge.CHARGED, period, quantity * unit_size)
        ancestor = parent
        while ancestor is not None:
            if self.mode.get(ancestor) == AllocationMode.SHARED:
                for period in periods:
                    pool = self.pools.get((ancestor, period, rp))
                    if pool is not None:
                        return Target(ancestor, pool, Charge.CHARGED, period)
            ancestor = self.parent.get(ancestor)
        return UNALLOCATED
