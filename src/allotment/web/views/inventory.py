"""The administrators' inventory and shift pages (issue 12.6): nodes with filters, a rack
view coloured by service, shifting a selection, and each shift's live progress.

Site administrators only, like the agent page: a node's errors quote engine output, and a
shift moves a site's capacity. The views are thin: every change goes through
inventory.services (request_shift, operator_action, abort_shift), the same functions the
CLI calls, and none of them calls an engine: a request only records what the agent is to
do. Every listing is paged, so the pages stay fast whatever the size of the inventory.
"""

from __future__ import annotations

from datetime import timedelta

import pytimeparse2
from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.core.validators import MaxValueValidator
from django.db.models import Count, F, Q, QuerySet, Window
from django.db.models.functions import RowNumber
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from allotment.core import fsm
from allotment.core.forms import show_refusal
from allotment.inventory import services
from allotment.inventory.following import shift_agents
from allotment.inventory.models import Image, Node, Outcome, Shift, ShiftNode
from allotment.inventory.queries import with_tag
from allotment.inventory.states import NodeStates
from allotment.resources.models import Machine, MachineKind

from .common import admin_required

NODES_PER_PAGE = 50
RACKS_PER_PAGE = 12
NODES_PER_RACK = 64  # a rack holds fewer; more (bad data) are counted, not drawn
SHIFTS_PER_PAGE = 25
ITEMS_PER_PAGE = 100
HISTORY_PER_PAGE = 50
SERVICE_COLOURS = 8  # inventory.css declares .svc-0 … .svc-7

FAILED = [n for n, s in NodeStates.states.items() if s.kind == fsm.Kind.FAILED]
MOVING = [n for n, s in NodeStates.states.items() if s.kind == fsm.Kind.TRANSITIONAL]
ANY_FAILED, ANY_MOVING, NO_SERVICE = "@failed", "@moving", "@none"


def shift_services() -> QuerySet[Machine]:
    """The machines nodes can be shifted into: batch (Slurm) and cloud (OpenStack)."""
    return Machine.objects.filter(kind__in=[MachineKind.BATCH, MachineKind.CLOUD]).order_by("name")


# -- filtering the inventory -------------------------------------------------------------


