"""The bare-metal inventory and its shifts over the API: /api/nodes/ and /api/shifts/.

Site administrators only, reads included: the inventory is infrastructure (BMC addresses,
which racks run what), not something a project's members need. Everything else answers
403 before the URL's object is looked up, so a refusal tells nothing about what exists.

Every write goes through inventory.services, the same functions as `allot node ...` and
the pages: a request changes desired state (a shift asked, a node's fields, an operator's
retry/abort/force) and the agent does the work; no engine is called here.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count, Prefetch, Q
from django.shortcuts import get_object_or_404
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from allotment.access import policy
from allotment.core import fsm
from allotment.inventory import services
from allotment.inventory.models import (
    NODE_NAME_RE,
    Node,
    Outcome,
    Provisioner,
    Shift,
    ShiftNode,
)
from allotment.inventory.queries import with_tag
from allotment.inventory.states import MAX_DRAIN, NodeStates
from allotment.inventory.views_data import history_dicts
from allotment.resources.models import Machine

from .filters import FilterSet, IdFilter, StrictBooleanFilter
from .permissions import PolicyPermission, refuse
from .serializers import LedgerSerializer, NamedField
from .views import LedgerViewSet, note_actor

HISTORY_LIMIT = 100  # a node's detail shows its latest moves; older ones stay in the database
MAX_IMPORT_BYTES = 8 * 2**20  # 10,000 nodes of CSV take about 2 MB

REFUSALS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="Refused input, in the rules' words."),
    403: OpenApiResponse(OpenApiTypes.OBJECT, description="Not a site administrator."),
    404: OpenApiResponse(OpenApiTypes.OBJECT, description="No such node or shift."),
    413: OpenApiResponse(OpenApiTypes.OBJECT, description="The file is too large to import."),
}


def _refusals(*codes: int) -> dict:
    return {code: REFUSALS[code] for code in codes}


class SiteAdminsOnly(PolicyPermission):
    """Signed in (401 otherwise) and a site administrator (403 otherwise), for every method."""

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        if not policy.is_site_admin(request.user):
            refuse("Only site administrators may see or change the inventory (nodes and shifts).")
        return True

    def has_object_permission(self, request, view, obj) -> bool:
        return True  # has_permission decided for everything


# Serializers -----------------------------------------------------------------------------


def _name(**kwargs) -> serializers.SlugRelatedField:
    """A related object by name; null when there is none."""
    return serializers.SlugRelatedField(
        slug_field="name", read_only=True, allow_null=True, **kwargs
    )


class NodeSerializer(LedgerSerializer):
    """A node as lists show it: its fields, where it is, and what an operator may do now."""

    service = _name(help_text="The service (machine) it is in now; null when in none.")
    destination = _name(help_text="Where its current shift takes it.")
    image = _name(help_text="The image deployed on it.")
    provisioner = _name()
    deadline = serializers.SerializerMethodField(
        help_text="When its transitional state becomes a failed one; null in any other state."
    )
    actions = serializers.SerializerMethodField(
        help_text="The operator actions offered now (retry, abort, force): only when failed."
    )

    class Meta:
        model = Node
        fields = [
            "id", "name", "state", "target_state", "state_changed_at", "step", "last_error",
            "deadline", "actions", "service", "destination", "shift", "image", "site", "rack",
            "rack_unit", "bmc_address", "bmc_driver", "macs", "cpus", "memory_mb", "gpus",
            "disks", "tags", "protected", "maintenance", "maintenance_reason", "provisioner",
            "provision_id",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_deadline(self, node: Node):
        when = fsm.deadline(node)
        return serializers.DateTimeField().to_representation(when) if when else None

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_actions(self, node: Node) -> list[str]:
        return [str(a) for a in fsm.actions(node)]


HISTORY_ENTRY = inline_serializer(
    "NodeHistoryEntry",
    fields={
        "at": serializers.DateTimeField(),
        "from": serializers.CharField(),
        "to": serializers.CharField(),
        "event": serializers.CharField(),
        "reason": serializers.CharField(),
        "by": serializers.CharField(allow_null=True, help_text="Who, when a person did it."),
        "via": serializers.CharField(help_text="agent, cli, api, web…"),
    },
)


class NodeDetailSerializer(NodeSerializer):
    """A node with its history: the latest moves, newest first."""

    history = serializers.SerializerMethodField(
        help_text=f"Its latest {HISTORY_LIMIT} moves, newest first (history_total counts all)."
    )
    history_total = serializers.SerializerMethodField()

    class Meta(NodeSerializer.Meta):
        fields = [*NodeSerializer.Meta.fields, "history", "history_total"]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=HISTORY_ENTRY))
    def get_history(self, node: Node) -> list[dict]:
        return history_dicts(node, HISTORY_LIMIT)  # the keys of `allot node show --json`

    def get_history_total(self, node: Node) -> int:
        return fsm.history(node).count()


# What a PATCH may not write, and why: these change only through a shift or an action.
READ_ONLY_NODE_FIELDS = {
    "state": "it changes only through a shift (POST /api/shifts/) or an operator action "
    "(POST /api/nodes/<name>/retry|abort|force/)",
    "service": "a node enters or leaves a service only through a shift (POST /api/shifts/)",
    "shift": "a shift is asked with POST /api/shifts/",
    "destination": "it is the destination of its shift (POST /api/shifts/)",
    "name": "a node's name is its host name in the engines; import the new name instead",
    "image": "the image is chosen by the shift that deploys it",
    "provision_id": "it is the provisioner's identity of the node, recorded by the agent",
}


class NodeChangeSerializer(serializers.ModelSerializer):
    """PATCH body: any of services.SETTABLE; the rest is refused by name, never ignored."""

    macs = serializers.ListField(child=serializers.CharField(max_length=64), max_length=64,
                                 required=False)  # fmt: skip
    disks = serializers.ListField(child=serializers.CharField(max_length=200), max_length=64,
                                  required=False)  # fmt: skip
    tags = serializers.ListField(child=serializers.CharField(max_length=100), max_length=100,
                                 required=False)  # fmt: skip
    rack_unit = serializers.IntegerField(min_value=0, max_value=32767, allow_null=True,
                                         required=False)  # fmt: skip
    cpus = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False)
    memory_mb = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False)
    gpus = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False)
    provisioner = NamedField("name", "provisioner", queryset=Provisioner.objects.all(),
                             allow_null=True, required=False)  # fmt: skip

    class Meta:
        model = Node
        fields = list(services.SETTABLE)

    def build_standard_field(self, field_name, model_field):
        cls, kwargs = super().build_standard_field(field_name, model_field)
        kwargs.pop("validators", None)  # the model's full_clean (set_nodes) says it once
        return cls, kwargs

    def get_validators(self):
        return []

    def validate(self, attrs: dict) -> dict:
        body = self.initial_data if isinstance(self.initial_data, dict) else {}
        errors = {}
        for name in body:
            if name in READ_ONLY_NODE_FIELDS:
                errors[name] = [f"is read-only here: {READ_ONLY_NODE_FIELDS[name]}."]
            elif name not in services.SETTABLE:
                errors[name] = [
                    "is not a field of a node that can be set; settable: "
                    + ", ".join(services.SETTABLE)
                    + "."
                ]
        if errors:
            raise serializers.ValidationError(errors)
        if not attrs:
            raise serializers.ValidationError(
                "Give at least one field to change: " + ", ".join(services.SETTABLE) + "."
            )
        return attrs

    def update(self, instance: Node, validated_data: dict) -> Node:
        return services.set_nodes([instance], validated_data)[0]


class ImportResultSerializer(serializers.Serializer):
    created = serializers.ListField(child=serializers.CharField())
    updated = serializers.ListField(child=serializers.CharField())
    adopted = serializers.ListField(
        child=serializers.CharField(), help_text="Recorded as already in the `service` given."
    )


class ProgressSerializer(serializers.Serializer):
    """services.shift_progress: its nodes counted by outcome, and whether it has finished."""

    waiting = serializers.IntegerField()
    moving = serializers.IntegerField()
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    aborted = serializers.IntegerField()
    total = serializers.IntegerField()
    finished = serializers.BooleanField()


class ShiftSerializer(LedgerSerializer):
    """A shift as lists show it, with its nodes counted by outcome."""

    to_service = _name()
    image = _name()
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    drain_timeout_seconds = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()

    class Meta:
        model = Shift
        fields = [
            "id", "to_service", "image", "drain_timeout_seconds", "force", "parallel",
            "created_at", "created_by", "via", "finished_at", "aborted", "progress",
        ]  # fmt: skip
        read_only_fields = fields

    def get_drain_timeout_seconds(self, shift: Shift) -> int:
        return int(shift.drain_timeout.total_seconds())

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, shift: Shift) -> dict:
        counts = {o.value: getattr(shift, f"n_{o.value}", None) for o in Outcome}
        if None in counts.values():  # not annotated by the viewset's queryset: count them
            return services.shift_progress(shift)
        return {**counts, "total": sum(counts.values()), "finished": bool(shift.finished_at)}


class ShiftItemSerializer(serializers.ModelSerializer):
    """One node of a shift: how its move is going, and the node's state now."""

    node = serializers.CharField(source="node.name", read_only=True)
    state = serializers.CharField(source="node.state", read_only=True)
    step = serializers.CharField(source="node.step", read_only=True)
    target_state = serializers.CharField(source="node.target_state", read_only=True)
    last_error = serializers.CharField(source="node.last_error", read_only=True)
    actions = serializers.SerializerMethodField(
        help_text="The operator actions offered on the node now (POST /api/nodes/<name>/...)."
    )
    from_service = _name()

    class Meta:
        model = ShiftNode
        fields = [
            "node", "state", "step", "target_state", "last_error", "actions", "from_service",
            "outcome", "started_at", "finished_at", "detail",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_actions(self, item: ShiftNode) -> list[str]:
        return [str(a) for a in fsm.actions(item.node)]


class ShiftDetailSerializer(ShiftSerializer):
    nodes = serializers.SerializerMethodField(help_text="Its nodes as a host range.")
    items = ShiftItemSerializer(many=True, read_only=True)

    class Meta(ShiftSerializer.Meta):
        fields = [*ShiftSerializer.Meta.fields, "nodes", "items"]
        read_only_fields = fields

    def get_nodes(self, shift: Shift) -> str:
        return services.collapse(item.node.name for item in shift.items.all())


class ShiftRequestSerializer(serializers.Serializer):
    """POST /api/shifts/: what `allot node shift` takes."""

    nodes = serializers.CharField(
        max_length=10_000, help_text='Node names or host ranges: "node[3-4],cnode1".'
    )
    to_service = NamedField(
        "name", "machine", queryset=Machine.objects.all(),
        help_text="The machine (batch or cloud service) to move them into.",
    )  # fmt: skip
    image = serializers.CharField(
        max_length=100, required=False, allow_null=True, allow_blank=True,
        help_text="The image to deploy; default: the service's own, else the only one of its kind.",
    )  # fmt: skip
    drain_timeout_seconds = serializers.IntegerField(
        min_value=0, max_value=int(MAX_DRAIN.total_seconds()), default=7200,
        help_text="How long to wait for jobs to end or servers to move away.",
    )  # fmt: skip
    force = serializers.BooleanField(
        default=False, help_text="After the drain timeout, requeue (else cancel) what still runs."
    )
    parallel = serializers.IntegerField(
        min_value=1, max_value=2**31 - 1, default=10, help_text="Nodes moving at once."
    )

    def validate_nodes(self, text: str) -> list[Node]:
        try:
            return services.nodes_named(text)
        except DjangoValidationError as e:
            raise serializers.ValidationError(e.messages) from None

    def validate_parallel(self, parallel: int) -> int:
        if parallel > services.max_parallel():
            raise serializers.ValidationError(
                f"At most {services.max_parallel()} nodes move at once on this site "
                "(ALLOTMENT_SHIFT_MAX_PARALLEL)."
            )
        return parallel

    def validate(self, attrs: dict) -> dict:
        try:  # an image that does not fit is the image's fault: say so under its name
            services.image_for(attrs["to_service"], attrs.get("image") or None)
        except DjangoValidationError as e:
            raise serializers.ValidationError({"image": e.messages}) from None
        return attrs


# Filters ---------------------------------------------------------------------------------


class HostRangeField(forms.CharField):
    """A host range (n[001-016],cnode1) expanded to names; a bad one is refused by name."""

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return None
        try:
            return services.expand(value)
        except DjangoValidationError as e:
            raise forms.ValidationError(e.messages) from None


@extend_schema_field(OpenApiTypes.STR)
class HostRangeFilter(filters.Filter):
    field_class = HostRangeField

    def filter(self, queryset, value):
        return queryset if value is None else queryset.filter(name__in=value)


class NodeFilter(FilterSet):
    names = HostRangeFilter(help_text="Nodes of this host range: n[001-016],cnode1.")
    state = filters.ChoiceFilter(choices=[(s, s) for s in NodeStates.states])
    service = filters.CharFilter(field_name="service__name", help_text="Nodes in this machine.")
    rack = filters.CharFilter()
    site = filters.CharFilter()
    tag = filters.CharFilter(method="tagged", help_text="Nodes with this tag.")
    shift = IdFilter(field_name="shift_id", help_text="Nodes in this shift now.")
    protected = StrictBooleanFilter()
    maintenance = StrictBooleanFilter()

    class Meta:
        model = Node
        fields = ["names", "state", "service", "rack", "site", "tag", "shift", "protected",
                  "maintenance"]  # fmt: skip

    def tagged(self, queryset, name, value):
        return with_tag(queryset, value)


class ShiftFilter(FilterSet):
    to_service = filters.CharFilter(field_name="to_service__name")
    node = filters.CharFilter(method="with_node", help_text="Shifts that move this node.")
    active = StrictBooleanFilter(
        field_name="finished_at", lookup_expr="isnull", help_text="true: not finished yet."
    )

    class Meta:
        model = Shift
        fields = ["to_service", "node", "active"]

    def with_node(self, queryset, name, value):
        return queryset.filter(pk__in=ShiftNode.objects.filter(node__name=value).values("shift"))


# Import bodies ---------------------------------------------------------------------------


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = f"An import is at most {MAX_IMPORT_BYTES // 2**20} MB; split the file."
    default_code = "too_large"


def _read_text(stream, limit: int = MAX_IMPORT_BYTES) -> str:
    data = stream.read(limit + 1) if stream is not None else b""
    if len(data) > limit:
        raise PayloadTooLarge()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise exceptions.ParseError(f"The file is not UTF-8 text: {e}.") from None


class _FileBodyParser(BaseParser):
    """A whole CSV or YAML file as the request body: {"file": name, "text": its text}."""

    suffix = ""

    def parse(self, stream, media_type=None, parser_context=None):
        return {"file": f"body{self.suffix}", "text": _read_text(stream)}


class CsvParser(_FileBodyParser):
    media_type = "text/csv"
    suffix = ".csv"


class YamlParser(_FileBodyParser):
    media_type = "application/yaml"
    suffix = ".yaml"


class XYamlParser(YamlParser):
    media_type = "application/x-yaml"


class TextYamlParser(YamlParser):
    media_type = "text/yaml"


IMPORT_PARSERS = [CsvParser, YamlParser, XYamlParser, TextYamlParser, MultiPartParser]
IMPORT_SUFFIXES = (".csv", ".yaml", ".yml")


def _import_source(request: Request) -> tuple[str, str]:
    """(file name, text) of the file to import: the body itself, or the upload `file`."""
    data = request.data
    if "text" in data and "file" in data and isinstance(data["text"], str):
        return data["file"], data["text"]
    upload = request.FILES.get("file")
    if upload is None:
        how = (
            "Send the file as the body (Content-Type text/csv or application/yaml) or as "
            "the multipart field `file`."
        )
        raise serializers.ValidationError({"file": [how]})
    name = upload.name or ""
    if not name.lower().endswith(IMPORT_SUFFIXES):
        raise serializers.ValidationError(
            {"file": [f'"{name}" is neither CSV nor YAML: name it *.csv, *.yaml or *.yml.']}
        )
    if upload.size is not None and upload.size > MAX_IMPORT_BYTES:
        raise PayloadTooLarge()
    return name, _read_text(upload)


# Viewsets --------------------------------------------------------------------------------


class InventoryViewSet(viewsets.GenericViewSet):
    """Site administrators only; the actor of every write is the caller, via "api"."""

    permission_classes = [SiteAdminsOnly]
    filter_backends = LedgerViewSet.filter_backends

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        note_actor(request)


class NodeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, InventoryViewSet):
    """Bare-metal nodes: list (filters, paged), show (with history), change the settable
    fields, import a CSV or YAML file, and the operator's retry, abort and force."""

    queryset = Node.objects.select_related("service", "destination", "image", "provisioner")
    filterset_class = NodeFilter
    lookup_field = "name"
    lookup_value_regex = NODE_NAME_RE.removeprefix(r"\A").removesuffix(r"\Z")
    search_fields = ["name", "rack", "site"]
    ordering_fields = ["name", "rack", "site", "state", "cpus", "memory_mb", "id"]
    http_method_names = ["get", "patch", "post", "head", "options"]

    def get_serializer_class(self):
        return NodeDetailSerializer if self.action != "list" else NodeSerializer

    @extend_schema(
        summary="Change a node's settable fields",
        description="Any of: " + ", ".join(services.SETTABLE) + ". state, service, shift and "
        "the other fields are refused by name (400): they change through shifts and actions.",
        request=NodeChangeSerializer,
        responses={200: NodeDetailSerializer, **_refusals(400, 403, 404)},
    )
    def partial_update(self, request: Request, name: str | None = None) -> Response:
        node = self.get_object()
        change = NodeChangeSerializer(node, data=request.data, partial=True)
        change.is_valid(raise_exception=True)
        change.save()
        return Response(NodeDetailSerializer(self.get_object()).data)

    @extend_schema(
        summary="Import nodes from a CSV or YAML file",
        description="The file as the body (Content-Type text/csv, or application/yaml) or "
        "as the multipart field `file` (named *.csv, *.yaml or *.yml). The same format as "
        "`allot node import`: a name may be a range; existing nodes are updated; `service` "
        "records a new node as already in that service. All or nothing: a bad row is a 400 "
        "naming file:line, the field and why.",
        request={
            "text/csv": {"type": "string"},
            "application/yaml": {"type": "string"},
            "multipart/form-data": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            },
        },
        responses={200: ImportResultSerializer, **_refusals(400, 403, 413)},
    )
    @action(detail=False, methods=["post"], url_path="import", parser_classes=IMPORT_PARSERS)
    def import_file(self, request: Request) -> Response:
        name, text = _import_source(request)
        result = services.import_nodes(name, text)
        return Response(ImportResultSerializer(result).data)

    def _act(self, request: Request, action_: fsm.Action) -> Response:
        node = self.get_object()
        offered = fsm.actions(node)
        if action_ not in offered:
            now = ", ".join(offered) or "none"
            raise serializers.ValidationError(
                f"Node {node.name} is {node.state}; {action_} is not offered now "
                f"(offered: {now}). Operator actions apply to a node in a failed state."
            )
        services.operator_action(node, action_, actor=request.user, via="api")
        return Response(NodeDetailSerializer(self.get_object()).data)

    @extend_schema(
        summary="Retry the step a failed node failed",
        request=None,
        responses={200: NodeDetailSerializer, **_refusals(400, 403, 404)},
    )
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, name: str | None = None) -> Response:
        return self._act(request, fsm.Action.RETRY)

    @extend_schema(
        summary="Abort a failed node's part in its shift",
        description="The agent puts it back as it was (resumes a node it drained, undeploys "
        "a half-done deploy) and releases it from the shift.",
        request=None,
        responses={200: NodeDetailSerializer, **_refusals(400, 403, 404)},
    )
    @action(detail=True, methods=["post"])
    def abort(self, request: Request, name: str | None = None) -> Response:
        return self._act(request, fsm.Action.ABORT)

    @extend_schema(
        summary="Force a failed node on: the operator did the step by hand",
        request=None,
        responses={200: NodeDetailSerializer, **_refusals(400, 403, 404)},
    )
    @action(detail=True, methods=["post"])
    def force(self, request: Request, name: str | None = None) -> Response:
        return self._act(request, fsm.Action.FORCE)


