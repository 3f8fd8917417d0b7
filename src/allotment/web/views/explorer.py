"""The usage explorer page (chart and table, updated in place by htmx) and its CSV export.

Both read the same query string through the same form, so the CSV link always exports
exactly what the page shows.
"""

from __future__ import annotations

import csv

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe

from allotment.access import policy
from allotment.projects.models import Project
from allotment.usage.explorer import Exploration, Filters, explore

from ..forms import ExplorerForm


def _attrs(attrs: dict) -> str:
    """django/forms/widgets/attrs.html, in Python."""
    return "".join(
        f" {conditional_escape(name)}"
        + ("" if value is True else f'="{conditional_escape(str(value))}"')
        for name, value in attrs.items()
        if value is not False
    )


class QuickSelect(forms.Select):
    """A Select rendered in Python to the same HTML as Django's select.html template: the
    template renders each <option> through a template of its own, which for a site
    administrator's list of every project cost more than the rest of the page."""

    def render(self, name, value, attrs=None, renderer=None):
        widget = self.get_context(name, value, attrs)["widget"]
        parts = [f'<select name="{conditional_escape(widget["name"])}"{_attrs(widget["attrs"])}>']
        for group_name, group_choices, _ in widget["optgroups"]:
            if group_name:
                parts.append(format_html('\n  <optgroup label="{}">', group_name))
            for option in group_choices:
                parts.append(
                    f'\n  <option value="{conditional_escape(str(option["value"]))}"'
                    f"{_attrs(option['attrs'])}>{conditional_escape(option['label'])}</option>\n"
                )
            if group_name:
                parts.append("\n  </optgroup>")
        parts.append("\n</select>")
        return mark_safe("".join(parts))  # every part is escaped above


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
    for field in form.fields.values():
        if type(field.widget) is forms.Select:
            field.widget.__class__ = QuickSelect  # this form's own copy of the widget
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
