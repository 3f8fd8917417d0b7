"""Burst over the API: /api/clouds/, /api/vms/, /api/burst/status/, /api/burst/vms-over-time/.

Site administrators only, reads included, as for the inventory: a cloud's quota, its
errors and the VMs booted for each project are infrastructure. Everything else answers
403 before the URL's object is looked up.

The answers are burst.status's read model, the same dicts `allot cloud|vm|burst ... --json`
print, so the API, the CLI and the page never disagree. The writes go through the same
functions as the CLI: catalog.set_cloud for a cloud's settings, services.retire for a VM.
Nothing here calls a cloud or the batch system: a request changes what the site wants and
the agent's loops do the rest.
"""

from __future__ import annotations

import copy

from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404
from django_filters import rest_framework as filters
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from allotment.access import policy
from allotment.burst import catalog, services, status
from allotment.burst.models import VM, Cloud
from allotment.burst.states import LIVE, VMStates
from allotment.core.numbers import is_digits

from .filters import FilterSet, StrictBooleanField, StrictBooleanFilter
from .inventory import HISTORY_ENTRY  # the same moves, from the same history_dicts
from .pagination import Pagination
from .permissions import PolicyPermission, refuse
from .views import QueryFilterBackend, note_actor

# vms-over-time: the longest window and the most points one answer holds (31 days, 500).
MAX_HOURS, MAX_POINTS = status.HOURS_MAX, status.POINTS_MAX
DEFAULT_HOURS, DEFAULT_POINTS = 24, 96

RESPONSES = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="Refused input, naming the field."),
    403: OpenApiResponse(OpenApiTypes.OBJECT, description="Not a site administrator."),
    404: OpenApiResponse(OpenApiTypes.OBJECT, description="No such cloud or VM."),
}


def _answers(ok: object, *codes: int) -> dict:
    return {200: ok, **{code: RESPONSES[code] for code in codes}}


class BurstAdminsOnly(PolicyPermission):
    """Signed in (401 otherwise) and a site administrator (403 otherwise), for every method."""

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        if not policy.is_site_admin(request.user):
            refuse("Only site administrators may see or change burst (clouds and VMs).")
        return True

    def has_object_permission(self, request, view, obj) -> bool:
        return True  # has_permission decided for everything


class BurstView:
    """What every burst endpoint shares: its permission, and the caller in the audit log."""

    permission_classes = [BurstAdminsOnly]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        note_actor(request)


def _object(description: str) -> OpenApiResponse:
    return OpenApiResponse(OpenApiTypes.OBJECT, description=description)


def _page(description: str) -> OpenApiResponse:
    return OpenApiResponse(
        {
            "type": "object",
            "properties": {
                "count": {"type": "integer"},
                "next": {"type": "string", "nullable": True},
                "previous": {"type": "string", "nullable": True},
                "results": {"type": "array", "items": {"type": "object"}},
            },
        },
        description=description,
    )


def _paged(view: APIView, request: Request, rows: list) -> Response:
    paginator = Pagination()
    page = paginator.paginate_queryset(rows, request, view=view)
    return paginator.get_paginated_response(page)


# Clouds --------------------------------------------------------------------------------

# What a PATCH may not write, and why.
READ_ONLY_CLOUD_FIELDS = {
    "name": "a cloud's name is its ledger machine's name",
    "driver": "the driver is chosen when the cloud is added (allot cloud add)",
    "options": "how to reach the cloud (a clouds.yaml entry, a profile) is set with allot "
    "cloud set, where it is checked",
    "serves": "the batch machines a cloud serves are set with allot cloud set --serves",
}


