"""The inventory in the admin: nodes, provisioners, images, and the shifts' record.

A node's state, its service and its shift are the agent's and the operator's to change,
through inventory.services and core.fsm (which check the move and write its history), so
here they are read-only; the actions below call those same services. Provisioners and
images are checked by inventory.catalog, as `allot provisioner` and `allot image` are.
Shifts and capacity changes are a record: read-only.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join

from allotment.core import fsm
from allotment.core.admin import LedgerAdmin, admin_link
from allotment.core.validation import error_messages, save_validated

from . import catalog, services
from .models import CapacityChange, Image, Node, Provisioner, Shift, ShiftNode
from .views_data import history_dicts

# -- nodes ----------------------------------------------------------------------------------


class NodeForm(forms.ModelForm):
    class Meta:
        model = Node
        fields = ["name", *services.SETTABLE]

    def clean(self):
        data = super().clean()
        if data.get("maintenance") is False:  # as `allot node set --no-maintenance`
            data["maintenance_reason"] = ""
        return data


@admin.register(Node)
class NodeAdmin(LedgerAdmin):
    form = NodeForm
    list_display = ["name", "state", "service", "rack", "cpus", "protected", "maintenance"]
    list_filter = ["state", "service", "rack", "protected", "maintenance"]
    search_fields = ["name"]
    list_select_related = ["service"]
    actions = ["retry", "abort", "force"]

    def get_readonly_fields(self, request, obj=None):
        """Everything but what `allot node set` may change (services.SETTABLE); the name too
        once the node exists, since Slurm and Nova know it by that name."""
        settable = set(services.SETTABLE) | ({"name"} if obj is None else set())
        fields = [f.name for f in Node._meta.fields if f.name not in settable and f.name != "id"]
        return [*fields, "history"] if obj is not None else fields

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # one at a time, and only out of every service
        return actions

    def has_delete_permission(self, request, obj=None):
        if obj is not None and (obj.service_id or obj.shift_id):
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.provisioner = obj.provisioner or services.default_provisioner()
            save_validated(obj)
            return
        changes = {f: form.cleaned_data[f] for f in form.changed_data if f in services.SETTABLE}
        services.set_nodes([obj], changes)

    @admin.display(description="history (newest first)")
    def history(self, obj: Node) -> str:
        rows = history_dicts(obj, limit=50)
        if not rows:
            return "—"
        cells = format_html_join(
            "",
            "<tr><td>{}</td><td>{} → {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((f"{h['at']:%Y-%m-%d %H:%M:%S}", h["from"], h["to"], h["event"],
              h["by"] or h["via"] or "", h["reason"]) for h in rows),
        )  # fmt: skip
        return format_html(
            "<table><tr><th>at</th><th>move</th><th>event</th><th>by</th><th>reason</th></tr>"
            "{}</table>",
            cells,
        )

    def _operator(self, request, queryset, action: fsm.Action) -> None:
        done, refused = [], []
        for node in queryset:
            try:
                services.operator_action(node, action, actor=request.user, via="admin")
                done.append(node.name)
            except ValidationError as e:
                refused.extend(error_messages(e))
        if done:
            messages.success(request, f"{action.capitalize()}: {services.collapse(done)}.")
        for line in refused:
            messages.error(request, line)

    @admin.action(description="Retry the selected failed nodes", permissions=["change"])
    def retry(self, request, queryset):
        self._operator(request, queryset, fsm.Action.RETRY)

    @admin.action(description="Abort the selected failed nodes' shifts", permissions=["change"])
    def abort(self, request, queryset):
        self._operator(request, queryset, fsm.Action.ABORT)

    @admin.action(
        description="Force the selected failed nodes (the work was done by hand)",
        permissions=["change"],
    )
    def force(self, request, queryset):
        self._operator(request, queryset, fsm.Action.FORCE)


# -- provisioners and images: the catalogue's checks on every save -------------------------


class CatalogForm(forms.ModelForm):
    """Runs inventory.catalog's check on the object as the form would save it, so the admin
    refuses what the CLI refuses, with the same words."""

    check = staticmethod(lambda obj, before: None)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        model = self._meta.model
        pk = self.instance.pk
        self.before = model.objects.filter(pk=pk).first() if pk is not None else None

    def _post_clean(self):
        super()._post_clean()
        try:
            self.check(self.instance, self.before)
        except ValidationError as e:
            self._update_errors(e)


class ProvisionerForm(CatalogForm):
    check = staticmethod(catalog.check_provisioner)

    class Meta:
        model = Provisioner
        fields = list(catalog.PROVISIONER_FIELDS)


class ImageForm(CatalogForm):
    check = staticmethod(catalog.check_image)
    # a URL typed without a scheme is refused by the check, not completed with one
    source_url = forms.URLField(max_length=500, assume_scheme="https")

    class Meta:
        model = Image
        fields = list(catalog.IMAGE_FIELDS)

    def clean_checksum(self):
        return catalog.normal_checksum(self.cleaned_data["checksum"])


@admin.register(Provisioner)
class ProvisionerAdmin(LedgerAdmin):
    form = ProvisionerForm
    list_display = ["name", "driver", "where", "node_count", "description"]
    list_filter = ["driver"]
    search_fields = ["name", "description"]

    @admin.display(description="where")
    def where(self, obj: Provisioner) -> str:
        return catalog.where(obj) or "—"

    @admin.display(description="nodes")
    def node_count(self, obj: Provisioner) -> int:
        return obj.nodes.count()


@admin.register(Image)
class ImageAdmin(LedgerAdmin):
    form = ImageForm
    list_display = ["name", "kind", "source_url", "checksum", "description"]
    list_filter = ["kind"]
    search_fields = ["name", "source_url", "description"]


# -- the record: shifts and capacity --------------------------------------------------------


class ReadOnlyAdmin(LedgerAdmin):
    """A record the agent and the services write; the admin only shows it."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ShiftNodeInline(admin.TabularInline):
    model = ShiftNode
    extra = 0
    can_delete = False
    fields = ["node_link", "from_service", "outcome", "started_at", "finished_at", "detail"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("node", "from_service")

    @admin.display(description="node")
    def node_link(self, obj: ShiftNode) -> str:
        return admin_link(obj.node)


@admin.register(Shift)
class ShiftAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "image", "nodes", "created_at", "created_by", "via", "finished_at",
                    "aborted"]  # fmt: skip
    list_filter = ["to_service", "aborted", "via"]
    list_select_related = ["to_service", "image", "created_by"]
    date_hierarchy = "created_at"
    inlines = [ShiftNodeInline]
    actions = ["abort"]

    @admin.display(description="nodes")
    def nodes(self, obj: Shift) -> int:
        return obj.items.count()

    def has_abort_permission(self, request) -> bool:
        """Aborting is a request to the agent, not an edit of the record: whoever may
        change shifts may ask it (a superuser; the page itself is read-only)."""
        return request.user.has_perm("inventory.change_shift")

    @admin.action(description="Abort the selected shifts", permissions=["abort"])
    def abort(self, request, queryset):
        for shift in queryset:
            try:
                services.abort_shift(shift, actor=request.user, via="admin")
                messages.success(request, f"Shift {shift.pk}: aborted.")
            except ValidationError as e:
                for line in error_messages(e):
                    messages.error(request, line)


@admin.register(CapacityChange)
class CapacityChangeAdmin(ReadOnlyAdmin):
    list_display = ["at", "machine", "node", "shift", "cores", "nodes", "cores_after",
                    "nodes_after"]  # fmt: skip
    list_filter = ["machine"]
    search_fields = ["node__name", "machine__name"]
    list_select_related = ["machine", "node", "shift__to_service"]
    date_hierarchy = "at"
