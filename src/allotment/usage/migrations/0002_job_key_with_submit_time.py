"""Jobs keyed by (machine, job id, submit time), as Slurm keys them: a reused job id is a new
job, not an update of the old one. Every existing row satisfies the new key (it was unique
on less), so rows keep their values. Quarantined jobs get the key the importer now gives
them (`<job id>@<submit time>`), so importing such a job still clears its quarantine entry.
"""

from datetime import UTC, datetime

from django.db import migrations, models


def job_key(job_id: str, submit: int | None) -> str:
    """The same as `allotment.usage.ingest.job_key`, frozen here as migrations must be."""
    if submit is None:
        return job_id[:128]
    when = datetime.fromtimestamp(submit, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{job_id}@{when}"[:128]


def keys_with_submit_time(apps, schema_editor):
    held = apps.get_model("usage", "QuarantinedRecord")
    for row in held.objects.filter(kind="job").only("pk", "key", "record"):
        record = row.record if isinstance(row.record, dict) else {}
        job_id, submit = record.get("job_id"), record.get("submit")
        if job_id is None or submit is None:
            continue
        key = job_key(str(job_id), int(submit))
        if key != row.key:
            held.objects.filter(pk=row.pk).update(key=key)


def keys_without_submit_time(apps, schema_editor):
    """Back to the job id alone; of several records of one id, the newest stays."""
    held = apps.get_model("usage", "QuarantinedRecord")
    seen: set[tuple[str, str]] = set()
    drop, rename = [], []
    for row in held.objects.filter(kind="job").order_by("-created", "-pk"):
        record = row.record if isinstance(row.record, dict) else {}
        key = str(record.get("job_id", row.key))[:128]
        if (row.machine_name, key) in seen:
            drop.append(row.pk)
        else:
            seen.add((row.machine_name, key))
            rename.append((row.pk, key))
    held.objects.filter(pk__in=drop).delete()
    for pk, key in rename:
        held.objects.filter(pk=pk).update(key=f"{pk}~")  # free every key first
    for pk, key in rename:
        held.objects.filter(pk=pk).update(key=key)


class Migration(migrations.Migration):
    dependencies = [("usage", "0001_initial")]

    operations = [
        migrations.RemoveConstraint(model_name="job", name="job_once_per_machine"),
        migrations.AddConstraint(
            model_name="job",
            constraint=models.UniqueConstraint(
                fields=("machine", "job_id", "submit_ts"), name="job_once_per_submit"
            ),
        ),
        migrations.AddConstraint(
            model_name="job",
            constraint=models.UniqueConstraint(
                condition=models.Q(("submit_ts__isnull", True)),
                fields=("machine", "job_id"),
                name="job_once_without_submit",
            ),
        ),
        migrations.AlterField(
            model_name="quarantinedrecord",
            name="key",
            field=models.CharField(
                help_text="Job id (@ its submit time, when known), or the snapshot's identity",
                max_length=128,
            ),
        ),
        migrations.RunPython(keys_with_submit_time, keys_without_submit_time),
    ]
