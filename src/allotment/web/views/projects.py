"""The project tree and a project's page: members, grants, pools, burn-down and usage."""

from __future__ import annotations

from datetime import date

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404
from django.shortcuts import render

from allotment.access import policy
from allotment.grants.models import AllocationPeriod, AllocationPool
from allotment.grants.services import summarise
from allotment.projects.models import Project
from allotment.usage.periods import MAX_PERIODS

from ..charts import burn_down, last_usage_day, usage_over_time, usage_span
from .common import current_period


@login_required
def project_tree(request):
    """Visible projects in tree order, indented below the shallowest one the viewer sees."""
    projects = list(
        policy.visible_projects(request.user, Project.objects.with_tree_fields()).only(
            "pid", "name", "allocation_mode", "is_active", "parent_id"
        )
    )
    top = min((p.tree_depth for p in projects), default=0)
    # The viewer's memberships, as the policy already read them for this request.
    roles = {
        pk: _role(leader, supervisor) for pk, leader, supervisor in policy.memberships(request.user)
    }
    rows = [
        {"project": p, "depth": p.tree_depth - top, "role": roles.get(p.pk, "")} for p in projects
    ]
    return render(request, "web/project_tree.html", {"rows": rows})


def _role(leader: bool, supervisor: bool) -> str:
    if leader:
        return "leader"
    if supervisor:
        return "supervisor"
    return "member"


def visible_project_or_404(viewer, pid: str) -> Project:
    """A project the viewer may see; any other is answered as if it did not exist."""
    project = policy.visible_projects(viewer).filter(pid=pid).first()
    if project is None:
        raise Http404(f'There is no project "{pid}".')
    return project


@login_required
def project_detail(request, pid: str):
    viewer = request.user
    project = visible_project_or_404(viewer, pid)
    ancestors = list(
        policy.visible_projects(viewer, Project.objects.ancestors(project)).only("pid", "name")
    )
    children = list(
        policy.visible_projects(viewer, project.children.all()).only(
            "pid", "name", "allocation_mode", "is_active"
        )
    )
    members = list(
        policy.visible_memberships(viewer, project.memberships.all())
        .select_related("person", "project_level")
        .order_by("-is_leader", "-is_supervisor", "project_level__rank", "person__username")
    )
    grants = list(project.grants.select_related("scheme").order_by("-begins", "pk"))

    periods = list(
        AllocationPeriod.objects.filter(
            pk__in=AllocationPool.objects.filter(project=project).values("period_id")
        ).order_by("start")
    )
    chosen = request.GET.get("period")
    period = next((p for p in periods if p.name == chosen), None) or current_period(periods)
    pools = (
        summarise(
            AllocationPool.objects.filter(project=project, period=period).order_by(
                "-period__start", "resource_pool__name"
            )
        )
        if period
        else []
    )

    # The usage chart: the project's and its sub-projects' usage (what "Explore usage"
    # shows too) over the chosen period, or, for a project without pools, over its grants
    # and its usage; up to the newest usage or today, whichever is later (no flat line into
    # the future), and at most the explorer's limit of days.
    subtree = list(Project.objects.subtree(project).values_list("pk", flat=True))
    condition = Q(submitted_project_id__in=subtree)
    if period:
        first, last = period.start, period.end
    else:
        first, last = _span_without_period(viewer, condition, grants)
    newest = last_usage_day(viewer, condition, first, last)
    until = min(last, max(date.today(), newest or first))
    first = max(first, date.fromordinal(until.toordinal() - MAX_PERIODS["day"] + 1))
    usage_chart = usage_over_time(viewer, condition, first, until)
    burn = burn_down(viewer, pools, until=until)

    return render(
        request,
        "web/project_detail.html",
        {
            "project": project,
            "ancestors": ancestors,
            "children": children,
            "members": members,
            "grants": grants,
            "periods": periods,
            "period": period,
            "pools": pools,
            "burn_charts": burn,
            "usage_chart": usage_chart,
            "usage_of_subtree": len(subtree) > 1,
            "can_manage": policy.can_manage_members(viewer, project),
            "can_ask_to_join": project.is_active
            and project.parent_id is not None
            and not any(m.person_id == viewer.pk for m in members),
        },
    )


def _span_without_period(viewer, condition: Q, grants: list) -> tuple[date, date]:
    """The days a project without allocation pools has something to show: its grants'
    and its usage's, else the last 90 days."""
    spans = [(g.begins, g.expires) for g in grants]
    used = usage_span(viewer, condition)
    if used is not None:
        spans.append(used)
    if not spans:
        last = date.today()
        return date.fromordinal(last.toordinal() - 89), last
    return min(s[0] for s in spans), max(s[1] for s in spans)
