"""What Allotment submitted for whom: one row per job, audited like every ledger table.

The script itself is not kept (it may hold anything a person typed): its SHA-256 and size
are, so a job can be matched to a script later. `state` is Slurm's as last seen; Slurm is
the truth, this row the record of who asked for what.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Via(models.TextChoices):
    CLI = "cli", "allot job submit"
    WEB = "web", "the web form"
    API = "api", "the REST API"


FINISHED = frozenset(
    {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY",
     "BOOT_FAIL", "DEADLINE"}
)  # fmt: skip


class Submission(models.Model):
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="job_submissions",
        help_text="Whose job it is: Slurm ran it as their account's user.",
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="A site administrator who submitted it for the person (--as); else empty.",
    )
    project = models.ForeignKey(
        "projects.Project", on_delete=models.PROTECT, related_name="job_submissions"
    )
    machine = models.ForeignKey(
        "resources.Machine", on_delete=models.PROTECT, related_name="job_submissions"
    )
    job_id = models.PositiveBigIntegerField("Slurm job id")
    slurm_user = models.CharField(max_length=32)
    name = models.CharField(max_length=64)
    partition = models.CharField(max_length=64, blank=True)
    cores = models.PositiveIntegerField()
    memory_mb = models.PositiveIntegerField(default=0, help_text="0: the partition's default.")
    time_minutes = models.PositiveIntegerField()
    image = models.CharField(max_length=100, blank=True)
    script_sha256 = models.CharField(max_length=64)
    script_bytes = models.PositiveIntegerField()
    via = models.CharField(max_length=8, choices=Via.choices)
    submitted_at = models.DateTimeField(default=timezone.now)
    state = models.CharField(max_length=32, default="PENDING")
    state_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-submitted_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["machine", "job_id"], name="submission_job_once")
        ]
        indexes = [models.Index(fields=["person", "-submitted_at"], name="submission_person")]

    def __str__(self) -> str:
        return f"job {self.job_id} on {self.machine} ({self.slurm_user})"

    @property
    def finished(self) -> bool:
        return self.state in FINISHED
