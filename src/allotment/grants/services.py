"""Allocation arithmetic: what a pool was given, what it used and what remains."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet, Sum
from django.db.models.functions import Coalesce

from allotment.core.numbers import plain
from allotment.core.validation import apply_changes, get_named, refuse_taken_name, save_validated

from .models import Allocation, AllocationPeriod, AllocationPool, Grant, Scheme

ZERO = Decimal(0)


@dataclass(frozen=True)
class PoolSummary:
    pool_id: int
    project: str
    pool: str
    units: str
    aggregation: str
    period: str
    period_start: date
    period_end: date
    allocated: Decimal
    used: Decimal

    @property
    def remaining(self) -> Decimal:
        return self.allocated - self.used

    @property
    def percent_used(self) -> float | None:
        if not self.allocated:
            return None
        return float(self.used / self.allocated * 100)

    def as_dict(self) -> dict:
        return {
            "project": self.project,
            "pool": self.pool,
            "units": self.units,
            "aggregation": self.aggregation,
            "period": self.period,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "allocated": plain(self.allocated),
            "used": plain(self.used),
            "remaining": plain(self.remaining),
            "percent_used": None if self.percent_used is None else round(self.percent_used, 2),
        }


_usage_sources: list = []


def register_usage_source(source) -> None:
    """The usage app tells grants how to read what was charged to pools (it sits above
    grants, so grants cannot import it)."""
    if source not in _usage_sources:
        _usage_sources.append(source)


def used_by_pool(pool_ids: Iterable[int]) -> dict[int, Decimal]:
    """What has been charged to each allocation pool, in the pool's units."""
    pool_ids = list(pool_ids)
    used = dict.fromkeys(pool_ids, ZERO)
    for source in _usage_sources:
        for pool_id, amount in source(pool_ids).items():
            used[pool_id] += amount
    return used


def with_allocated(pools: QuerySet[AllocationPool]) -> QuerySet[AllocationPool]:
    """Annotate `allocated` (the sum of the pool's allocations) in one query."""
    return pools.annotate(allocated=Coalesce(Sum("allocations__quantity"), ZERO))


def summarise(pools: QuerySet[AllocationPool]) -> list[PoolSummary]:
    rows = list(with_allocated(pools).select_related("project", "period", "resource_pool"))
    used = used_by_pool(p.pk for p in rows)
    return [
        PoolSummary(
            pool_id=p.pk,
            project=p.project.pid,
            pool=p.resource_pool.name,
            units=p.resource_pool.units,
            aggregation=p.resource_pool.aggregation,
            period=p.period.name,
            period_start=p.period.start,
            period_end=p.period.end,
            allocated=Decimal(p.allocated),
            used=used.get(p.pk, ZERO),
        )
        for p in rows
    ]


def project_pools(project, period: str | None = None) -> list[PoolSummary]:
    pools = AllocationPool.objects.filter(project=project)
    if period is not None:
        if not AllocationPeriod.objects.filter(name=period).exists():
            raise ValidationError(f'There is no allocation period "{period}".')
        pools = pools.filter(period__name=period)
    return summarise(pools.order_by("-period__start", "resource_pool__name"))


def create_grant(
    project,
    scheme: Scheme,
    begins: date,
    expires: date,
    awarded: date | None = None,
    description: str = "",
) -> Grant:
    grant = Grant(
        project=project,
        scheme=scheme,
        begins=begins,
        expires=expires,
        description=description,
        **({"awarded": awarded} if awarded else {}),
    )
    return save_validated(grant)


def allocate(
    grant: Grant, period: AllocationPeriod, resource_pool, quantity: Decimal, description: str = ""
) -> Allocation:
    """Add `quantity` to the grant's project's pool for the period, creating the pool if new."""
    with transaction.atomic():
        pool = AllocationPool.objects.filter(
            project=grant.project, period=period, resource_pool=resource_pool
        ).first() or save_validated(
            AllocationPool(project=grant.project, period=period, resource_pool=resource_pool)
        )
        return save_validated(
            Allocation(
                grant=grant, allocation_pool=pool, quantity=quantity, description=description
            )
        )


# Schemes and allocation periods: site set-up -------------------------------------------

SCHEME_FIELDS = ("name", "description", "opened", "closed")
PERIOD_FIELDS = ("name", "start", "end")


def get_scheme(name: str) -> Scheme:
    return get_named(Scheme.objects, "scheme", name)


def create_scheme(name: str, **fields) -> Scheme:
    refuse_taken_name(Scheme, "scheme", name)
    return apply_changes(Scheme(name=name), SCHEME_FIELDS, fields)


def update_scheme(scheme: Scheme, **changes) -> Scheme:
    if "name" in changes:
        refuse_taken_name(Scheme, "scheme", changes["name"], scheme)
    return apply_changes(scheme, SCHEME_FIELDS, changes)


def scheme_dict(scheme: Scheme) -> dict:
    return {
        "name": scheme.name,
        "description": scheme.description,
        "opened": scheme.opened,
        "closed": scheme.closed,
        "grants": scheme.grants.count(),
    }


def get_period(name: str) -> AllocationPeriod:
    return get_named(AllocationPeriod.objects, "allocation period", name)


def create_period(name: str, start: date, end: date) -> AllocationPeriod:
    """A new allocation period. Periods may overlap (a site may run a year and its
    quarters side by side); each allocation pool names the one it draws on."""
    refuse_taken_name(AllocationPeriod, "allocation period", name)
    return save_validated(AllocationPeriod(name=name, start=start, end=end))


def update_period(period: AllocationPeriod, **changes) -> AllocationPeriod:
    """Change a period's name or dates; refuses dates that would leave an existing
    allocation's grant outside the period, since that allocation could no longer be made."""
    if "name" in changes:
        refuse_taken_name(AllocationPeriod, "allocation period", changes["name"], period)
    start, end = changes.get("start", period.start), changes.get("end", period.end)
    stranded = (
        Allocation.objects.filter(allocation_pool__period=period)
        .exclude(grant__begins__lte=end, grant__expires__gte=start)
        .select_related("grant__project", "grant__scheme")
        .order_by("grant_id")
    )
    grants = list(dict.fromkeys(a.grant for a in stranded[:20]))
    if grants:
        listed = "; ".join(f"{g} runs {g.begins} to {g.expires}" for g in grants)
        raise ValidationError(
            {
                "start" if "start" in changes else "end": f'Period "{period.name}" cannot run '
                f"{start} to {end}: allocations in it were made under grants it would no "
                f"longer overlap ({listed})."
            }
        )
    return apply_changes(period, PERIOD_FIELDS, changes)


def period_dict(period: AllocationPeriod) -> dict:
    return {"name": period.name, "start": period.start, "end": period.end}
