"""Usage: raw records, exactly as they came, and the daily fact table built from them.

Raw jobs are keyed by (machine, job id, submit time), as Slurm's own database keys them:
job ids are not unique over time (Slurm's wrap at MaxJobId and restart at 1 when its state
is lost; each requeued run is a record of its own, with a new submit time), so a second
job with an old id is a new job. A record whose source gives no submit time is keyed by
(machine, job id) alone. Importing a file again finds every row it already holds.

Times are stored as Unix epoch seconds (UTC): the importers and the aggregator do arithmetic
on them at hundreds of thousands of rows a second, the same way on SQLite and PostgreSQL.
Amounts are integers in the metric's base unit (core-seconds, bytes); `used` applies the
resource's scaling factor and stays exact as a Decimal.

Raw rows are written in bulk and are not in the audit log one by one; each import is
recorded as an ImportRun instead (who, what file, what changed).
"""

from django.conf import settings
from django.db import models


class RowId(models.BigAutoField):
    """A bulk table's key. On SQLite a plain rowid alias, without AUTOINCREMENT, whose
    bookkeeping table costs every insert (about a sixth of a million-row import). Ids of
    deleted rows may come back; nothing refers to these rows by id."""

    def db_type_suffix(self, connection):
        if connection.vendor == "sqlite":
            return None
        return super().db_type_suffix(connection)


class Job(models.Model):
    id = RowId(primary_key=True)
    # A fact table, as in a warehouse: no index and no database constraint per foreign key.
    # It is written in bulk and read by time range (the unique key starts with machine);
    # every index or constraint check would cost each of millions of inserts. The importer
    # only writes ids it just resolved, and Django still refuses to delete a machine,
    # person or project that jobs refer to (on_delete=PROTECT).
    machine = models.ForeignKey(
        "resources.Machine",
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    job_id = models.CharField(max_length=64)
    username = models.CharField(max_length=64, blank=True)
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    account = models.CharField(max_length=64, blank=True)
    project = models.ForeignKey(
        "projects.Project",
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    partition = models.CharField(max_length=64, blank=True)
    submit_ts = models.BigIntegerField(null=True)
    eligible_ts = models.BigIntegerField(null=True)
    start_ts = models.BigIntegerField()
    end_ts = models.BigIntegerField()
    elapsed = models.BigIntegerField(help_text="Seconds charged (suspended time excluded)")
    cores = models.IntegerField()
    nodes = models.IntegerField()
    cpu_time = models.BigIntegerField(null=True, help_text="CPU seconds actually used")
    memory = models.BigIntegerField(null=True, help_text="bytes")
    state = models.CharField(max_length=32, blank=True)
    exit_code = models.CharField(max_length=16, blank=True)
    fingerprint = models.BigIntegerField(help_text="Hash of the source record")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["machine", "job_id", "submit_ts"], name="job_once_per_submit"
            ),
            # NULLs are distinct in a unique index: without a submit time, the id is the key.
            models.UniqueConstraint(
                fields=["machine", "job_id"],
                condition=models.Q(submit_ts__isnull=True),
                name="job_once_without_submit",
            ),
        ]
        indexes = [models.Index(fields=["end_ts"], name="job_end")]

    def __str__(self) -> str:
        return f"{self.job_id}@{self.machine_id}"

    @property
    def core_seconds(self) -> int:
        return self.cores * self.elapsed


class StorageSnapshot(models.Model):
    id = RowId(primary_key=True)
    resource = models.ForeignKey("resources.Resource", on_delete=models.PROTECT, related_name="+")
    project = models.ForeignKey(
        "projects.Project", null=True, on_delete=models.PROTECT, related_name="+"
    )
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    scope = models.CharField(
        max_length=48, help_text="project:person ids; one snapshot per scope and time"
    )
    bytes = models.BigIntegerField()
    timestamp = models.BigIntegerField(help_text="Unix epoch seconds")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["resource", "scope", "timestamp"], name="snapshot_once"
            ),
        ]
        indexes = [models.Index(fields=["timestamp"], name="snapshot_time")]

    def __str__(self) -> str:
        return f"{self.bytes} bytes on resource {self.resource_id} at {self.timestamp}"


class Kind(models.TextChoices):
    JOB = "job", "Batch jobs"
    STORAGE = "storage", "Storage"
    VM = "vm", "Cloud VMs"


class Charge(models.TextChoices):
    CHARGED = "charged", "Charged to an allocation pool"
    UNALLOCATED = "unallocated", "Nothing to charge"
    OVER = "over", "Over a capped sub-project's cap"


