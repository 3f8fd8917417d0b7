"""What every portal page shows of the workflows: how many decisions wait for the viewer,
and whether the viewer is a site administrator (the pages' menu asks)."""

from django.utils.functional import SimpleLazyObject

from allotment.access import policy

from . import services


def pending_decisions(request) -> dict:
    """`to_decide`: the count of join requests and project applications the viewer may
    decide, computed only if a template reads it (two COUNT queries); `is_site_admin`:
    access.policy.is_site_admin of the viewer (no query)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def count() -> int:
        return (
            services.decidable_join_requests(user).count()
            + services.decidable_project_applications(user).count()
        )

    return {"to_decide": SimpleLazyObject(count), "is_site_admin": policy.is_site_admin(user)}
