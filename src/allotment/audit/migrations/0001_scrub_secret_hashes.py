"""Hide the secrets that log entries written before the masking fix still hold.

Entries written with auditlog's default mask keep half of each password hash; token hashes
were not masked at all. This rewrites only the secret fields of the entries that name one,
in batches; the rest of each entry (who, when, the other fields) is left as it was.
"""

import json

from django.db import migrations
from django.db.models import Q

from allotment.audit.masking import scrub_changes, secret_fields

BATCH = 500


def scrub(apps, schema_editor) -> None:
    LogEntry = apps.get_model("auditlog", "LogEntry")
    fields = secret_fields()
    if not fields:
        return
    named = Q()
    for field in fields:
        # changes_text is where auditlog kept changes before its JSON column.
        named |= Q(changes__has_key=field) | Q(changes_text__contains=f'"{field}"')
    # The keys first, then each batch read and written: no cursor stays open on the table
    # being rewritten (SQLite would see its own updates).
    pks = list(LogEntry.objects.filter(named).order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(pks), BATCH):
        batch = LogEntry.objects.filter(pk__in=pks[start : start + BATCH])
        changed = [entry for entry in batch.only("changes", "changes_text") if _scrubbed(entry)]
        LogEntry.objects.bulk_update(changed, ["changes", "changes_text"])


def _scrubbed(entry) -> bool:
    """Hide the secrets of one entry in place; whether anything changed."""
    dirty = False
    changes = scrub_changes(entry.changes)
    if changes is not entry.changes:
        entry.changes, dirty = changes, True
    try:
        text = json.loads(entry.changes_text) if entry.changes_text else None
    except ValueError:
        text = None
    scrubbed = scrub_changes(text)
    if scrubbed is not text:
        entry.changes_text, dirty = json.dumps(scrubbed), True
    return dirty


class Migration(migrations.Migration):
    dependencies = [("auditlog", "0017_add_actor_email")]

    operations = [migrations.RunPython(scrub, migrations.RunPython.noop, elidable=True)]
