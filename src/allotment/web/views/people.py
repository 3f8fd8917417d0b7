"""A person's page: memberships, accounts and own usage (table and chart)."""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from allotment.access import policy
from allotment.core.forms import show_refusal
from allotment.people import email as email_change
from allotment.resources.models import Account
from allotment.usage.explorer import Filters, explore

from ..charts import usage_over_time


@login_required
def me(request):
    return redirect("web:person", username=request.user.username)


@login_required
def person_detail(request, username: str):
    viewer = request.user
    person = (
        get_user_model()
        .objects.select_related("institute", "career_level")
        .filter(username=username)
        .first()
    )
    if person is None or not policy.can_view_person(viewer, person):
        raise Http404(f'There is no person "{username}".')
    memberships = list(
        policy.visible_memberships(viewer, person.memberships.all())
        .select_related("project", "project_level")
        .order_by("project__pid")
    )
    accounts = list(
        Account.objects.filter(person=person)
        .select_related("machine_category", "default_project")
        .order_by("machine_category__name", "-date_created")
    )
    # Own usage: by month and pool (each pool in its units), the viewer's view of it.
    usage = explore(viewer, "used", "resource_pool", "month", Filters(person=person))
    chart = None
    if usage.periods:
        first = date.fromisoformat(usage.periods[0] + "-01")
        last_month = date.fromisoformat(usage.periods[-1] + "-01")
        next_month = date(last_month.year + last_month.month // 12, last_month.month % 12 + 1, 1)
        last = next_month - timedelta(days=1)
        chart = usage_over_time(viewer, Q(person=person), first, last)
    return render(
        request,
        "web/person_detail.html",
        {
            "person": person,
            "is_self": person.pk == viewer.pk,
            "memberships": memberships,
            "accounts": accounts,
            "usage": usage,
            "usage_rows": _by_period(usage),
            "usage_chart": chart,
        },
    )


class EmailChangeForm(forms.Form):
    email = forms.EmailField(
        label="New email",
        max_length=254,
        help_text="We send a link there; the change takes effect when you open it, signed in.",
    )


@login_required
def email_change_request(request: HttpRequest) -> HttpResponse:
    """Ask for a new email: the link goes to the new address (people.email)."""
    form = EmailChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            change, _ = email_change.request_change(request.user, form.cleaned_data["email"])
        except ValidationError as e:
            show_refusal(form, e)
        else:
            messages.success(
                request,
                f"We sent a link to {change.email}: open it while signed in as "
                f"{request.user.username} to confirm the change.",
            )
            return redirect("web:email-change")
    return render(
        request,
        "web/email_change.html",
        {"form": form, "pending": email_change.pending(request.user)},
    )


@login_required
def email_change_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The link in the email. Opening it shows what would change; the button (a POST)
    changes it, so a mail scanner fetching the link confirms nothing."""
    change = email_change.find(token)
    problem = email_change.refusal(change, request.user)
    if problem is None and request.method == "POST":
        try:
            email_change.confirm(token, request.user)
        except ValidationError as e:
            problem = " ".join(e.messages)
        else:
            messages.success(request, f"Your email is now {change.email}, verified.")
            return redirect("web:person", username=request.user.username)
    if problem:
        status = 404 if change is None or change.person_id != request.user.pk else 410
        return render(request, "web/email_confirm.html", {"problem": problem}, status=status)
    return render(request, "web/email_confirm.html", {"change": change})


def _by_period(usage) -> list[dict]:
    """Rows of the usage table: one per month, a cell per pool."""
    return [
        {"period": period, "cells": [s.values[i] for s in usage.groups]}
        for i, period in enumerate(usage.periods)
    ]
