"""Usage in the admin: what was imported, what waits in quarantine, the raw jobs. Read-only:
usage changes only through imports (`allot usage import`, the agent's pulls)."""

from django.contrib import admin, messages

from allotment.core.admin import LedgerAdmin

from . import ingest
from .models import ImportRun, Job, QuarantinedRecord


class ReadOnly(LedgerAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ImportRun)
class ImportRunAdmin(ReadOnly):
    list_display = ["started", "format", "machine_name", "actor", "finished", "outcome"]
    list_filter = ["format", "machine_name"]
    search_fields = ["sources", "machine_name"]
    date_hierarchy = "started"

    @admin.display(description="read / new / updated / quarantined")
    def outcome(self, obj):
        s = obj.summary or {}
        if "error" in s:
            return f"failed: {s['error'][:80]}"
        return " / ".join(str(s.get(k, 0)) for k in ("read", "new", "updated", "quarantined"))


@admin.register(QuarantinedRecord)
class QuarantinedRecordAdmin(ReadOnly):
    list_display = ["key", "kind", "machine_name", "reason", "detail", "source", "created"]
    list_filter = ["reason", "kind", "machine_name"]
    search_fields = ["key", "detail", "source"]
    actions = ["requeue"]

    def has_delete_permission(self, request, obj=None):
        # An administrator may discard a record that will never be importable.
        return request.user.is_superuser

    @admin.action(description="Retry the whole quarantine now (allot usage requeue)")
    def requeue(self, request, queryset):
        summary = ingest.requeue()
        imported = summary.new + summary.updated + summary.unchanged
        messages.info(
            request, f"Retried {summary.read}: imported {imported}, still waiting "
            f"{summary.quarantined}.",
        )  # fmt: skip


@admin.register(Job)
class JobAdmin(ReadOnly):
    list_display = ["job_id", "machine", "username", "account", "cores", "elapsed", "state"]
    list_filter = ["machine", "state"]
    search_fields = ["=job_id", "=username", "=account"]
    list_select_related = ["machine"]
