"""Machines, the accounts people hold on them, and the resource pools they feed.

A resource pool is a kind of thing allocated and used (CPU hours, disk space). Each machine
contributes resources to pools; a resource's scaling factor converts its raw units into
the pool's (a faster machine's hour counts for more), so a pool's capacity is
sum(quantity x scaling factor).
"""

from datetime import date
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q, Sum

from allotment.core.models import LedgerModel
from allotment.core.numbers import quantity_field
from allotment.core.unix import machine_name_validator, unix_name_validator


class MachineCategory(models.Model):
    """Machines sharing one set of accounts (one user database, one home filesystem)."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "machine categories"

    def __str__(self) -> str:
        return self.name


class MachineKind(models.TextChoices):
    BATCH = "batch", "Batch (HPC cluster)"
    CLOUD = "cloud", "Cloud"
    STORAGE = "storage", "Storage"


class Engine(models.TextChoices):
    LOCAL = "local", "Local (nothing outside Allotment)"
    SLURM = "slurm", "Slurm"
    OPENSTACK = "openstack", "OpenStack (Nova)"
    HTCONDOR = "htcondor", "HTCondor"


class Machine(LedgerModel):
    name = models.CharField(max_length=100, unique=True, validators=[machine_name_validator])
    category = models.ForeignKey(MachineCategory, on_delete=models.PROTECT, related_name="machines")
    kind = models.CharField(max_length=16, choices=MachineKind.choices, default=MachineKind.BATCH)
    description = models.TextField(blank=True)
    cores = models.PositiveIntegerField(default=0)
    nodes = models.PositiveIntegerField(default=0)
    start_date = models.DateField(default=date.today)
    end_date = models.DateField(null=True, blank=True)
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        help_text="The zone the machine's own tools print local times in (e.g. sacct's).",
    )
    engine = models.CharField(
        max_length=16,
        choices=Engine.choices,
        default=Engine.LOCAL,
        help_text="What runs this machine's accounts and jobs.",
    )
    engine_options = models.JSONField(
        default=dict,
        blank=True,
        help_text='For Slurm: {"cluster": "name", "slurm_conf": "/etc/slurm/slurm.conf"}.',
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")),
                name="machine_ends_after_start",
            )
        ]

    clean_covers = ("machine_ends_after_start",)

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        import zoneinfo

        errors = {}
        if self.end_date and self.start_date and self.end_date < self.start_date:
            errors["end_date"] = (
                f'Machine "{self.name}" cannot end ({self.end_date}) before it starts '
                f"({self.start_date})."
            )
        try:
            zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            errors["time_zone"] = (
                f'Machine "{self.name}": "{self.time_zone}" is not a time zone name such as '
                '"Europe/Stockholm" or "UTC".'
            )
        if errors:
            raise ValidationError(errors)


class Account(LedgerModel):
    """A person's login on the machines of one category."""

    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="accounts"
    )
    machine_category = models.ForeignKey(
        MachineCategory, on_delete=models.PROTECT, related_name="accounts"
    )
    username = models.CharField(max_length=32, validators=[unix_name_validator])
    uid = models.PositiveIntegerField("uid")
    shell = models.CharField(max_length=100, default="/bin/bash")
    default_project = models.ForeignKey(
        "projects.Project",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="default_for_accounts",
    )
    login_enabled = models.BooleanField(default=True)
    date_created = models.DateField(default=date.today)
    date_deleted = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["machine_category__name", "username"]
        constraints = [
            models.UniqueConstraint(
                fields=["machine_category", "username"],
                condition=Q(date_deleted__isnull=True),
                name="account_username_unique_in_category",
            ),
            models.UniqueConstraint(
                fields=["machine_category", "uid"],
                condition=Q(date_deleted__isnull=True),
                name="account_uid_unique_in_category",
            ),
            models.UniqueConstraint(
                fields=["machine_category", "person"],
                condition=Q(date_deleted__isnull=True),
                name="account_one_per_person_in_category",
            ),
        ]

    clean_covers = (
        "account_username_unique_in_category",
        "account_uid_unique_in_category",
        "account_one_per_person_in_category",
    )

    def __str__(self) -> str:
        return f"{self.username}@{self.machine_category}"

    def clean(self) -> None:
        if self.machine_category_id is None or self.person_id is None:
            return
        errors: dict[str, list[str]] = {}
        if self.date_deleted is None:
            live = Account.objects.filter(
                machine_category_id=self.machine_category_id, date_deleted__isnull=True
            ).exclude(pk=self.pk)
            category = self.machine_category
            if live.filter(username=self.username).exists():
                errors.setdefault("username", []).append(
                    f'The username "{self.username}" is already in use on "{category}".'
                )
            if live.filter(uid=self.uid).exists():
                errors.setdefault("uid", []).append(
                    f'The uid {self.uid} is already in use on "{category}".'
                )
            if live.filter(person_id=self.person_id).exists():
                errors.setdefault("person", []).append(
                    f'{self.person} already has an account on "{category}".'
                )
        if (
            self.default_project_id is not None
            and not self.person.memberships.filter(project_id=self.default_project_id).exists()
        ):
            errors.setdefault("default_project", []).append(
                f'Account "{self.username}": {self.person} is not a member of '
                f'"{self.default_project}", so it cannot be the default project.'
            )
        if self.date_deleted and self.date_created and self.date_deleted < self.date_created:
            errors.setdefault("date_deleted", []).append(
                f'Account "{self.username}" cannot be deleted before it was created.'
            )
        if errors:
            raise ValidationError(errors)


