"""The administrators' burst pages: demand against supply, the clouds, the VMs.

Site administrators only, like the inventory: a cloud's errors quote its API, and its
quota and the VMs booted for each project are the site's infrastructure. The pages read
burst.status (the same dicts as `allot burst status`, `allot cloud show`, `allot vm ...`)
and write through catalog.set_cloud and services.retire, the functions the CLI and the API
call; none of them calls a cloud or the batch system. The overview's live part is polled
with htmx; its chart of VMs per cloud is bounded (at most 31 days, a few hundred points).
"""

from __future__ import annotations

from datetime import datetime

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from allotment.api.burst import VMFilter, retire_refusal, vm_queryset
from allotment.burst import catalog, services, status
from allotment.burst.models import VM, Cloud
from allotment.core.forms import show_refusal
from allotment.ops import burst_metrics

from .common import admin_required

VMS_PER_PAGE = 50
HOUR_CHOICES = (6, 24, 72, 168, 744)  # the chart's windows offered; 744 h is 31 days
DEFAULT_HOURS = 24
MAX_HOURS = status.HOURS_MAX
CHART_POINTS = 120
POLL_SECONDS = 5  # the live part
CHART_POLL_SECONDS = 60

SETTINGS = catalog.SETTINGS  # the form's fields: never the driver, options or credentials


# -- the overview ------------------------------------------------------------------------


def chart_hours(request: HttpRequest) -> int:
    """The chart's window from ?hours=, within 1 h and 31 days (the default if not a number)."""
    try:
        hours = int(request.GET.get("hours", DEFAULT_HOURS))
    except ValueError:
        return DEFAULT_HOURS
    return max(1, min(hours, MAX_HOURS))


def vm_chart(hours: int) -> dict:
    """status.vms_over_time as portal-charts.js draws it: a line of VMs per cloud."""
    found = status.vms_over_time(hours=hours, points=CHART_POINTS)
    fmt = "%H:%M" if hours <= 24 else "%m-%d %H:%M"
    labels = [timezone.localtime(datetime.fromisoformat(t)).strftime(fmt) for t in found["labels"]]
    series = [
        {"label": cloud, "unit": "VMs", "data": counts} for cloud, counts in found["series"].items()
    ]
    return {"type": "line", "labels": labels, "series": series}


def _live() -> dict:
    data = status.burst_status()
    clouds = status.cloud_rows()
    return {
        **data,
        "clouds": clouds,
        "unhealthy": [c for c in clouds if c["health"] == "unhealthy"],
        "burst_health": burst_metrics.health(),
        "poll": POLL_SECONDS,
    }


def _chart(hours: int) -> dict:
    return {
        "hours": hours,
        "hour_choices": HOUR_CHOICES,
        "chart": vm_chart(hours),
        "chart_poll": CHART_POLL_SECONDS,
    }


@admin_required
def overview(request: HttpRequest) -> HttpResponse:
    return render(request, "web/burst/overview.html", {**_live(), **_chart(chart_hours(request))})


@admin_required
def overview_live(request: HttpRequest) -> HttpResponse:
    """The part of the overview htmx polls every few seconds."""
    return render(request, "web/burst/_live.html", _live())


@admin_required
def overview_chart(request: HttpRequest) -> HttpResponse:
    """The chart, polled less often (its points are minutes apart)."""
    return render(request, "web/burst/_chart.html", _chart(chart_hours(request)))


# -- a cloud -----------------------------------------------------------------------------


class ListField(forms.CharField):
    """A list of names as one line of text, separated by commas."""

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list | tuple) else value

    def to_python(self, value) -> list[str]:
        text = super().to_python(value) or ""
        return [part.strip() for part in text.split(",") if part.strip()]

    def has_changed(self, initial, data) -> bool:
        return list(initial or []) != self.to_python(data)


class CloudSettingsForm(forms.ModelForm):
    """The site's settings of a cloud (never its driver, options or credentials)."""

    images = ListField(
        required=False, max_length=4000,
        help_text="Names of the images it serves, separated by commas; empty: its default image.",
    )  # fmt: skip
    tags = ListField(
        required=False, max_length=2000, help_text="Separated by commas: data:vospace, gpu."
    )

    class Meta:
        model = Cloud
        fields = list(SETTINGS)


def _read_or_404(read, key) -> dict:
    """status's answer for `key`, or a 404 saying what is missing (its ValidationError)."""
    try:
        return read(key)
    except ValidationError as error:
        raise Http404(" ".join(error.messages)) from None


