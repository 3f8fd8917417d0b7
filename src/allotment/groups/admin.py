from django.contrib import admin
from django.db import models
from django.db.models import Count

from allotment.core.admin import LedgerAdmin, admin_link

from .models import Group, GroupMember, Software


class OwnerKindFilter(admin.SimpleListFilter):
    title = "owner"
    parameter_name = "owner"
    prefix = ""

    def lookups(self, request, model_admin):
        return [("institute", "Institute"), ("project", "Project"), ("software", "Software")]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(**{f"{self.prefix}{self.value()}__isnull": False})
        return queryset


class MemberInline(admin.TabularInline):
    model = GroupMember
    extra = 0
    autocomplete_fields = ["person"]
    verbose_name_plural = "members"

    def _follows(self, obj) -> bool:
        return obj is not None and obj.follows_memberships

    # Institute and project groups follow memberships: shown, never edited here.
    def has_add_permission(self, request, obj=None):
        return not self._follows(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return not self._follows(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not self._follows(obj) and super().has_delete_permission(request, obj)


@admin.register(Group)
class GroupAdmin(LedgerAdmin):
    list_display = ["name", "gid", "owner_kind", "owner_link", "member_count"]
    list_filter = [OwnerKindFilter]
    search_fields = ["name", "description", "institute__pid", "project__pid", "software__name"]
    autocomplete_fields = ["institute", "project", "software"]
    inlines = [MemberInline]
    fieldsets = [
        (None, {"fields": ["name", "gid", "description"]}),
        ("Owner (exactly one)", {"fields": ["institute", "project", "software"]}),
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("institute", "project", "software")
            .annotate(members_n=Count("memberships"))
        )

    @admin.display(description="owned by")
    def owner_link(self, obj):
        return admin_link(obj.owner)

    @admin.display(description="members", ordering="members_n")
    def member_count(self, obj):
        return obj.members_n


@admin.register(Software)
class SoftwareAdmin(LedgerAdmin):
    list_display = ["name", "homepage", "group_link"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    search_fields = ["name", "description"]

    @admin.display(description="unix group")
    def group_link(self, obj):
        return admin_link(getattr(obj, "group", None))


class MemberOwnerKindFilter(OwnerKindFilter):
    prefix = "group__"


@admin.register(GroupMember)
class GroupMemberAdmin(LedgerAdmin):
    list_display = ["group", "person"]
    list_filter = [MemberOwnerKindFilter]
    search_fields = ["group__name", "person__username", "person__first_name", "person__last_name"]
    autocomplete_fields = ["group", "person"]
    list_select_related = ["group", "person"]