class Aggregation(models.TextChoices):
    SUM = "sum", "Sum (amounts add up over a period, e.g. CPU hours)"
    MAX = "max", "Maximum (the peak over a period, e.g. disk space)"
    AVERAGE = "average", "Average over the period"
    LAST = "last", "Last value in the period"


class Metric(models.TextChoices):
    """What a pool measures, and so which usage records feed it and in what base unit."""

    CORE_SECONDS = "core_seconds", "Batch jobs: cores × elapsed seconds"
    BYTES = "bytes", "Storage: bytes"
    VM_SECONDS = "vm_seconds", "Cloud VMs: VM seconds"
    OTHER = "other", "Other (recorded by hand)"


class ResourcePool(models.Model):
    name = models.CharField(max_length=100, unique=True)
    units = models.CharField(max_length=30, help_text="e.g. hours, KB, GB, VM hours")
    aggregation = models.CharField(
        max_length=10, choices=Aggregation.choices, default=Aggregation.SUM
    )
    metric = models.CharField(max_length=16, choices=Metric.choices, default=Metric.OTHER)
    unit_size = models.DecimalField(
        max_digits=24,
        decimal_places=6,
        default=Decimal(1),
        help_text="How many of the metric's base units make one of the pool's units "
        "(3600 core-seconds per hour; 1024 bytes per KB).",
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def capacity(self) -> Decimal:
        """sum(quantity x scaling factor) over the pool's resources, in the pool's units."""
        total = self.resources.aggregate(c=Sum(F("quantity") * F("scaling_factor")))["c"]
        return Decimal(total or 0)


class Resource(LedgerModel):
    machine = models.ForeignKey(Machine, on_delete=models.PROTECT, related_name="resources")
    pool = models.ForeignKey(ResourcePool, on_delete=models.PROTECT, related_name="resources")
    name = models.CharField(max_length=100)
    quantity = quantity_field(
        help_text="What this resource provides, in its own units before scaling.",
    )
    scaling_factor = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        default=Decimal(1),
        help_text="Multiplies this resource's usage and quantity into the pool's units.",
    )

    class Meta:
        ordering = ["pool__name", "machine__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["pool", "machine", "name"], name="resource_unique_in_pool_and_machine"
            ),
            models.CheckConstraint(condition=Q(quantity__gte=0), name="resource_quantity_gte_0"),
            models.CheckConstraint(
                condition=Q(scaling_factor__gte=0), name="resource_scaling_gte_0"
            ),
        ]

    clean_covers = ("resource_quantity_gte_0", "resource_scaling_gte_0")

    def __str__(self) -> str:
        return f"{self.name} ({self.machine} → {self.pool})"

    def clean(self) -> None:
        errors = {}
        if self.quantity is not None and self.quantity < 0:
            errors["quantity"] = (
                f'Resource "{self.name}": the quantity cannot be negative ({self.quantity}).'
            )
        if self.scaling_factor is not None and self.scaling_factor < 0:
            errors["scaling_factor"] = (
                f'Resource "{self.name}": the scaling factor cannot be negative '
                f"({self.scaling_factor})."
            )
        if errors:
            raise ValidationError(errors)

    @property
    def scaled_quantity(self) -> Decimal:
        return self.quantity * self.scaling_factor
