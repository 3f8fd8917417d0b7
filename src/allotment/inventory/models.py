"""The bare-metal inventory: nodes, the provisioners that deploy them, the images the
services run, and the shifts that move nodes between services.

A service is a ledger machine (resources.Machine) of kind batch (Slurm) or cloud
(OpenStack): its engine and engine_options say how to reach it, as they do for accounts
and usage. Capacity follows the nodes: `CapacityChange` records each node joining or
leaving a machine, so reports can show capacity over time.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from allotment.core.models import LedgerModel, Stateful
from allotment.resources.models import Machine, MachineKind

from .states import IN_A_SERVICE, MAX_DRAIN, NodeStates

# A node's name is its host name in Slurm and Nova, and appears in host ranges (n[001-016]).
NODE_NAME_RE = r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z"
node_name_validator = RegexValidator(
    NODE_NAME_RE,
    "Enter a valid node name: a host name of letters, digits, '_', '.' or '-', starting with "
    "a letter or digit, at most 63 characters.",
)


class ProvisionerDriver(models.TextChoices):
    LOCAL = "local", "Local (the embedded demo: nothing outside Allotment)"
    IRONIC = "ironic", "OpenStack Ironic"


class Provisioner(LedgerModel):
    """Where nodes are deployed from: an Ironic (its endpoint or clouds.yaml entry in
    `options`, credentials never in the database) or the local one."""

    name = models.CharField(max_length=100, unique=True, validators=[node_name_validator])
    driver = models.CharField(
        max_length=16, choices=ProvisionerDriver.choices, default=ProvisionerDriver.LOCAL
    )
    options = models.JSONField(
        default=dict,
        blank=True,
        help_text='For Ironic: {"endpoint": "http://host:6385"} (no auth) or '
        '{"cloud": "a clouds.yaml entry"}.',
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Image(LedgerModel):
    """An operating system image for the nodes of one kind of service."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(
        max_length=16,
        choices=[(MachineKind.BATCH.value, "Batch"), (MachineKind.CLOUD.value, "Cloud")],
        help_text="The kind of service whose nodes run it.",
    )
    source_url = models.URLField(max_length=500)
    checksum = models.CharField(
        max_length=200, help_text='"sha256:…", "sha512:…" or an md5 hex digest.'
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Node(Stateful, LedgerModel):
    """A bare-metal server. `service` is the machine it belongs to now (set exactly in the
    states of IN_A_SERVICE, by a constraint), `destination` where its shift takes it."""

    machine = NodeStates

    name = models.CharField(max_length=63, unique=True, validators=[node_name_validator])
    site = models.CharField(max_length=100, blank=True)
    rack = models.CharField(max_length=100, blank=True)
    rack_unit = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Its lowest unit in the rack, for the rack view."
    )
    bmc_address = models.CharField(max_length=255, blank=True)
    bmc_driver = models.CharField(max_length=50, blank=True, help_text="ipmi, redfish, ...")
    macs = models.JSONField(default=list, blank=True)
    cpus = models.PositiveIntegerField(default=0)
    memory_mb = models.PositiveIntegerField(default=0)
    gpus = models.PositiveIntegerField(default=0)
    disks = models.JSONField(default=list, blank=True, help_text='e.g. ["2x960GB SSD"]')
    tags = models.JSONField(default=list, blank=True)
    protected = models.BooleanField(
        default=False, help_text="Never shifted: a shift naming it is refused."
    )
    maintenance = models.BooleanField(default=False)
    maintenance_reason = models.CharField(max_length=500, blank=True)
    provisioner = models.ForeignKey(
        Provisioner, on_delete=models.PROTECT, null=True, blank=True, related_name="nodes"
    )
    provision_id = models.CharField(
        max_length=100, blank=True, help_text="Its identity in the provisioner (Ironic's uuid)."
    )
    service = models.ForeignKey(
        Machine, on_delete=models.PROTECT, null=True, blank=True, related_name="nodes_in_service"
    )
    destination = models.ForeignKey(
        Machine, on_delete=models.PROTECT, null=True, blank=True, related_name="nodes_heading"
    )
    image = models.ForeignKey(
        Image, on_delete=models.PROTECT, null=True, blank=True, related_name="nodes"
    )
    shift = models.ForeignKey(
        "Shift", on_delete=models.SET_NULL, null=True, blank=True, related_name="current_nodes"
    )
    counted_in = models.ForeignKey(
        Machine,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The machine whose cores and node count include this node's.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(state__in=IN_A_SERVICE) & Q(service__isnull=False))
                | (~Q(state__in=IN_A_SERVICE) & Q(service__isnull=True)),
                name="node_in_one_service_exactly_while_in_service",
            ),
            models.CheckConstraint(
                condition=Q(maintenance=True) | Q(maintenance_reason=""),
                name="node_maintenance_reason_only_in_maintenance",
            ),
        ]

    clean_covers = ("node_maintenance_reason_only_in_maintenance",)

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.maintenance_reason and not self.maintenance:
            raise ValidationError(
                {"maintenance_reason": f"Node {self.name}: a reason needs maintenance on."}
            )

    @staticmethod
    def observe_step(node: Node):
        """An agent died inside a step: every step observes its engines first and is
        idempotent, so the next tick carries on where the engines are."""
        from allotment.core.fsm import Observed

        return Observed.going()


