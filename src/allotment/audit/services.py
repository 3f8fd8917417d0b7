"""Reading the audit log: one table (django-auditlog's LogEntry) covers every model."""

from datetime import datetime

from auditlog.models import LogEntry
from auditlog.registry import auditlog
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

ACTIONS = {
    LogEntry.Action.CREATE: "create",
    LogEntry.Action.UPDATE: "update",
    LogEntry.Action.DELETE: "delete",
    LogEntry.Action.ACCESS: "access",
}


def ledger_models() -> list:
    """Every concrete model of Allotment's own apps."""
    return [
        m
        for m in apps.get_models()
        if m.__module__.startswith("allotment.") and not m._meta.abstract
    ]


# Tables written in bulk by imports and the aggregator; their changes are audited per import
# (usage.ImportRun) because a log entry per row would cost more than the rows themselves.
BULK_TABLES = {
    "usage.job",
    "usage.storagesnapshot",
    "usage.dailyusage",
    "usage.monthlyusage",
    "usage.quarantinedrecord",
}
# Bookkeeping rewritten every few minutes, not ledger state: the agent's loop health.
BOOKKEEPING_TABLES = {"agent.loopstatus"}


def unaudited_models() -> list:
    return [
        m
        for m in ledger_models()
        if not auditlog.contains(m) and m._meta.label_lower not in BULK_TABLES | BOOKKEEPING_TABLES
    ]


def entries(
    *,
    model: str | None = None,
    object_pk: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
) -> QuerySet[LogEntry]:
    qs = LogEntry.objects.select_related("actor", "content_type").order_by("-timestamp", "-pk")
    if model:
        try:
            app_label, model_name = model.lower().split(".")
            ct = ContentType.objects.get(app_label=app_label, model=model_name)
        except (ValueError, ContentType.DoesNotExist):
            raise ValidationError(
                f'Unknown model "{model}": give it as app.model, e.g. projects.project.'
            ) from None
        qs = qs.filter(content_type=ct)
    if object_pk:
        qs = qs.filter(object_pk=object_pk)
    if actor:
        qs = qs.filter(actor__username=actor)
    if since:
        qs = qs.filter(timestamp__gte=since)
    return qs


def as_dict(entry: LogEntry) -> dict:
    return {
        "id": entry.pk,
        "timestamp": entry.timestamp.isoformat(),
        "action": ACTIONS.get(entry.action, str(entry.action)),
        "model": f"{entry.content_type.app_label}.{entry.content_type.model}",
        "object_pk": entry.object_pk,
        "object": entry.object_repr,
        "actor": entry.actor.username if entry.actor_id else None,
        "changes": entry.changes_dict,
        "additional_data": entry.additional_data,
    }
