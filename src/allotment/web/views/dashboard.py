"""The home page, by role: what an administrator, a leader and a member each need first."""

from __future__ import annotations

from datetime import date, timedelta

from auditlog.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db.models import Max
from django.shortcuts import render

from allotment.access import policy
from allotment.applications.services import decidable_join_requests
from allotment.grants.models import AllocationPeriod, AllocationPool, Grant
from allotment.grants.services import summarise
from allotment.projects.models import Project, ProjectMembership
from allotment.usage.explorer import Filters, explore
from allotment.usage.models import DailyUsage, QuarantinedRecord

from .common import current_period


@login_required
def dashboard(request):
    viewer = request.user
    context: dict = {"is_admin": policy.is_site_admin(viewer)}
    memberships = list(
        ProjectMembership.objects.filter(person=viewer)
        .select_related("project", "project_level")
        .order_by("project__pid")
    )
    context["memberships"] = memberships
    period = current_period()
    context["period"] = period
    led = [m.project for m in memberships if m.is_leader]
    # What the viewer may decide: every pending request for an administrator.
    join_requests = decidable_join_requests(viewer).count() if context["is_admin"] or led else None

    if context["is_admin"]:
        context["admin"] = {
            "counts": [
                ("People", get_user_model().objects.filter(is_active=True).count()),
                ("Projects", Project.objects.filter(is_active=True).count()),
                ("Grants", Grant.objects.count()),
                ("Allocation pools", AllocationPool.objects.count()),
            ],
            "quarantined": QuarantinedRecord.objects.count(),
            "join_requests": join_requests,
            "locked": get_user_model().objects.filter(is_locked=True).count(),
            "recent": list(
                LogEntry.objects.select_related("actor", "content_type").order_by(
                    "-timestamp", "-pk"
                )[:8]
            ),
        }

    if led:
        pools = (
            summarise(AllocationPool.objects.filter(project__in=led, period=period))
            if period
            else []
        )
        by_project: dict[str, list] = {}
        for pool in pools:
            by_project.setdefault(pool.project, []).append(pool)
        context["led"] = [{"project": p, "pools": by_project.get(p.pid, [])} for p in led]
        context["led_join_requests"] = join_requests

    # Own usage over the 30 days up to the newest recorded (imports can lag, and a test
    # site's clock need not be today's).
    newest = policy.visible_usage(viewer, DailyUsage.objects.filter(person=viewer)).aggregate(
        newest=Max("day")
    )["newest"]
    end = newest or date.today()
    start = end - timedelta(days=29)
    usage = explore(
        viewer,
        "used",
        "resource_pool",
        "day",
        Filters(person=viewer, date_from=start, date_to=end),
    )
    context.update(
        usage=usage,
        usage_chart=usage.chart_data("bar") if usage.groups else None,
        usage_from=start,
        usage_to=end,
        periods_count=AllocationPeriod.objects.count(),
    )
    return render(request, "web/dashboard.html", context)