class CloudChangeSerializer(serializers.Serializer):
    """PATCH body: the site's settings of a cloud. Anything else is refused by name."""

    enabled = serializers.BooleanField(required=False)
    priority = serializers.IntegerField(
        min_value=0, max_value=2**31 - 1, required=False, help_text="Lower is chosen first."
    )
    price_per_core_hour = serializers.DecimalField(
        max_digits=12, decimal_places=6, min_value=0, required=False
    )
    max_instances = serializers.IntegerField(min_value=0, max_value=2**31 - 1, allow_null=True,
                                             required=False)  # fmt: skip
    max_cores = serializers.IntegerField(min_value=0, max_value=2**31 - 1, allow_null=True,
                                         required=False)  # fmt: skip
    max_ram_mb = serializers.IntegerField(min_value=0, max_value=2**31 - 1, allow_null=True,
                                          required=False)  # fmt: skip
    max_starting = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False)
    max_boots_per_cycle = serializers.IntegerField(min_value=0, max_value=2**31 - 1,
                                                   required=False)  # fmt: skip
    idle_headroom = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False)
    boot_timeout = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False,
                                            help_text="Seconds.")  # fmt: skip
    register_timeout = serializers.IntegerField(min_value=0, max_value=2**31 - 1,
                                                required=False, help_text="Seconds.")  # fmt: skip
    idle_keep = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False,
                                         help_text="Seconds.")  # fmt: skip
    single_use = serializers.BooleanField(
        required=False, help_text="A VM runs only the jobs it first takes, then is deleted."
    )
    images = serializers.ListField(child=serializers.CharField(max_length=200), max_length=200,
                                   required=False)  # fmt: skip
    default_image = serializers.CharField(max_length=200, allow_blank=True, required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=100), max_length=100,
                                 required=False)  # fmt: skip

    def validate(self, attrs: dict) -> dict:
        body = self.initial_data if isinstance(self.initial_data, dict) else {}
        settable = list(self.fields)
        errors = {}
        for name in body:
            if name in READ_ONLY_CLOUD_FIELDS:
                errors[name] = [f"is read-only here: {READ_ONLY_CLOUD_FIELDS[name]}."]
            elif name not in settable:
                errors[name] = [
                    "is not a setting of a cloud that can be changed here; settable: "
                    + ", ".join(settable) + "."
                ]  # fmt: skip
        if errors:
            raise serializers.ValidationError(errors)
        if not attrs:
            raise serializers.ValidationError(
                "Give at least one setting to change: " + ", ".join(settable) + "."
            )
        return attrs


def _cloud(name: str) -> Cloud:
    return get_object_or_404(Cloud, machine__name=name)


class PagedByHand(AutoSchema):
    """The cloud list is paged by hand (`_paged`) and its schema already says so: without
    this, the schema generator would wrap the page in an array as for any `list`."""

    def _is_list_view(self, serializer=None) -> bool:
        return False


class CloudViewSet(BurstView, viewsets.ViewSet):
    """The clouds burst boots into: what each says (health, quota) and the site's settings."""

    schema = PagedByHand()

    lookup_field = "name"
    lookup_value_regex = r"[\w.@+-]+"

    @extend_schema(
        operation_id="clouds_list",
        summary="The clouds, with health, quota, what is free and the site's settings",
        parameters=[
            OpenApiParameter("limit", int, description="Rows per page (at most 1000)."),
            OpenApiParameter("offset", int),
        ],
        responses=_answers(_page("status.cloud_rows(): one row per cloud."), 403),
    )
    def list(self, request: Request) -> Response:
        return _paged(self, request, status.cloud_rows())

    @extend_schema(
        summary="A cloud: its row, flavors, images, back-offs in force and latest VMs",
        responses=_answers(_object("status.cloud_detail()."), 403, 404),
    )
    def retrieve(self, request: Request, name: str | None = None) -> Response:
        return Response(status.cloud_detail(_cloud(name).name))

    @extend_schema(
        summary="Change a cloud's site settings",
        description="Any of: " + ", ".join(CloudChangeSerializer().fields) + ". The name, "
        "driver, options and served machines, and what the cloud says (health, quota), are "
        "refused by name (400). Written through the same checks as `allot cloud set`; the "
        "agent's next cycle uses them.",
        request=CloudChangeSerializer,
        responses=_answers(_object("status.cloud_detail(), after the change."), 400, 403, 404),
    )
    def partial_update(self, request: Request, name: str | None = None) -> Response:
        cloud = _cloud(name)
        change = CloudChangeSerializer(data=request.data)
        change.is_valid(raise_exception=True)
        catalog.set_cloud(cloud.name, **change.validated_data)
        return Response(status.cloud_detail(cloud.name))


