"""What every portal page shows of the workflows: how many decisions wait for the viewer."""

from django.utils.functional import SimpleLazyObject

from . import services


def pending_decisions(request) -> dict:
    """`to_decide`: the count of join requests and project applications the viewer may
    decide, computed only if a template reads it (two COUNT queries)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def count() -> int:
        return (
            services.decidable_join_requests(user).count()
            + services.decidable_project_applications(user).count()
        )

    return {"to_decide": SimpleLazyObject(count)}