class Shift(models.Model):
    """An operator's request to move nodes into a service; the agent does the work."""

    to_service = models.ForeignKey(Machine, on_delete=models.PROTECT, related_name="shifts")
    image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="shifts")
    drain_timeout = models.DurationField(
        default=timedelta(hours=2),
        validators=[MinValueValidator(timedelta(0))],
    )
    force = models.BooleanField(
        default=False,
        help_text="After the drain timeout, requeue (else cancel) the jobs still running.",
    )
    parallel = models.PositiveIntegerField(
        default=10, validators=[MinValueValidator(1)], help_text="Nodes moving at once."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    via = models.CharField(max_length=20, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    aborted = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(drain_timeout__lte=MAX_DRAIN), name="shift_drain_timeout_bounded"
            )
        ]

    def __str__(self) -> str:
        return f"shift {self.pk} to {self.to_service}"

    @property
    def reason(self) -> str:
        """What Allotment writes as the drain or disable reason (engines.REASON_PREFIX)."""
        return f"allotment shift {self.pk} to {self.to_service.name}"


class Outcome(models.TextChoices):
    WAITING = "waiting", "Waiting for a slot"
    MOVING = "moving", "Moving"
    DONE = "done", "In service"
    FAILED = "failed", "Failed"
    ABORTED = "aborted", "Aborted"


class ShiftNode(models.Model):
    """One node of a shift: where it came from and how its move ended."""

    shift = models.ForeignKey(Shift, on_delete=models.CASCADE, related_name="items")
    node = models.ForeignKey(Node, on_delete=models.PROTECT, related_name="shift_items")
    from_service = models.ForeignKey(
        Machine, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.WAITING)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    detail = models.TextField(blank=True, help_text="The last thing the agent saw or did.")

    class Meta:
        ordering = ["shift", "node__name"]
        constraints = [
            models.UniqueConstraint(fields=["shift", "node"], name="shift_node_once"),
        ]

    def __str__(self) -> str:
        return f"{self.node} in {self.shift}"


class CapacityChange(models.Model):
    """A node joined or left a machine: its cores and node counts before and after, so a
    report can draw capacity over time."""

    at = models.DateTimeField()
    machine = models.ForeignKey(Machine, on_delete=models.PROTECT, related_name="capacity_changes")
    node = models.ForeignKey(Node, on_delete=models.PROTECT, related_name="capacity_changes")
    shift = models.ForeignKey(Shift, on_delete=models.SET_NULL, null=True, blank=True)
    cores = models.IntegerField(help_text="Cores added (negative: removed).")
    nodes = models.IntegerField(help_text="Nodes added (negative: removed).")
    cores_after = models.PositiveIntegerField()
    nodes_after = models.PositiveIntegerField()

    class Meta:
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["machine", "at"])]

    def __str__(self) -> str:
        return f"{self.machine} {self.cores:+d} cores at {self.at:%Y-%m-%d %H:%M}"
