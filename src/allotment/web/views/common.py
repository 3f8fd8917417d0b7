"""What several page families share: periods, chart JSON and role checks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

from allotment.access import policy
from allotment.grants.models import AllocationPeriod


def admin_required(view: Callable) -> Callable:
    """Signed in (else to the sign-in page) and a site administrator (else 403)."""

    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not policy.is_site_admin(request.user):
            raise PermissionDenied("Only site administrators may use this page.")
        return view(request, *args, **kwargs)

    return wrapped


def current_period(periods: list[AllocationPeriod] | None = None) -> AllocationPeriod | None:
    """The period covering today, else the latest begun, else the first to come."""
    if periods is None:
        periods = list(AllocationPeriod.objects.order_by("start"))
    if not periods:
        return None
    today = date.today()
    covering = [p for p in periods if p.start <= today <= p.end]
    if covering:
        return covering[-1]
    begun = [p for p in periods if p.start <= today]
    return max(begun, key=lambda p: p.start) if begun else min(periods, key=lambda p: p.start)
