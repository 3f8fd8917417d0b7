"""Schemes, grants, allocation periods, allocation pools and allocations.

A grant is what a scheme awarded a project, for a span of dates. An allocation pool is a
project's budget of one resource pool in one allocation period; each allocation adds a
quantity to a pool under a grant. The pool's allocated amount is the sum of its
allocations; what was used is charged to it by the usage ledger.
"""

from datetime import date

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from allotment.core.models import LedgerModel
from allotment.core.numbers import quantity_field


class Scheme(LedgerModel):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    opened = models.DateField(default=date.today)
    closed = models.DateField(
        null=True, blank=True, help_text="From this date on, the scheme takes no new grants."
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(closed__isnull=True) | Q(closed__gte=F("opened")),
                name="scheme_closes_after_opening",
            )
        ]

    clean_covers = ("scheme_closes_after_opening",)

    def __str__(self) -> str:
        return self.name

    def is_closed(self, on: date | None = None) -> bool:
        return self.closed is not None and self.closed <= (on or date.today())

    def clean(self) -> None:
        if self.closed and self.opened and self.closed < self.opened:
            raise ValidationError(
                {
                    "closed": f'Scheme "{self.name}" cannot close ({self.closed}) before it '
                    f"opens ({self.opened})."
                }
            )


class Grant(LedgerModel):
    project = models.ForeignKey("projects.Project", on_delete=models.PROTECT, related_name="grants")
    scheme = models.ForeignKey(Scheme, on_delete=models.PROTECT, related_name="grants")
    description = models.TextField(blank=True)
    awarded = models.DateField(default=date.today)
    begins = models.DateField()
    expires = models.DateField()

    class Meta:
        ordering = ["-begins", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(begins__lte=F("expires")), name="grant_begins_before_expiry"
            )
        ]

    clean_covers = ("grant_begins_before_expiry",)

    def __str__(self) -> str:
        return f"Grant {self.pk or 'new'} to {self.project} ({self.scheme})"

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.begins and self.expires and self.begins > self.expires:
            errors.setdefault("expires", []).append(
                f"{self}: a grant must begin on or before it expires; it begins {self.begins} "
                f"and expires {self.expires}."
            )
        if self.pk is None and self.scheme_id is not None:
            scheme = self.scheme
            if scheme.is_closed() or (self.awarded and scheme.is_closed(self.awarded)):
                errors.setdefault("scheme", []).append(
                    f'Scheme "{scheme}" closed on {scheme.closed} and takes no new grants.'
                )
        if errors:
            raise ValidationError(errors)


class AllocationPeriod(LedgerModel):
    name = models.CharField(max_length=100, unique=True)
    start = models.DateField()
    end = models.DateField()

    class Meta:
        ordering = ["-start", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(start__lte=F("end")), name="period_starts_before_end"
            )
        ]

    clean_covers = ("period_starts_before_end",)

    def __str__(self) -> str:
        return self.name

    def overlaps(self, begins: date, expires: date) -> bool:
        return self.start <= expires and begins <= self.end

    def clean(self) -> None:
        if self.start and self.end and self.start > self.end:
            raise ValidationError(
                {
                    "end": f'Period "{self.name}" cannot end ({self.end}) before it starts '
                    f"({self.start})."
                }
            )


class AllocationPool(LedgerModel):
    project = models.ForeignKey(
        "projects.Project", on_delete=models.PROTECT, related_name="allocation_pools"
    )
    period = models.ForeignKey(
        AllocationPeriod, on_delete=models.PROTECT, related_name="allocation_pools"
    )
    resource_pool = models.ForeignKey(
        "resources.ResourcePool", on_delete=models.PROTECT, related_name="allocation_pools"
    )

    class Meta:
        ordering = ["project__pid", "-period__start", "resource_pool__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "period", "resource_pool"], name="allocation_pool_once"
            )
        ]

    clean_covers = ("allocation_pool_once",)

    def __str__(self) -> str:
        return f"{self.project} · {self.resource_pool} · {self.period}"

    def clean(self) -> None:
        if None in (self.project_id, self.period_id, self.resource_pool_id):
            return
        if (
            AllocationPool.objects.exclude(pk=self.pk)
            .filter(
                project_id=self.project_id,
                period_id=self.period_id,
                resource_pool_id=self.resource_pool_id,
            )
            .exists()
        ):
            raise ValidationError(
                f'Project "{self.project}" already has a "{self.resource_pool}" pool for period '
                f'"{self.period}"; add allocations to that pool instead.'
            )


