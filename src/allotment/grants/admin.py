from django.contrib import admin

from allotment.core.admin import LedgerAdmin
from allotment.core.numbers import display
from allotment.projects.admin import subtree_filter

from .models import Allocation, AllocationCap, AllocationPeriod, AllocationPool, Grant, Scheme
from .services import used_by_pool, with_allocated


class AllocationInline(admin.TabularInline):
    model = Allocation
    extra = 1
    fields = ["grant", "quantity", "description"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # Offer only the grants of the pool's own project.
        if db_field.name == "grant":
            pool_id = request.resolver_match.kwargs.get("object_id")
            pool = AllocationPool.objects.filter(pk=pool_id).first() if pool_id else None
            if pool is not None:
                kwargs["queryset"] = Grant.objects.filter(project=pool.project)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class GrantAllocationInline(admin.TabularInline):
    model = Allocation
    extra = 0
    fields = ["allocation_pool", "quantity", "description"]
    autocomplete_fields = ["allocation_pool"]


@admin.register(Scheme)
class SchemeAdmin(LedgerAdmin):
    list_display = ["name", "opened", "closed", "description"]
    list_filter = ["opened", "closed"]
    search_fields = ["name", "description"]


@admin.register(Grant)
class GrantAdmin(LedgerAdmin):
    list_display = ["__str__", "project", "scheme", "awarded", "begins", "expires"]
    list_filter = ["scheme", subtree_filter("project"), "begins", "expires"]
    search_fields = ["project__pid", "project__name", "scheme__name", "description"]
    autocomplete_fields = ["project"]
    list_select_related = ["project", "scheme"]
    inlines = [GrantAllocationInline]
    date_hierarchy = "begins"


@admin.register(AllocationPeriod)
class AllocationPeriodAdmin(LedgerAdmin):
    list_display = ["name", "start", "end"]
    search_fields = ["name"]
    list_filter = ["start"]


@admin.register(AllocationPool)
class AllocationPoolAdmin(LedgerAdmin):
    list_display = [
        "project",
        "resource_pool",
        "period",
        "allocated_col",
        "used_col",
        "remaining_col",
        "percent_col",
    ]
    list_filter = ["period", "resource_pool", subtree_filter("project")]
    search_fields = ["project__pid", "project__name", "resource_pool__name", "period__name"]
    autocomplete_fields = ["project"]
    list_select_related = ["project", "resource_pool", "period"]
    readonly_fields = ["allocated_col", "used_col", "remaining_col", "percent_col"]
    fields = ["project", "period", "resource_pool", *readonly_fields]
    inlines = [AllocationInline]

    def get_queryset(self, request):
        return with_allocated(super().get_queryset(request))

    def used(self, obj):
        return used_by_pool([obj.pk])[obj.pk]

    def _amount(self, obj, value):
        return f"{display(value)} {obj.resource_pool.units}"

    @admin.display(description="allocated", ordering="allocated")
    def allocated_col(self, obj):
        return self._amount(obj, obj.allocated)

    @admin.display(description="used")
    def used_col(self, obj):
        return self._amount(obj, self.used(obj))

    @admin.display(description="remaining")
    def remaining_col(self, obj):
        return self._amount(obj, obj.allocated - self.used(obj))

    @admin.display(description="% used")
    def percent_col(self, obj):
        if not obj.allocated:
            return "—"
        return f"{self.used(obj) / obj.allocated * 100:.1f} %"


@admin.register(Allocation)
class AllocationAdmin(LedgerAdmin):
    list_display = ["__str__", "grant", "allocation_pool", "quantity"]
    list_filter = ["allocation_pool__period", "allocation_pool__resource_pool", "grant__scheme"]
    search_fields = ["allocation_pool__project__pid", "description"]
    autocomplete_fields = ["allocation_pool"]
    list_select_related = [
        "grant__project",
        "grant__scheme",
        "allocation_pool__project",
        "allocation_pool__resource_pool",
        "allocation_pool__period",
    ]


@admin.register(AllocationCap)
class AllocationCapAdmin(LedgerAdmin):
    list_display = ["project", "resource_pool", "quantity"]
    list_filter = ["resource_pool"]
    search_fields = ["project__pid"]
    autocomplete_fields = ["project"]