@admin_required
def cloud_detail(request: HttpRequest, name: str) -> HttpResponse:
    """A cloud's health, quota, flavors, images, back-offs and latest VMs; POST changes its
    settings through catalog.set_cloud."""
    cloud = get_object_or_404(Cloud.objects.select_related("machine"), machine__name=name)
    form = CloudSettingsForm(request.POST if request.method == "POST" else None, instance=cloud)
    if request.method == "POST" and form.is_valid():
        changes = {field: form.cleaned_data[field] for field in form.changed_data}
        if not changes:
            messages.info(request, f"Cloud {name}: nothing changed.")
            return redirect("web:burst-cloud", name=name)
        try:
            catalog.set_cloud(name, **changes)
        except ValidationError as error:
            show_refusal(form, error)
        else:
            messages.success(
                request, f"Cloud {name}: {', '.join(sorted(changes))} changed; the next cycle "
                "uses them.",
            )  # fmt: skip
            return redirect("web:burst-cloud", name=name)
    return render(
        request,
        "web/burst/cloud.html",
        {"cloud": _read_or_404(status.cloud_detail, name), "form": form},
    )


# -- VMs ---------------------------------------------------------------------------------


@admin_required
def vm_list(request: HttpRequest) -> HttpResponse:
    """VMs, newest first: the API's filters (each only narrows), paged."""
    filters = VMFilter(request.GET or None, queryset=vm_queryset())
    # A filter that is not one (an unknown state) lists nothing, never everything.
    vms = filters.qs if not filters.is_bound or filters.is_valid() else VM.objects.none()
    page = Paginator(vms, VMS_PER_PAGE).get_page(request.GET.get("page"))
    rows = [status.vm_dict(vm) for vm in page]
    return render(request, "web/burst/vms.html", {"filters": filters, "page": page, "rows": rows})


@admin_required
def vm_detail(request: HttpRequest, pk: int) -> HttpResponse:
    vm = _read_or_404(status.vm_detail, pk)
    return render(request, "web/burst/vm.html", {"vm": vm, "retirable": _retirable(vm)})


def _retirable(vm: dict) -> bool:
    """Whether the page offers a retire button: a VM that may still take jobs."""
    return vm["state"] in ("requested", "booting", "idle", "busy") and not vm["retire_asked"]


@admin_required
def vm_retire(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST asks for the VM's retirement (services.retire)."""
    vm = get_object_or_404(VM.objects.select_related("cloud__machine"), pk=pk)
    if request.method == "POST":
        refusal = retire_refusal(vm)
        if refusal:
            messages.error(request, refusal)
        else:
            services.retire(vm)
            messages.success(
                request, f"VM {vm.name}: retirement asked. It takes no new job and is deleted "
                "once its running jobs end.",
            )  # fmt: skip
        return redirect("web:burst-vm", pk=pk)
    return render(request, "web/burst/vm_retire.html", {"vm": _read_or_404(status.vm_detail, pk)})


# -- stored simulations ------------------------------------------------------------------


@admin_required
def simulation_list(request: HttpRequest) -> HttpResponse:
    """Runs stored by `allot burst simulate --store`, newest first (the latest 50)."""
    from allotment.burst.simulation import simulation_runs

    return render(request, "web/burst/simulations.html", {"runs": simulation_runs()})


@admin_required
def simulation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One stored run: its figures and the plot of demand, VMs and waits over time (the
    same SVG `--plot` writes, drawn from the stored series)."""
    from django.utils.safestring import mark_safe

    from allotment.burst.simulation import Summary, simulation_run, svg_plot

    run = simulation_run(pk)
    if run is None:
        raise Http404(f"There is no stored simulation {pk}.")
    plot = ""
    if run["series"].get("t"):
        # svg_plot escapes the only text it takes from outside (the title); the rest is
        # numbers of the stored series.
        plot = mark_safe(svg_plot(Summary(run["summary"], run["series"]),
                                  f"{run['trace']} on {run['clouds']}"))  # fmt: skip
    summary = run["summary"]
    per_day = summary.get("vms_per_day") or {}
    cost = summary.get("cost") or {}
    figures = [
        ("jobs run", summary.get("jobs_run")),
        ("jobs that fit no flavor", summary.get("jobs_fit_nowhere")),
        ("jobs never run", summary.get("jobs_never_run")),
        ("VMs booted", summary.get("vms_booted")),
        ("VMs booted a day", f"{per_day.get('mean')} on average, {per_day.get('max')} at most "
                             f"({per_day.get('full_days')} full days)"),
        ("wait, mean and 95th percentile (s)",
         f"{summary.get('wait_mean_s')} and {summary.get('wait_p95_s')}"),
        ("utilisation", summary.get("utilisation")),
        ("cost", cost.get("total")),
    ]  # fmt: skip
    return render(request, "web/burst/simulation.html", {
        "run": run, "plot": plot, "figures": figures,
        "by_cloud": sorted((summary.get("vm_hours_by_cloud") or {}).items()),
        "by_project": sorted((summary.get("vm_hours_by_project") or {}).items()),
        "refusals": sorted((summary.get("refusals") or {}).items(), key=lambda kv: -kv[1]),
    })  # fmt: skip
