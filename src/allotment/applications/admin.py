"""The admin shows applications for reading and searching; decisions go through the
services (the pages or `allot application`), so that they are checked, mailed and audited
in one place."""

from django.contrib import admin

from allotment.core.admin import LedgerAdmin

from .models import Invitation, JoinRequest, ProjectApplication


class ReadOnlyAdmin(LedgerAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(JoinRequest)
class JoinRequestAdmin(ReadOnlyAdmin):
    list_display = ["ref", "person", "project", "state", "created", "decided_by", "decided_at"]
    list_filter = ["state", "created"]
    search_fields = ["person__username", "person__last_name", "project__pid", "message"]
    list_select_related = ["person", "project", "decided_by"]
    date_hierarchy = "created"


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    list_display = ["ref", "email", "project", "state", "invited_by", "created", "expires_at"]
    list_filter = ["state", "created", "expires_at"]
    search_fields = ["email", "project__pid", "invited_by__username"]
    list_select_related = ["project", "invited_by"]
    exclude = ["token_hash"]
    date_hierarchy = "created"


@admin.register(ProjectApplication)
class ProjectApplicationAdmin(ReadOnlyAdmin):
    list_display = ["ref", "pid", "applicant", "institute", "state", "created", "decided_by"]
    list_filter = ["state", "institute", "created"]
    search_fields = ["pid", "name", "applicant__username", "applicant__last_name"]
    list_select_related = ["applicant", "institute", "decided_by"]
    date_hierarchy = "created"