# VMs -----------------------------------------------------------------------------------


def vm_queryset() -> QuerySet[VM]:
    """Every VM, newest first, with what status.vm_dict reads."""
    return VM.objects.select_related("cloud__machine", "batch", "flavor", "project").order_by(
        "-requested_at", "-pk"
    )


class LiveOnlyField(StrictBooleanField):
    widget = forms.Select(choices=[("", "All"), ("true", "Live only")])  # gives the raw word


class LiveOnlyFilter(StrictBooleanFilter):
    field_class = LiveOnlyField


class VMFilter(FilterSet):
    """The VM list's filters (the API's and the page's). Each one narrows: a name that
    names nothing lists nothing; a value that is not one (a state burst has not) is a 400."""

    cloud = filters.CharFilter(field_name="cloud__machine__name", help_text="VMs of this cloud.")
    state = filters.ChoiceFilter(choices=[(s, s) for s in VMStates.states])
    batch = filters.CharFilter(field_name="batch__name", help_text="VMs of this batch machine.")
    project = filters.CharFilter(
        method="for_project", help_text="VMs booted for this project (its pid or account)."
    )
    live = LiveOnlyFilter(
        method="only_live", help_text="true: only VMs a server exists or may exist for."
    )

    class Meta:
        model = VM
        fields = ["cloud", "state", "batch", "project", "live"]

    def for_project(self, queryset, name, value):
        return queryset.filter(Q(project__pid__iexact=value) | Q(account__iexact=value))

    def only_live(self, queryset, name, value):
        return queryset.filter(state__in=LIVE) if value else queryset


def _datetime(**kwargs) -> serializers.DateTimeField:
    return serializers.DateTimeField(allow_null=True, **kwargs)


class VMSerializer(serializers.Serializer):
    """A VM as status.vm_dict gives it (`allot vm list --json`)."""

    id = serializers.IntegerField()
    name = serializers.CharField(help_text="Its host name and node name in the batch system.")
    cloud = serializers.CharField()
    batch = serializers.CharField()
    state = serializers.CharField(help_text="One of: " + ", ".join(VMStates.states) + ".")
    state_changed_at = _datetime()
    flavor = serializers.CharField(allow_null=True)
    image = serializers.CharField()
    cores = serializers.IntegerField()
    ram_mb = serializers.IntegerField()
    project = serializers.CharField(allow_null=True, help_text="Whose demand it was booted for.")
    account = serializers.CharField()
    group = serializers.CharField(help_text="The demand group it serves.")
    server_id = serializers.CharField()
    requested_at = _datetime()
    active_at = _datetime()
    registered_at = _datetime()
    idle_since = _datetime()
    ended_at = _datetime()
    end_reason = serializers.CharField()
    retire_asked = serializers.BooleanField()
    last_error = serializers.CharField()
    step = serializers.CharField()

    def to_representation(self, vm: VM) -> dict:
        return super().to_representation(status.vm_dict(vm))


class VMDetailSerializer(VMSerializer):
    """status.vm_detail: the row, its deadline, the actions offered, its history."""

    deadline = _datetime(help_text="When its transitional state becomes failed.")
    actions = serializers.ListField(child=serializers.CharField())
    history = serializers.ListField(child=copy.deepcopy(HISTORY_ENTRY), help_text="Newest first.")

    def to_representation(self, vm: VM) -> dict:
        return serializers.Serializer.to_representation(self, status.vm_detail(vm.pk))


def _vm(key: str) -> VM:
    """A VM by its id; by a name, the live VM of that name, else the latest."""
    if is_digits(key):
        return get_object_or_404(VM, pk=int(key))
    try:
        return status.get_vm(key)
    except DjangoValidationError:
        raise exceptions.NotFound(f'There is no VM named "{key}".') from None


