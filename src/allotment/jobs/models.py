"""What Allotment submitted for whom: one row per job, audited like every ledger table.

The script itself is not kept (it may hold anything a person typed): its SHA-256 and size
are, so a job can be matched to a script later. `state` is Slurm's as last seen; Slurm is
the truth, this row the record of who asked for what.

(machine, job_id) is not unique: Slurm reuses ids (after MaxJobId, or when slurmctld's state
is reset), so a lookup by id takes the newest row (jobs.services). A row is written before
the job goes to Slurm (state SENDING, no job id: it holds the person's place under the
submission limits) and gets its id once slurmrestd answers.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Via(models.TextChoices):
    CLI = "cli", "allot job submit"
    WEB = "web", "the web form"
    API = "api", "the REST API"


# Allotment's own states, beside Slurm's: SENDING while slurmrestd has not answered yet;
# UNCONFIRMED when it never did (the process stopped mid-call: Slurm may or may not have the
# job); GONE when slurmctld no longer holds the job (it left the owner's list, or Slurm gave
# its id to a later job): it ended, and its end is in Slurm's accounting, which `show` reads.
SENDING = "SENDING"
UNCONFIRMED = "UNCONFIRMED"
GONE = "GONE"

FINISHED = frozenset(
    {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY",
     "BOOT_FAIL", "DEADLINE", UNCONFIRMED, GONE}
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
    job_id = models.PositiveBigIntegerField(
        "Slurm job id", null=True, blank=True, help_text="Empty until slurmrestd answers."
    )
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
    output_path = models.CharField(
        max_length=4096,
        blank=True,
        help_text="Where Slurm writes the job's standard output (%j resolved); the only "
        "path Allotment ever reads for it.",
    )

    class Meta:
        ordering = ["-submitted_at", "-pk"]
        indexes = [
            models.Index(fields=["person", "-submitted_at"], name="submission_person"),
            models.Index(fields=["machine", "job_id"], name="submission_job"),
        ]

    def __str__(self) -> str:
        return f"job {self.job_id} on {self.machine} ({self.slurm_user})"

    @property
    def finished(self) -> bool:
        return self.state in FINISHED
