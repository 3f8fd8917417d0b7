"""Who may call what: access.policy answers, this module only asks.

Reads are filtered by the viewsets' querysets (an object you may not see is simply not
there: 404). Writes are checked here in two steps, both before the input is validated so
a refusal never depends on the body: `may_write` (could this person write anything of
this kind?) and `may_change` (this object?). Field-level limits (a leader edits a
project's name and description only) are checked by the viewsets once the input is read.
"""

from __future__ import annotations

from collections.abc import Iterable

from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS, BasePermission

from allotment.access import policy


def refuse(message: str) -> None:
    raise exceptions.PermissionDenied(message)


def refuse_fields(fields: Iterable[str], why: str) -> None:
    """403 naming the fields the person may not change, so a script knows what to drop."""
    names = sorted(fields)
    if names:
        plural = "s" if len(names) > 1 else ""
        refuse(f"You may not change the field{plural} {', '.join(names)}: {why}")


def changed_fields(instance, data: dict) -> set[str]:
    """The fields of `data` whose values differ from the instance's (a PUT of the same
    values changes nothing and so needs no right)."""
    return {name for name, value in data.items() if getattr(instance, name, None) != value}


class PolicyPermission(BasePermission):
    """Signed in for everything; writes as the view's may_write/may_change say."""

    def has_permission(self, request, view) -> bool:
        if not policy.signed_in(request.user):
            user = request.user
            if user is not None and user.is_authenticated:
                if getattr(user, "has_expired", False):
                    refuse(f"{user.username}'s account expired on {user.expires:%Y-%m-%d}.")
                refuse(f"{user.username} is locked or inactive.")
            return False  # DRF answers 401 with WWW-Authenticate: Bearer
        if request.method in SAFE_METHODS:
            return True
        may_write = getattr(view, "may_write", None)
        if may_write is not None:  # a read-only view answers other methods with 405
            may_write(request)
        return True

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in SAFE_METHODS:
            return True
        view.may_change(request, obj)
        return True


def admin_only(request, what: str) -> None:
    if not policy.is_site_admin(request.user):
        refuse(f"Only site administrators may change {what}.")