class UsageFacts(models.Model):
    """The dimensions and measures the daily and monthly usage tables share."""

    month = models.DateField(help_text="First day of the month: reports group on it")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    machine = models.ForeignKey("resources.Machine", on_delete=models.CASCADE, related_name="+")
    resource = models.ForeignKey(
        "resources.Resource", null=True, on_delete=models.CASCADE, related_name="+"
    )
    resource_pool = models.ForeignKey(
        "resources.ResourcePool", null=True, on_delete=models.CASCADE, related_name="+"
    )
    submitted_project = models.ForeignKey(
        "projects.Project", null=True, on_delete=models.CASCADE, related_name="+"
    )
    charged_project = models.ForeignKey(
        "projects.Project", null=True, on_delete=models.CASCADE, related_name="+"
    )
    allocation_pool = models.ForeignKey(
        "grants.AllocationPool", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE, related_name="+"
    )
    institute = models.ForeignKey(
        "projects.Project", null=True, on_delete=models.CASCADE, related_name="+"
    )
    career_level = models.ForeignKey(
        "people.CareerLevel", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    project_level = models.ForeignKey(
        "projects.ProjectLevel", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    charge = models.CharField(max_length=12, choices=Charge.choices)
    non_member = models.BooleanField(default=False)
    jobs = models.IntegerField(default=0, help_text="Jobs that ended in the period")
    raw = models.BigIntegerField(default=0, help_text="Base units: core-seconds or bytes")
    used = models.DecimalField(
        max_digits=30, decimal_places=6, default=0, help_text="raw × scaling factor"
    )
    wait = models.BigIntegerField(default=0, help_text="Seconds those jobs waited")
    id = RowId(primary_key=True)

    class Meta:
        abstract = True


class DailyUsage(UsageFacts):
    """One day of usage of one resource, per dimension the reports group by.

    Rebuilt from the raw records for the days an import touched; never edited by hand.
    """

    day = models.DateField()

    class Meta:
        indexes = [
            models.Index(fields=["day"], name="daily_day"),
            # Covering: a report by day over a pool reads the index alone, in order.
            models.Index(
                fields=["resource_pool", "day", "jobs", "raw", "used"], name="daily_pool_day"
            ),
            models.Index(fields=["submitted_project", "day"], name="daily_project_day"),
            models.Index(fields=["allocation_pool", "day"], name="daily_alloc_day"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} usage on {self.day}"


class MonthlyUsage(UsageFacts):
    """The daily table summed per month: sum pools' reports by month, quarter and year read
    this, an order of magnitude fewer rows. Rebuilt from DailyUsage for touched months."""

    quarter = models.IntegerField(help_text="year × 10 + quarter, e.g. 20102")
    year = models.IntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["resource_pool", "month"], name="monthly_pool_month"),
            models.Index(fields=["submitted_project", "month"], name="monthly_project_month"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} usage in {self.month:%Y-%m}"


class Reason(models.TextChoices):
    UNKNOWN_PERSON = "unknown_person", "Unknown person"
    UNKNOWN_PROJECT = "unknown_project", "Unknown project"
    UNKNOWN_MACHINE = "unknown_machine", "Unknown machine"
    UNKNOWN_RESOURCE = "unknown_resource", "Unknown storage resource"
    INVALID = "invalid", "Invalid record"


class QuarantinedRecord(models.Model):
    """A record kept aside, with why, until what it names exists (`allot usage requeue`)."""

    kind = models.CharField(max_length=8, choices=Kind.choices)
    machine_name = models.CharField(max_length=100)
    key = models.CharField(
        max_length=128,
        help_text="Job id (@ its submit time, when known), or the snapshot's identity",
    )
    reason = models.CharField(max_length=20, choices=Reason.choices)
    detail = models.CharField(max_length=300)
    source = models.CharField(max_length=300, help_text="file:line it came from")
    record = models.JSONField(help_text="The parsed record, ready to import again")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "machine_name", "key"], name="quarantine_once")
        ]

    def __str__(self) -> str:
        return f"{self.key} on {self.machine_name}: {self.detail}"


class ImportRun(models.Model):
    """One `allot usage import` (or pull): what it read and what it changed."""

    started = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(null=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    format = models.CharField(max_length=16)
    machine_name = models.CharField(max_length=100, blank=True)
    sources = models.TextField()
    summary = models.JSONField(default=dict)

    class Meta:
        ordering = ["-started"]

    def __str__(self) -> str:
        return f"{self.format} import of {self.started:%Y-%m-%d %H:%M}"
