"""LoopStatus keyed by (loop, target) instead of "step:machine"; leases, schedule, agents.

The old rows (the Slurm sync and pull per machine) become the Slurm integration's loops on
the same targets, so their health and history carry over.
"""

from django.db import migrations, models

RENAMED = {"sync": "slurm.sync", "pull": "slurm.pull"}


def by_loop_and_target(apps, schema_editor):
    LoopStatus = apps.get_model("agent", "LoopStatus")
    for row in LoopStatus.objects.all():
        LoopStatus.objects.filter(pk=row.pk).update(
            loop=RENAMED.get(row.step, row.step), target=row.machine
        )


def by_name(apps, schema_editor):
    LoopStatus = apps.get_model("agent", "LoopStatus")
    back = {new: old for old, new in RENAMED.items()}
    for row in LoopStatus.objects.all():
        step = back.get(row.loop, row.loop)[:16]
        LoopStatus.objects.filter(pk=row.pk).update(
            name=f"{step}:{row.target}"[:150], step=step, machine=row.target[:100]
        )


class Migration(migrations.Migration):
    dependencies = [("agent", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="loopstatus",
            name="loop",
            field=models.CharField(
                default="", help_text='The registered loop, e.g. "slurm.sync"', max_length=100
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="loopstatus",
            name="target",
            field=models.CharField(default="", help_text="The target's stable key", max_length=200),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="loopstatus",
            name="name",
            field=models.CharField(default="", max_length=150, blank=True),
        ),
        migrations.AlterField(
            model_name="loopstatus",
            name="step",
            field=models.CharField(default="", max_length=16, blank=True),
        ),
        migrations.AlterField(
            model_name="loopstatus",
            name="machine",
            field=models.CharField(default="", max_length=100, blank=True),
        ),
        migrations.RunPython(by_loop_and_target, by_name),
        migrations.RemoveField(model_name="loopstatus", name="name"),
        migrations.RemoveField(model_name="loopstatus", name="step"),
        migrations.RemoveField(model_name="loopstatus", name="machine"),
        migrations.AlterModelOptions(
            name="loopstatus",
            options={"ordering": ["loop", "target"], "verbose_name_plural": "loop statuses"},
        ),
        migrations.AddField(
            model_name="loopstatus",
            name="next_due",
            field=models.DateTimeField(help_text="Empty: never run, due at once", null=True),
        ),
        migrations.AddField(
            model_name="loopstatus",
            name="seen_change",
            field=models.BigIntegerField(
                default=0, help_text="The newest ledger audit entry the last success had seen"
            ),
        ),
        migrations.AddField(
            model_name="loopstatus",
            name="lease_holder",
            field=models.CharField(blank=True, help_text="host:pid:random", max_length=200),
        ),
        migrations.AddField(
            model_name="loopstatus",
            name="lease_expires",
            field=models.DateTimeField(null=True),
        ),
        migrations.AddField(
            model_name="loopstatus",
            name="takeovers",
            field=models.PositiveIntegerField(
                default=0, help_text="Leases taken from an agent that let them expire (died)"
            ),
        ),
        migrations.AddConstraint(
            model_name="loopstatus",
            constraint=models.UniqueConstraint(
                fields=("loop", "target"), name="agent_loop_target_unique"
            ),
        ),
        migrations.CreateModel(
            name="AgentProcess",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "identity",
                    models.CharField(help_text="host:pid:random", max_length=200, unique=True),
                ),
                ("host", models.CharField(max_length=200)),
                ("pid", models.PositiveIntegerField()),
                ("started", models.DateTimeField()),
                ("last_seen", models.DateTimeField()),
                (
                    "loops",
                    models.TextField(blank=True, help_text="The loops it runs, comma-separated"),
                ),
            ],
            options={"ordering": ["identity"], "verbose_name_plural": "agent processes"},
        ),
    ]
