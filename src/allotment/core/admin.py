"""What every Allotment admin page shares: history from the audit log, tidy defaults."""

from auditlog.mixins import AuditlogHistoryAdminMixin
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

admin.site.site_header = "Allotment"
admin.site.site_title = "Allotment"
admin.site.index_title = "Site administration"


class LedgerAdmin(AuditlogHistoryAdminMixin, admin.ModelAdmin):
    """A ModelAdmin whose History button shows the audit log of every change to the object,
    whichever way it was made (admin, CLI, API or agent), with the fields that changed."""

    list_per_page = 50
    show_full_result_count = False
    auditlog_history_per_page = 25

    def history_view(self, request, object_id, extra_context=None):
        return self.auditlog_history_view(request, object_id, extra_context)


def admin_link(obj, text: str | None = None) -> str:
    """An HTML link to an object's admin change page."""
    if obj is None:
        return "—"
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text or str(obj))


class RankedLevelAdmin(LedgerAdmin):
    """Career levels and project levels (core.models.RankedLevel) are edited alike."""

    list_display = ["name", "rank", "description"]
    list_filter = ["rank"]
    search_fields = ["name", "description"]
