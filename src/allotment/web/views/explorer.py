"""The usage explorer page (chart and table, updated in place by htmx) and its CSV export.

Both read the same query string through the same form, so the CSV link always exports
exactly what the page shows.
"""

from __future__ import annotations

import csv

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import render

from allotment.access import policy
from allotment.projects.models import Project
from allotment.usage.explorer import Exploration, Filters, explore

from ..forms import ExplorerForm


def _form(request) -> ExplorerForm:
    viewer = request.user
    projects = policy.visible_projects(viewer).order_by("pid")
    institutes = Project.objects.institutes().filter(
        Q(pk__in=policy.visible_projects(viewer).values("pk")) | Q(pk=viewer.institute_id)
    )
    data = None
    if request.GET:
        # Choices left out of the query keep their defaults (and show them selected).
        data = request.GET.copy()
        for name in ("metric", "group_by", "period", "chart", "top"):
            if not data.get(name):
                data[name] = ExplorerForm.base_fields[name].initial
    form = ExplorerForm(data, projects=projects, institutes=institutes)
    # A project or institute the viewer may not see is not there at all.
    for name, allowed, field in (("project", projects, "pid"), ("institute", institutes, "pid")):
        value = request.GET.get(name)
        if value and not allowed.filter(**{field: value}).exists():
            raise Http404(f'There is no {name} "{value}".')
    return form


def _run(request, form: ExplorerForm) -> tuple[Exploration | None, str | None]:
    if form.is_bound and not form.is_valid():
        return None, None
    if not form.is_bound:
        form.cleaned_data = {}
    data = form.cleaned_data
    filters = Filters(
        date_from=data.get("date_from"),
        date_to=data.get("date_to"),
        project=data.get("project"),
        subtree=bool(data.get("subtree")),
        machine=data.get("machine"),
        resource_pool=data.get("resource_pool"),
        institute=data.get("institute"),
    )
    try:
        result = explore(
            request.user,
            form.value("metric"),
            form.value("group_by"),
            form.value("period"),
            filters,
            top=form.value("top"),
        )
    except ValidationError as error:
        return None, " ".join(error.messages)
    return result, None


@login_required
def explorer(request):
    form = _form(request)
    result, error = _run(request, form)
    context = {
        "form": form,
        "result": result,
        "error": error,
        "chart_data": result.chart_data(form.value("chart")) if result else None,
        "query": request.GET.urlencode(),
        "show_periods": result is not None and 0 < len(result.periods) <= 12,
    }
    # htmx asks for the result alone; without JavaScript the whole page comes back.
    template = (
        "web/partials/explorer_result.html"
        if request.headers.get("HX-Request")
        and not request.headers.get("HX-History-Restore-Request")
        else "web/explorer.html"
    )
    return render(request, template, context)


@login_required
def explorer_csv(request):
    form = _form(request)
    result, error = _run(request, form)
    if result is None:
        message = error or "; ".join(
            f"{field}: {' '.join(errors)}" for field, errors in form.errors.items()
        )
        return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"usage-{result.metric}-by-{result.group_by}-per-{result.period}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    csv.writer(response).writerows(result.csv_rows())
    return response