class Allocation(LedgerModel):
    grant = models.ForeignKey(Grant, on_delete=models.PROTECT, related_name="allocations")
    allocation_pool = models.ForeignKey(
        AllocationPool, on_delete=models.CASCADE, related_name="allocations"
    )
    quantity = quantity_field(help_text="In the resource pool's units.")
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["allocation_pool", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=0), name="allocation_quantity_gte_0")
        ]

    clean_covers = ("allocation_quantity_gte_0",)

    def __str__(self) -> str:
        if self.allocation_pool_id is None:
            return f"Allocation of {self.quantity}"
        units = self.allocation_pool.resource_pool.units
        return f"{self.quantity.normalize():f} {units} in {self.allocation_pool}"

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.quantity is not None and self.quantity < 0:
            errors.setdefault("quantity", []).append(
                f"An allocation's quantity cannot be negative ({self.quantity})."
            )
        if self.grant_id is not None and self.allocation_pool_id is not None:
            grant, pool = self.grant, self.allocation_pool
            if grant.project_id != pool.project_id:
                errors.setdefault("grant", []).append(
                    f'{grant} belongs to project "{grant.project}", but the allocation pool '
                    f'"{pool}" belongs to "{pool.project}": an allocation\'s grant must belong '
                    "to its pool's project."
                )
            period = pool.period
            if not period.overlaps(grant.begins, grant.expires):
                errors.setdefault("grant", []).append(
                    f"{grant} runs {grant.begins} to {grant.expires}, which does not overlap "
                    f'period "{period}" ({period.start} to {period.end}).'
                )
        if errors:
            raise ValidationError(errors)


class AllocationCap(LedgerModel):
    """How much of its parent's allocation a sub-project of a capped project may draw.

    The cap applies in every allocation period, in the resource pool's units.
    """

    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="allocation_caps"
    )
    resource_pool = models.ForeignKey(
        "resources.ResourcePool", on_delete=models.PROTECT, related_name="caps"
    )
    quantity = quantity_field()

    class Meta:
        ordering = ["project__pid", "resource_pool__name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "resource_pool"], name="cap_once"),
            models.CheckConstraint(condition=Q(quantity__gte=0), name="cap_quantity_gte_0"),
        ]

    clean_covers = ("cap_once", "cap_quantity_gte_0")

    def __str__(self) -> str:
        return f"{self.project} may draw {self.quantity.normalize():f} of {self.resource_pool}"

    def clean(self) -> None:
        from allotment.projects.models import AllocationMode

        errors: dict[str, list[str]] = {}
        if self.quantity is not None and self.quantity < 0:
            errors.setdefault("quantity", []).append(
                f"A cap's quantity cannot be negative ({self.quantity})."
            )
        if self.project_id is not None:
            parent = self.project.parent
            if parent is None or parent.allocation_mode != AllocationMode.CAPPED:
                where = f'its parent "{parent}" is' if parent else "it has no parent and is"
                errors.setdefault("project", []).append(
                    f'A cap on "{self.project}" means nothing: {where} not a capped project.'
                )
            if (
                self.resource_pool_id is not None
                and AllocationCap.objects.exclude(pk=self.pk)
                .filter(project_id=self.project_id, resource_pool_id=self.resource_pool_id)
                .exists()
            ):
                errors.setdefault("resource_pool", []).append(
                    f'"{self.project}" already has a cap on "{self.resource_pool}".'
                )
        if errors:
            raise ValidationError(errors)
