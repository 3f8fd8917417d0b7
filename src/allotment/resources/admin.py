from django.contrib import admin
from django.db.models import DecimalField, ExpressionWrapper, F, Sum
from django.db.models.functions import Coalesce

from allotment.core.admin import LedgerAdmin
from allotment.core.numbers import display

from .models import Account, Machine, MachineCategory, Resource, ResourcePool


class ResourceInline(admin.TabularInline):
    model = Resource
    extra = 0
    fields = ["name", "pool", "machine", "quantity", "scaling_factor"]


@admin.register(MachineCategory)
class MachineCategoryAdmin(LedgerAdmin):
    list_display = ["name", "description"]
    search_fields = ["name", "description"]


@admin.register(Machine)
class MachineAdmin(LedgerAdmin):
    list_display = ["name", "category", "kind", "cores", "nodes", "start_date", "end_date"]
    list_filter = ["category", "kind"]
    search_fields = ["name", "description"]
    inlines = [ResourceInline]


@admin.register(Account)
class AccountAdmin(LedgerAdmin):
    list_display = [
        "username",
        "person",
        "machine_category",
        "uid",
        "default_project",
        "login_enabled",
        "date_created",
        "date_deleted",
    ]
    list_filter = [
        "machine_category",
        "login_enabled",
        ("date_deleted", admin.EmptyFieldListFilter),
    ]
    search_fields = [
        "username",
        "uid",
        "person__username",
        "person__first_name",
        "person__last_name",
    ]
    autocomplete_fields = ["person", "default_project"]
    list_select_related = ["person", "machine_category", "default_project"]


_capacity = Coalesce(
    Sum(
        ExpressionWrapper(
            F("resources__quantity") * F("resources__scaling_factor"),
            output_field=DecimalField(max_digits=36, decimal_places=12),
        )
    ),
    0,
    output_field=DecimalField(max_digits=36, decimal_places=12),
)


@admin.register(ResourcePool)
class ResourcePoolAdmin(LedgerAdmin):
    list_display = ["name", "units", "aggregation", "capacity_display", "description"]
    list_filter = ["aggregation", "units"]
    search_fields = ["name", "description"]
    inlines = [ResourceInline]
    readonly_fields = ["capacity_display"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(capacity_sum=_capacity)

    @admin.display(description="capacity (Σ quantity × scaling)", ordering="capacity_sum")
    def capacity_display(self, obj):
        value = getattr(obj, "capacity_sum", None)
        return f"{display(obj.capacity if value is None else value)} {obj.units}"


@admin.register(Resource)
class ResourceAdmin(LedgerAdmin):
    list_display = ["name", "pool", "machine", "quantity", "scaling_factor", "scaled"]
    list_filter = ["pool", "machine", "machine__category"]
    search_fields = ["name", "pool__name", "machine__name"]
    list_select_related = ["pool", "machine"]

    @admin.display(description="in pool units")
    def scaled(self, obj):
        return f"{display(obj.scaled_quantity)} {obj.pool.units}"
