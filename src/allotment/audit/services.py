"""Reading the audit log: one table (django-auditlog's LogEntry) covers every model."""

from datetime import datetime
from typing import TypeVar

from auditlog.cid import get_cid
from auditlog.context import auditlog_disabled
from auditlog.diff import model_instance_diff
from auditlog.models import LogEntry
from auditlog.registry import auditlog
from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connections, router
from django.db.models import Model, QuerySet
from django.db.models.signals import pre_save
from django.utils.encoding import smart_str

M = TypeVar("M", bound=Model)

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


def create_audited(rows: list[M]) -> list[M]:
    """Insert `rows` (all of one model) in one statement, each with the create entry
    auditlog writes for a save, the entries in one statement too.

    For writers that make many rows at once on a hot path (burst books hundreds of VMs a
    cycle): two round trips instead of two per row, and the log the same as for a save:
    the same changes (masked and excluded fields as configured), and the actor and extra
    data of the surrounding auditlog context, which auditlog sets on LogEntry's pre_save.
    Where the database does not return the new keys from a bulk insert, the rows are saved
    one by one, so no row is ever left without its entry. A bulk insert does not call the
    model's save(): the rows must be complete as given."""
    if not rows:
        return rows
    model = type(rows[0])
    using = router.db_for_write(model)
    if not connections[using].features.can_return_rows_from_bulk_insert:
        for row in rows:
            row.save(force_insert=True)
        return rows
    made = model.objects.bulk_create(rows)
    if auditlog_disabled.get() or not auditlog.contains(model):
        return made
    content_type = ContentType.objects.get_for_model(model)
    logged = []
    for row in made:
        entry = LogEntry(
            content_type=content_type,
            object_pk=str(row.pk),
            object_id=row.pk if isinstance(row.pk, int) else None,
            object_repr=smart_str(row),
            action=LogEntry.Action.CREATE,
            changes=model_instance_diff(
                None, row, use_json_for_changes=settings.AUDITLOG_STORE_JSON_CHANGES
            ),
            serialized_data=LogEntry.objects._get_serialized_data_or_none(row),
            cid=get_cid(),
        )
        if callable(extra := getattr(row, "get_additional_data", None)):
            entry.additional_data = extra()
        pre_save.send(sender=LogEntry, instance=entry, raw=False, using=using, update_fields=None)
        logged.append(entry)
    LogEntry.objects.bulk_create(logged)
    return made


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
