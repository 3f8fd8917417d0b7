"""Burst's tables: the clouds a batch machine bursts into, what each offers, the VMs.

A cloud is a ledger machine of kind cloud (so its VM-hours pool, resources and allocations
are the ledger's own) with a `Cloud` row saying how to reach it and the site's limits on
it. What the cloud itself says (quota, health) is `CloudState`, rewritten every cycle and
so kept out of the audit log; the site's settings on `Cloud` are audited.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from allotment.core.models import LedgerModel, Stateful
from allotment.resources.models import Machine

from .states import VMStates


class Driver(models.TextChoices):
    LOCAL = "local", "Local (the embedded demo; each VM a node of the loopback Slurm)"
    OPENSTACK = "openstack", "OpenStack (Nova, Glance)"
    EC2 = "ec2", "Amazon EC2"


class Health(models.TextChoices):
    UNKNOWN = "unknown", "Not asked yet"
    HEALTHY = "healthy", "Healthy"
    UNHEALTHY = "unhealthy", "Unhealthy: errors or no answer; its demand goes elsewhere"


class Cloud(LedgerModel):
    """How Allotment reaches one cloud project and what the site allows on it.

    Credentials never live here: `options` names where they are (a clouds.yaml entry, an
    AWS profile and credentials file), as a machine's engine options do.
    """

    machine = models.OneToOneField(
        Machine, on_delete=models.PROTECT, related_name="cloud", primary_key=True
    )
    driver = models.CharField(max_length=16, choices=Driver.choices, default=Driver.LOCAL)
    options = models.JSONField(
        default=dict,
        blank=True,
        help_text='OpenStack: {"cloud": "<clouds.yaml entry>", "clouds_yaml": "<path>"}; '
        'EC2: {"region": ..., "profile": ..., "credentials_file": ..., "instance_types": [...]}.',
    )
    serves = models.ManyToManyField(
        Machine,
        related_name="burst_clouds",
        blank=True,
        help_text="The batch machines whose queues burst into this cloud.",
    )
    enabled = models.BooleanField(default=True)
    priority = models.PositiveIntegerField(default=10, help_text="Lower is chosen first.")
    price_per_core_hour = models.DecimalField(
        max_digits=12, decimal_places=6, default=0, help_text="For choosing and for cost reports."
    )
    tags = models.JSONField(
        default=list, blank=True, help_text='Data locality and the like: ["data:vospace"].'
    )
    default_image = models.CharField(
        max_length=200, blank=True, help_text="Booted for jobs that ask for no image."
    )
    images = models.JSONField(
        default=list,
        blank=True,
        help_text="Names of the images it serves (kept in sync); empty: its default image.",
    )
    max_instances = models.PositiveIntegerField(null=True, blank=True)
    max_cores = models.PositiveIntegerField(null=True, blank=True)
    max_ram_mb = models.PositiveIntegerField(null=True, blank=True)
    max_starting = models.PositiveIntegerField(
        default=5, help_text="VMs requested or booting at once on this cloud."
    )
    max_boots_per_cycle = models.PositiveIntegerField(default=10)
    idle_headroom = models.PositiveIntegerField(
        default=0, help_text="Idle VMs kept beyond the demand, for jobs about to come."
    )
    boot_timeout = models.PositiveIntegerField(
        default=900, help_text="Seconds for the cloud to run a server."
    )
    register_timeout = models.PositiveIntegerField(
        default=900, help_text="Seconds for a running server to join the batch system."
    )
    idle_keep = models.PositiveIntegerField(
        default=600, help_text="Seconds an idle VM is kept before it is retired."
    )
    single_use = models.BooleanField(
        default=False,
        help_text="A VM runs the jobs it takes when it first gets work, then is drained and "
        "deleted: a fresh VM for the next ones, never one a job has used.",
    )

    class Meta:
        ordering = ["priority", "machine__name"]

    def __str__(self) -> str:
        return self.machine.name

    @property
    def name(self) -> str:
        return self.machine.name

    def clean(self) -> None:
        if self.machine_id and self.machine.kind != "cloud":
            raise ValidationError(
                {
                    "machine": f"Machine {self.machine.name} is of kind {self.machine.kind}; a "
                    "burst cloud is a machine of kind cloud."
                }
            )
        for key in ("password", "secret", "aws_secret_access_key", "token", "key"):
            if key in (self.options or {}):
                raise ValidationError(
                    {"options": f'Cloud {self.machine.name}: "{key}" looks like a credential; '
                     "name where it is kept (a clouds.yaml entry, a profile), not the value."}
                )  # fmt: skip


class CloudState(models.Model):
    """What the cloud said last: quota, health. Rewritten every cycle; not audited."""

    cloud = models.OneToOneField(Cloud, on_delete=models.CASCADE, related_name="state")
    health = models.CharField(max_length=12, choices=Health.choices, default=Health.UNKNOWN)
    health_reason = models.TextField(blank=True)
    health_changed_at = models.DateTimeField(default=timezone.now)
    failures = models.PositiveIntegerField(
        default=0, help_text="Failed calls in a row; at the threshold the cloud is unhealthy."
    )
    last_ok_at = models.DateTimeField(null=True, blank=True)
    quota = models.JSONField(default=dict, blank=True)
    quota_read_at = models.DateTimeField(null=True, blank=True)
    inventory_read_at = models.DateTimeField(null=True, blank=True)
    orphans_deleted = models.PositiveIntegerField(
        default=0, help_text="Servers with our tag no VM row knew, deleted by the sweeps."
    )
    foreign_servers = models.PositiveIntegerField(
        default=0, help_text="Servers without our tag at the last sweep (left alone)."
    )
    swept_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.cloud_id}: {self.health}"


class Flavor(models.Model):
    """A flavor (instance type) as the cloud lists it; refreshed from the cloud."""

    cloud = models.ForeignKey(Cloud, on_delete=models.CASCADE, related_name="flavors")
    name = models.CharField(max_length=100)
    ext_id = models.CharField(max_length=100)
    cores = models.PositiveIntegerField()
    ram_mb = models.PositiveIntegerField()
    disk_gb = models.PositiveIntegerField(default=0)
    enabled = models.BooleanField(default=True, help_text="Off: never booted by burst.")

    class Meta:
        ordering = ["cloud", "cores", "ram_mb", "name"]
        constraints = [
            models.UniqueConstraint(fields=["cloud", "name"], name="burst_flavor_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.cores} cores, {self.ram_mb} MB) on {self.cloud_id}"


class CloudImage(models.Model):
    """An image as a cloud lists it; refreshed from the cloud (not audited)."""

    cloud = models.ForeignKey(Cloud, on_delete=models.CASCADE, related_name="cloud_images")
    name = models.CharField(max_length=200)
    ext_id = models.CharField(max_length=200)
    status = models.CharField(max_length=40)
    checksums = models.JSONField(default=dict, blank=True)
    size = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["cloud", "name"]
        constraints = [
            models.UniqueConstraint(fields=["cloud", "ext_id"], name="burst_image_unique_id")
        ]

    def __str__(self) -> str:
        return f"{self.name} on {self.cloud_id} ({self.status})"


class VM(Stateful, LedgerModel):
    """One worker VM burst asked for. Its `name` is its hostname and its node name in the
    batch system; names come back into use once a VM is deleted, so the key of its usage
    is the cloud's server id, never the name."""

    machine = VMStates

    name = models.CharField(max_length=63)
    cloud = models.ForeignKey(Cloud, on_delete=models.PROTECT, related_name="vms")
    batch = models.ForeignKey(Machine, on_delete=models.PROTECT, related_name="burst_vms")
    flavor = models.ForeignKey(Flavor, on_delete=models.SET_NULL, null=True, related_name="+")
    image = models.CharField(max_length=200)
    cores = models.PositiveIntegerField()
    ram_mb = models.PositiveIntegerField()
    project = models.ForeignKey(
        "projects.Project",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="burst_vms",
        help_text="Whose demand it was booted for (charged its idle time).",
    )
    account = models.CharField(max_length=64, blank=True)
    group = models.CharField(max_length=300, blank=True, help_text="The demand group it serves.")
    server_id = models.CharField(max_length=100, blank=True)
    requested_at = models.DateTimeField(default=timezone.now)
    active_at = models.DateTimeField(null=True, blank=True)
    registered_at = models.DateTimeField(null=True, blank=True)
    idle_since = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=500, blank=True)
    retire_asked = models.BooleanField(
        default=False, help_text="An operator asked to retire it (allot vm retire)."
    )
    charged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["batch", "name"],
                condition=~Q(state="deleted"),
                name="burst_vm_name_unique_while_it_may_exist",
            )
        ]
        indexes = [models.Index(fields=["cloud", "state"])]

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def observe_step(vm: VM):
        """Every burst step observes the cloud and the batch system first: carry on."""
        from allotment.core.fsm import Observed

        return Observed.going()


