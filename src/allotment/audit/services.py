"""Reading the audit log: one table (django-auditlog's LogEntry) covers every model."""

from datetime import datetime

from auditlog.models import LogEntry
from auditlog.registry import auditlog
from django.apps import apps
from django.conf import settings
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


def _excluded(model) -> bool:
    """Left out of auditing by settings.AUDITLOG_EXCLUDE_TRACKING_MODELS, which names an app
    ("sessions") or a model ("usage.job"): the bulk tables, audited per import as
    usage.ImportRun, and bookkeeping such as the agent's loop health."""
    excluded = {n.lower() for n in getattr(settings, "AUDITLOG_EXCLUDE_TRACKING_MODELS", ())}
    return model._meta.label_lower in excluded or model._meta.app_label in excluded


def unaudited_models() -> list:
    return [m for m in ledger_models() if not auditlog.contains(m) and not _excluded(m)]


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