class VMViewSet(BurstView, viewsets.GenericViewSet):
    """Burst's VMs, newest first: list (filters, paged), show (with history), retire."""

    queryset = VM.objects.none()  # for the schema; get_queryset answers
    serializer_class = VMSerializer
    filter_backends = [QueryFilterBackend]
    filterset_class = VMFilter
    lookup_field = "key"
    lookup_value_regex = r"[\w.-]+"

    def get_queryset(self) -> QuerySet[VM]:
        return vm_queryset()

    @extend_schema(
        summary="VMs, newest first", responses=_answers(VMSerializer(many=True), 400, 403)
    )
    def list(self, request: Request) -> Response:
        vms = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(vms)
        return self.get_paginated_response(VMSerializer(page, many=True).data)

    @extend_schema(
        summary="A VM, with its state history",
        description="By id; a name finds the live VM of that name, else the latest (names "
        "come back into use once a VM is deleted).",
        responses=_answers(VMDetailSerializer, 403, 404),
    )
    def retrieve(self, request: Request, key: str | None = None) -> Response:
        return Response(VMDetailSerializer(_vm(key)).data)

    @extend_schema(
        summary="Retire a VM",
        description="It takes no new job and is deleted once its running jobs end. One "
        "already retiring, being deleted or abandoned is left as it is; a deleted or failed "
        "one is a 400.",
        request=None,
        responses=_answers(VMDetailSerializer, 400, 403, 404),
    )
    @action(detail=True, methods=["post"])
    def retire(self, request: Request, key: str | None = None) -> Response:
        vm = _vm(key)
        refusal = retire_refusal(vm)
        if refusal:
            raise serializers.ValidationError(refusal)
        services.retire(vm)
        return Response(VMDetailSerializer(vm).data)


def retire_refusal(vm: VM) -> str:
    """Why this VM cannot be retired, or "" (shared with the page)."""
    if vm.state == "deleted":
        return f"VM {vm.name} (id {vm.pk}) is deleted already: there is nothing to retire."
    if vm.state == "failed":
        return (
            f"VM {vm.name} (id {vm.pk}) is failed: it is retried (deleted again) or aborted, "
            "not retired."
        )
    return ""


# Burst as a whole ----------------------------------------------------------------------


class BurstStatusView(BurstView, APIView):
    @extend_schema(
        summary="Per bursting batch machine: its last cycle, each cloud and each project",
        parameters=[OpenApiParameter("batch", str, description="Only this batch machine.")],
        responses=_answers(_object("status.burst_status()."), 400, 403),
    )
    def get(self, request: Request) -> Response:
        return Response(status.burst_status(request.query_params.get("batch") or None))


class Window(serializers.Serializer):
    hours = serializers.IntegerField(required=False, default=DEFAULT_HOURS, min_value=1)
    points = serializers.IntegerField(required=False, default=DEFAULT_POINTS, min_value=2)


class VMsOverTimeView(BurstView, APIView):
    @extend_schema(
        summary="VMs alive per cloud over time",
        description=f"`hours` back from now (at most {MAX_HOURS}: more is taken as that), "
        f"in `points` steps (at most {MAX_POINTS}).",
        parameters=[
            OpenApiParameter("hours", int, description=f"Default {DEFAULT_HOURS}."),
            OpenApiParameter("points", int, description=f"Default {DEFAULT_POINTS}."),
        ],
        responses=_answers(_object('{"labels": [times], "series": {cloud: [counts]}}'), 400, 403),
    )
    def get(self, request: Request) -> Response:
        window = Window(data=request.query_params)
        window.is_valid(raise_exception=True)
        hours, points = bounded_window(**window.validated_data)
        return Response({"hours": hours, **status.vms_over_time(hours=hours, points=points)})


def bounded_window(hours: int, points: int) -> tuple[int, int]:
    """The chart's window within what one answer may cost."""
    return min(hours, MAX_HOURS), min(points, MAX_POINTS)
