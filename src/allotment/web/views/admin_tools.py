"""Administrators' pages: entering a grant with its allocations, and the audit log."""

from __future__ import annotations

from auditlog.models import LogEntry
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.shortcuts import redirect, render

from allotment.core.forms import show_refusal
from allotment.grants.services import allocate, create_grant

from ..forms import AuditFilterForm, GrantForm
from .common import admin_required


class _RollBack(Exception):
    """Raised inside the transaction so that a refused allocation undoes the grant."""


@admin_required
def grant_create(request):
    """One grant and its allocations, all or nothing: any refused row undoes everything,
    and each refusal is shown next to the field it concerns."""
    form = GrantForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                grant = _create(form, data)
        except _RollBack:
            pass
        else:
            count = grant.allocations.count()
            messages.success(
                request,
                f"Created {grant} with {count} allocation{'s' if count != 1 else ''} in "
                f"period {data['period']}.",
            )
            return redirect("web:project", pid=grant.project.pid)
    return render(request, "web/grant_form.html", {"form": form})


def _create(form: GrantForm, data: dict):
    try:
        grant = create_grant(
            data["project"],
            data["scheme"],
            data["begins"],
            data["expires"],
            awarded=data.get("awarded"),
            description=data.get("description", ""),
        )
    except ValidationError as error:
        show_refusal(form, error)
        raise _RollBack from error
    failed = False
    for pool, _ in form.pool_rows():
        quantity = data.get(form.pool_field(pool))
        if quantity is None:
            continue
        try:
            allocate(grant, data["period"], pool, quantity)
        except ValidationError as error:
            # The allocation's own words, next to the pool's row.
            for message in error.messages:
                form.add_error(form.pool_field(pool), message)
            failed = True
    if failed:
        raise _RollBack
    return grant


@admin_required
def audit_log(request):
    form = AuditFilterForm(request.GET or None)
    entries = LogEntry.objects.select_related("actor", "content_type").order_by("-timestamp", "-pk")
    if form.is_bound and form.is_valid():
        entries = form.filter(entries)
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    return render(request, "web/audit_log.html", {"form": form, "page": page})