def _counted(shifts):
    return shifts.annotate(
        **{f"n_{o.value}": Count("items", filter=Q(items__outcome=o.value)) for o in Outcome}
    )


class ShiftViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, InventoryViewSet
):
    """Shifts: list (paged), show (each node's state, outcome and the agent's last words),
    ask for one, abort one. The agent does the work."""

    filterset_class = ShiftFilter
    lookup_value_regex = r"[0-9]+"
    search_fields = ["to_service__name", "created_by__username"]
    ordering_fields = ["created_at", "finished_at", "id"]

    def get_queryset(self):
        shifts = _counted(Shift.objects.select_related("to_service", "image", "created_by"))
        if self.action != "list":
            items = ShiftNode.objects.select_related("node", "from_service").order_by("node__name")
            shifts = shifts.prefetch_related(Prefetch("items", queryset=items))
        return shifts

    def get_serializer_class(self):
        return ShiftSerializer if self.action == "list" else ShiftDetailSerializer

    def _answer(self, shift: Shift, code: int = status.HTTP_200_OK) -> Response:
        fresh = get_object_or_404(self.get_queryset(), pk=shift.pk)
        return Response(ShiftDetailSerializer(fresh).data, status=code)

    @extend_schema(
        summary="Ask for nodes to be shifted into a service",
        description="The same as `allot node shift`. Refused as a whole (400) when any node "
        "cannot go, listing each node and why; nothing changes then. The agent does the "
        f"work; follow it with GET /api/shifts/<id>/. At most "
        f"{services.MAX_NODES_PER_REQUEST:,} nodes per request.",
        request=ShiftRequestSerializer,
        responses={201: ShiftDetailSerializer, **_refusals(400, 403)},
    )
    def create(self, request: Request) -> Response:
        body = ShiftRequestSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        data = body.validated_data
        shift = services.request_shift(
            data["nodes"],
            data["to_service"],
            image=data.get("image") or None,
            drain_timeout=timedelta(seconds=data["drain_timeout_seconds"]),
            force=data["force"],
            parallel=data["parallel"],
            actor=request.user,
            via="api",
        )
        return self._answer(shift, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Abort a shift",
        description="Nodes not started stay where they are; draining nodes go back into "
        "service; failed nodes are aborted; nodes provisioning, joining or leaving finish "
        "that step and stop at the next stable state. A finished shift is a 400.",
        request=None,
        responses={200: ShiftDetailSerializer, **_refusals(400, 403, 404)},
    )
    @action(detail=True, methods=["post"])
    def abort(self, request: Request, pk: str | None = None) -> Response:
        shift = self.get_object()
        services.abort_shift(shift, actor=request.user, via="api")
        return self._answer(shift)