class NodeFilterForm(forms.Form):
    """The inventory's filters. They only narrow the listing: every node is the
    administrator's to see, and a shift acts only on the nodes named in its own form."""

    q = forms.CharField(label="Name contains", required=False, max_length=63)
    state = forms.ChoiceField(required=False)
    service = forms.ChoiceField(required=False)
    rack = forms.CharField(required=False, max_length=100)
    tag = forms.CharField(required=False, max_length=100)

    def __init__(self, *args, services: list[Machine], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["state"].choices = [
            ("", "Any"),
            ("Groups", [(ANY_FAILED, "any failed state"), (ANY_MOVING, "any moving state")]),
            ("States", [(name, name) for name in NodeStates.states]),
        ]
        self.fields["service"].choices = [
            ("", "Any"),
            (NO_SERVICE, "in no service"),
            *[(m.name, m.name) for m in services],
        ]

    def filter(self, nodes: QuerySet[Node]) -> QuerySet[Node]:
        data = self.cleaned_data
        if data.get("q"):
            nodes = nodes.filter(name__icontains=data["q"].strip())
        state = data.get("state")
        if state == ANY_FAILED:
            nodes = nodes.filter(state__in=FAILED)
        elif state == ANY_MOVING:
            nodes = nodes.filter(state__in=MOVING)
        elif state:
            nodes = nodes.filter(state=state)
        if data.get("service") == NO_SERVICE:
            nodes = nodes.filter(service__isnull=True)
        elif data.get("service"):
            nodes = nodes.filter(service__name=data["service"])
        if data.get("rack"):
            nodes = nodes.filter(rack=data["rack"].strip())
        if data.get("tag"):
            nodes = with_tag(nodes, data["tag"].strip())
        return nodes


# -- the shift form -----------------------------------------------------------------------


class NamesField(forms.Field):
    """The names of the nodes ticked in the listing (one `node` value per checkbox)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[str]:
        return [str(v).strip() for v in (value or []) if str(v).strip()]


class ShiftForm(forms.Form):
    node = NamesField(required=False)
    nodes = forms.CharField(
        label="Nodes",
        required=False,
        max_length=2000,
        help_text="Names or ranges, such as n[001-016],cnode1; added to the ticked nodes.",
    )
    service = forms.ModelChoiceField(
        label="Into", queryset=Machine.objects.none(), to_field_name="name", empty_label=None
    )
    image = forms.ModelChoiceField(
        queryset=Image.objects.order_by("name"),
        to_field_name="name",
        required=False,
        empty_label="The service's image",
    )
    drain_timeout = forms.CharField(
        label="Drain timeout", initial="2h", max_length=40, help_text="2h, 90m, 1h30m, 2d"
    )
    force = forms.BooleanField(
        required=False, help_text="After the timeout, requeue (else cancel) what still runs."
    )
    parallel = forms.IntegerField(label="Nodes at once", initial=10, min_value=1)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["service"].queryset = shift_services()
        most = services.max_parallel()  # a setting, read per form
        self.fields["parallel"].validators.append(MaxValueValidator(most))
        self.fields["parallel"].widget.attrs["max"] = most

    def clean_drain_timeout(self) -> timedelta:
        text = self.cleaned_data["drain_timeout"].strip()
        seconds = pytimeparse2.parse(text)
        if seconds is None or seconds < 0:
            raise ValidationError(f'"{text}" is not a duration (e.g. 2h, 90m, 1h30m, 2d).')
        return timedelta(seconds=float(seconds))

    def clean(self) -> dict:
        data = super().clean()
        ticked, text = data.get("node") or [], (data.get("nodes") or "").strip()
        if not ticked and not text:
            raise ValidationError("Tick the nodes to shift, or name them (n[001-016]).")
        picked: dict[int, Node] = {}
        try:
            if ticked:
                picked |= {n.pk: n for n in services.nodes_named(",".join(ticked))}
            if text:
                picked |= {n.pk: n for n in services.nodes_named(text)}
        except ValidationError as error:
            self.add_error("nodes", error)
        data["picked"] = list(picked.values())
        return data


# -- the inventory page ------------------------------------------------------------------


@admin_required
def node_list(request: HttpRequest) -> HttpResponse:
    """The inventory as a paged table or as racks; POST asks for a shift of the selection."""
    machines = list(shift_services())
    filters = NodeFilterForm(request.GET or None, services=machines)
    nodes = Node.objects.all()
    if filters.is_bound and filters.is_valid():
        nodes = filters.filter(nodes)
    form = ShiftForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        shift = _request_shift(request, form)
        if shift is not None:
            return redirect("web:shift", pk=shift.pk)
    view = "racks" if request.GET.get("view") == "racks" else "list"
    colours = {m.pk: i % SERVICE_COLOURS for i, m in enumerate(machines)}
    context = {
        "filters": filters,
        "form": form,
        "view": view,
        "ticked": set(form["node"].value() or []) if form.is_bound else set(),
        "legend": [(m, colours[m.pk]) for m in machines],
    }
    if view == "racks":
        context["page"] = rack_page(nodes, request.GET.get("page"), colours)
    else:
        page = Paginator(nodes.select_related("service").order_by("name"), NODES_PER_PAGE).get_page(
            request.GET.get("page")
        )
        for node in page:
            _decorate(node, colours)
        context["page"] = page
    return render(request, "web/inventory/nodes.html", context)


def _request_shift(request: HttpRequest, form: ShiftForm) -> Shift | None:
    data = form.cleaned_data
    try:
        shift = services.request_shift(
            data["picked"], data["service"],
            image=data["image"].name if data.get("image") else None,
            drain_timeout=data["drain_timeout"], force=data["force"],
            parallel=data["parallel"], actor=request.user, via="web",
        )  # fmt: skip
    except ValidationError as error:
        show_refusal(form, error)
        return None
    names = services.collapse(n.name for n in data["picked"])
    messages.success(
        request, f"Shift {shift.pk} asked: {names} to {shift.to_service}. The agent does the work."
    )
    return shift


def _decorate(node: Node, colours: dict[int, int]) -> Node:
    """What the templates ask of a node and cannot compute: its state's kind and colour."""
    node.kind = NodeStates.states[node.state].kind.value
    node.colour = colours.get(node.service_id, "none") if node.service_id else "none"
    return node


def rack_page(nodes: QuerySet[Node], number, colours: dict[int, int]):
    """A page of racks (RACKS_PER_PAGE columns), each with its nodes in rack-unit order,
    at most NODES_PER_RACK drawn: two queries whatever the inventory's size."""
    racks = nodes.order_by().values("rack").annotate(total=Count("pk")).order_by("rack")
    page = Paginator(racks, RACKS_PER_PAGE).get_page(number)
    columns = {r["rack"]: {"rack": r["rack"], "total": r["total"], "nodes": []} for r in page}
    ranked = (
        nodes.filter(rack__in=list(columns))
        .select_related("service")
        .annotate(
            position=Window(
                RowNumber(),
                partition_by=[F("rack")],
                order_by=[F("rack_unit").asc(nulls_last=True), F("name").asc()],
            )
        )
        .filter(position__lte=NODES_PER_RACK)
        .order_by("rack", F("rack_unit").asc(nulls_last=True), "name")
    )
    for node in ranked:
        columns[node.rack]["nodes"].append(_decorate(node, colours))
    for column in columns.values():
        column["hidden"] = column["total"] - len(column["nodes"])
    page.columns = list(columns.values())
    return page


# -- a node ------------------------------------------------------------------------------


@admin_required
def node_detail(request: HttpRequest, name: str) -> HttpResponse:
    node = get_object_or_404(
        Node.objects.select_related(
            "service", "destination", "provisioner", "image", "shift", "shift__to_service"
        ),
        name=name,
    )
    history = fsm.history(node).select_related("actor").order_by("-at", "-id")
    items = node.shift_items.select_related("shift", "shift__to_service", "from_service")
    return render(
        request,
        "web/inventory/node_detail.html",
        {
            "node": _decorate(node, {}),
            "actions": fsm.actions(node),
            "deadline": fsm.deadline(node),
            "state_doc": NodeStates.states[node.state].doc,
            "history": Paginator(history, HISTORY_PER_PAGE).get_page(request.GET.get("page")),
            "items": Paginator(
                items.order_by("-shift__created_at", "-shift__pk"), SHIFTS_PER_PAGE
            ).get_page(request.GET.get("shifts")),
        },
    )


@admin_required
@require_POST
def node_action(request: HttpRequest, name: str) -> HttpResponse:
    """Retry, abort or force a failed node (only what its state offers)."""
    node = get_object_or_404(Node, name=name)
    offered = fsm.actions(node)
    action = request.POST.get("action", "")
    if action not in offered:
        what = ", ".join(offered) if offered else "nothing"
        messages.error(
            request, f'Node {node}: it is {node.state}, which offers {what}; not "{action}".'
        )
    else:
        try:
            services.operator_action(node, fsm.Action(action), actor=request.user, via="web")
        except ValidationError as error:
            messages.error(request, f"Node {node}: {action} refused: {' '.join(error.messages)}")
        else:
            messages.success(request, f"Node {node}: {action} done; it is now {node.state}.")
    return redirect(_next(request, reverse("web:node", args=[node.name])))


def _next(request: HttpRequest, default: str) -> str:
    """Back where the button was, if that is a page of this site."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


# -- shifts ------------------------------------------------------------------------------


def _counted(shifts: QuerySet[Shift]) -> QuerySet[Shift]:
    """Each shift with its nodes counted by outcome, in the same query."""
    counts = {f"n_{o.value}": Count("items", filter=Q(items__outcome=o.value)) for o in Outcome}
    return shifts.annotate(n_total=Count("items"), **counts)


@admin_required
def shift_list(request: HttpRequest) -> HttpResponse:
    shifts = Shift.objects.select_related("to_service", "image", "created_by")
    status = request.GET.get("status", "")
    if status == "open":
        shifts = shifts.filter(finished_at__isnull=True)
    elif status == "finished":
        shifts = shifts.filter(finished_at__isnull=False)
    page = Paginator(_counted(shifts).order_by("-created_at", "-pk"), SHIFTS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(request, "web/inventory/shifts.html", {"page": page, "status": status})


@admin_required
def shift_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "web/inventory/shift_detail.html", _progress(request, pk))


@admin_required
def shift_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The live part of a shift's page, polled by htmx every 2 s until the shift ends."""
    return render(request, "web/inventory/_shift_progress.html", _progress(request, pk))


def _progress(request: HttpRequest, pk: int) -> dict:
    shift = get_object_or_404(
        _counted(Shift.objects.select_related("to_service", "image", "created_by")), pk=pk
    )
    items = ShiftNode.objects.filter(shift=shift).select_related("node", "from_service")
    outcome = request.GET.get("outcome", "")
    if outcome in Outcome.values:
        items = items.filter(outcome=outcome)
    else:
        outcome = ""
    page = Paginator(items.order_by("node__name"), ITEMS_PER_PAGE).get_page(request.GET.get("page"))
    for item in page:
        _decorate(item.node, {})
        item.actions = fsm.actions(item.node) if item.node.shift_id == shift.pk else []
    shift.drain_text = span_text(shift.drain_timeout)
    total = shift.n_total or 1
    bar = [
        (o.value, o.label, getattr(shift, f"n_{o.value}"),
         round(100 * getattr(shift, f"n_{o.value}") / total, 1))
        for o in Outcome
    ]  # fmt: skip
    # Where a node's button comes back to: the shift's page, even from the polled partial.
    here = reverse("web:shift", args=[shift.pk])
    if request.GET:
        here += "?" + request.GET.urlencode()
    # Followed while a node is still to move. (A shift aborted before any node started
    # has nothing left for the agent to close, so finished_at alone would poll forever.)
    live = shift.finished_at is None and bool(shift.n_waiting or shift.n_moving)
    # Nothing moves without an agent running the shift loop: say so, as `allot node shift` does.
    no_agent = live and not shift_agents()
    return {"shift": shift, "page": page, "outcome": outcome, "bar": bar, "here": here,
            "live": live, "no_agent": no_agent}  # fmt: skip


def span_text(span: timedelta) -> str:
    """A drain timeout as the CLI takes it: 2h, 1h30m, 2d, 45s."""
    seconds, text = int(span.total_seconds()), ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            text += f"{seconds // size}{unit}"
            seconds %= size
    return text or "0s"


@admin_required
@require_POST
def shift_abort(request: HttpRequest, pk: int) -> HttpResponse:
    shift = get_object_or_404(Shift, pk=pk)
    try:
        services.abort_shift(shift, actor=request.user, via="web")
    except ValidationError as error:
        messages.error(request, f"Shift {shift.pk}: {' '.join(error.messages)}")
    else:
        messages.success(
            request,
            f"Shift {shift.pk} aborted: nodes not started stay where they are; the agent puts "
            "draining nodes back into service.",
        )
    return redirect("web:shift", pk=shift.pk)
