from django import forms
from django.contrib import admin
from django.contrib.admin.views.main import ORDER_VAR, ChangeList
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count
from django.forms.models import BaseInlineFormSet
from django.utils.html import format_html

from allotment.core.admin import LedgerAdmin, RankedLevelAdmin, admin_link
from allotment.core.numbers import display
from allotment.grants.models import AllocationPool, Grant
from allotment.grants.services import summarise

from .models import Project, ProjectLevel, ProjectMembership


class TreeChangeList(ChangeList):
    """Lists projects in tree order (each parent followed by its subtree) unless the user
    sorts by a column."""

    def get_ordering(self, request, queryset):
        if ORDER_VAR in self.params:
            return super().get_ordering(request, queryset)
        return ["tree_ordering"]


class SubtreeFilter(admin.SimpleListFilter):
    """Show one project and everything below it."""

    title = "subtree"
    parameter_name = "subtree"
    project_path = None  # the lookup to a Project from the filtered model

    def lookups(self, request, model_admin):
        rows = Project.objects.with_tree_fields().values_list("pid", "tree_depth")
        return [(pid, "\u2003" * depth + pid) for pid, depth in rows]

    def queryset(self, request, queryset):
        pid = self.value()
        if not pid:
            return queryset
        root = Project.objects.filter(pid=pid).first()
        if root is None:
            return queryset.none()
        ids = list(Project.objects.subtree(root).values_list("pk", flat=True))
        return queryset.filter(**{f"{self.project_path}__in": ids})


class ProjectSubtreeFilter(SubtreeFilter):
    project_path = "pk"


def subtree_filter(path: str) -> type[SubtreeFilter]:
    """A subtree filter for a model that points at a project through `path`."""
    return type(f"SubtreeFilter_{path}", (SubtreeFilter,), {"project_path": path})


class InstituteFilter(admin.SimpleListFilter):
    title = "kind"
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return [("institute", "Institutes"), ("project", "Projects")]

    def queryset(self, request, queryset):
        if self.value() == "institute":
            return queryset.filter(parent__isnull=True)
        if self.value() == "project":
            return queryset.filter(parent__isnull=False)
        return queryset


class PrimaryContactOnce(BaseInlineFormSet):
    """Rows saved together must respect the one-primary-contact rule among themselves too."""

    def clean(self):
        super().clean()
        contacts = [
            f.cleaned_data["person"]
            for f in self.forms
            if f.cleaned_data.get("is_primary_contact") and not f.cleaned_data.get("DELETE")
        ]
        if len(contacts) > 1:
            names = ", ".join(str(p) for p in contacts)
            raise ValidationError(
                f'Project "{self.instance}" can have at most one primary contact; '
                f"{names} are all marked."
            )


class MembershipInline(admin.TabularInline):
    model = ProjectMembership
    formset = PrimaryContactOnce
    extra = 0
    autocomplete_fields = ["person"]
    fields = [
        "person",
        "project_level",
        "is_leader",
        "is_supervisor",
        "is_primary_contact",
        "is_default_project",
        "date_joined",
    ]


class GrantInline(admin.TabularInline):
    model = Grant
    extra = 0
    formfield_overrides = {models.TextField: {"widget": forms.TextInput(attrs={"size": 40})}}
    fields = ["scheme", "awarded", "begins", "expires", "description"]
    show_change_link = True


class AllocationPoolSummaryInline(admin.TabularInline):
    model = AllocationPool
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "allocation pools"
    fields = ["resource_pool", "period", "allocated", "used", "remaining"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def _summary(self, obj):
        if not hasattr(obj, "_summary"):
            obj._summary = summarise(AllocationPool.objects.filter(pk=obj.pk))[0]
        return obj._summary

    @admin.display(description="allocated")
    def allocated(self, obj):
        s = self._summary(obj)
        return f"{display(s.allocated)} {s.units}"

    @admin.display(description="used")
    def used(self, obj):
        s = self._summary(obj)
        return f"{display(s.used)} {s.units}"

    @admin.display(description="remaining")
    def remaining(self, obj):
        s = self._summary(obj)
        return f"{display(s.remaining)} {s.units}"


@admin.register(Project)
class ProjectAdmin(LedgerAdmin):
    list_display = [
        "tree_pid",
        "name",
        "allocation_mode",
        "is_active",
        "members",
        "start_date",
        "end_date",
    ]
    list_display_links = ["tree_pid"]
    list_filter = [ProjectSubtreeFilter, InstituteFilter, "allocation_mode", "is_active"]
    search_fields = ["pid", "name", "description"]
    autocomplete_fields = ["parent", "approved_by"]
    inlines = [MembershipInline, GrantInline, AllocationPoolSummaryInline]
    fieldsets = [
        (None, {"fields": ["pid", "name", "parent", "description"]}),
        ("Allocations", {"fields": ["allocation_mode"]}),
        ("Lifetime", {"fields": ["is_active", "start_date", "end_date"]}),
        ("Approval", {"fields": ["approved_by", "date_approved"], "classes": ["collapse"]}),
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .with_tree_fields()
            .annotate(member_count=Count("memberships", distinct=True))
        )

    def get_changelist(self, request, **kwargs):
        return TreeChangeList

    def get_readonly_fields(self, request, obj=None):
        # A project id is changed only with `allot project set-pid`, never by an edit.
        return ["pid"] if obj is not None else []

    @admin.display(description="project", ordering="tree_ordering")
    def tree_pid(self, obj):
        depth = getattr(obj, "tree_depth", 0)
        if obj.parent_id is None:
            return format_html("<strong>{}</strong>", obj.pid)
        return format_html(
            '<span style="padding-left:{}em;white-space:nowrap">└─ {}</span>',
            (depth - 1) * 1.6,
            obj.pid,
        )

    @admin.display(description="members", ordering="member_count")
    def members(self, obj):
        return obj.member_count


@admin.register(ProjectLevel)
class ProjectLevelAdmin(RankedLevelAdmin):
    pass


@admin.register(ProjectMembership)
class ProjectMembershipAdmin(LedgerAdmin):
    list_display = [
        "person",
        "project_link",
        "project_level",
        "is_leader",
        "is_supervisor",
        "is_primary_contact",
        "is_default_project",
    ]
    list_filter = [
        subtree_filter("project"),
        "project_level",
        "is_leader",
        "is_supervisor",
        "is_primary_contact",
        "is_default_project",
    ]
    search_fields = ["person__username", "person__first_name", "person__last_name", "project__pid"]
    autocomplete_fields = ["person", "project"]
    list_select_related = ["person", "project", "project_level"]

    @admin.display(description="project", ordering="project__pid")
    def project_link(self, obj):
        return admin_link(obj.project)