class Backoff(models.Model):
    """A cloud, flavor and image that failed to boot: not chosen again until `until`."""

    cloud = models.ForeignKey(Cloud, on_delete=models.CASCADE, related_name="backoffs")
    flavor = models.CharField(max_length=100)
    image = models.CharField(max_length=200)
    failures = models.PositiveIntegerField(default=1)
    until = models.DateTimeField()
    reason = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["cloud", "flavor", "image"], name="burst_backoff_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.cloud_id}/{self.flavor}/{self.image} until {self.until:%H:%M:%S}"


class Cycle(models.Model):
    """One decision of the burst loop for one batch machine: what it saw and decided,
    for `allot burst status`, the page and the figures. Old ones are pruned."""

    batch = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="burst_cycles")
    at = models.DateTimeField(default=timezone.now, db_index=True)
    seconds = models.FloatField(default=0)
    idle_jobs = models.PositiveIntegerField(default=0)
    groups = models.PositiveIntegerField(default=0)
    boots = models.PositiveIntegerField(default=0)
    retires = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=dict)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.batch_id} at {self.at:%Y-%m-%d %H:%M:%S}: {self.boots} boot(s)"


class VMCharge(models.Model):
    """A VM's time charged to one project: its share by the core-seconds their jobs ran
    on it (all of it to the project it was booted for when it ran none). Raw usage that
    usage.aggregate turns into daily facts, as it does jobs."""

    cloud = models.ForeignKey(Machine, on_delete=models.PROTECT, related_name="+")
    server_id = models.CharField(max_length=100)
    vm_name = models.CharField(max_length=63)
    project = models.ForeignKey(
        "projects.Project", on_delete=models.PROTECT, null=True, related_name="+"
    )
    account = models.CharField(max_length=64, blank=True)
    start_ts = models.BigIntegerField()
    end_ts = models.BigIntegerField()
    seconds = models.BigIntegerField(help_text="This project's share of the VM's seconds")
    cores = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["cloud", "server_id", "account"], name="burst_charge_once_per_vm"
            )
        ]

    def __str__(self) -> str:
        return f"{self.vm_name} on {self.cloud_id}: {self.seconds} s to {self.account}"


class SimulationRun(models.Model):
    """A stored `allot burst simulate --store`: the trace and clouds it replayed, its
    figures and its series over time, for the page. The simulator's output, not the
    site's state: not audited."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    trace = models.CharField(max_length=300, help_text="The trace file replayed.")
    clouds = models.CharField(max_length=300, help_text="The clouds.yaml it ran on.")
    config = models.JSONField(default=dict, help_text="The options of the run (from, to, ...).")
    summary = models.JSONField(default=dict)
    series = models.JSONField(default=dict, help_text="Idle jobs, VMs, waits over time.")

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"simulation of {self.trace} on {self.clouds} at {self.at:%Y-%m-%d %H:%M}"
