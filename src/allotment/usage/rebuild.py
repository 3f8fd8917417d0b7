"""Aggregating days again on request, e.g. after a resource's scaling factor changed.

Usage is aggregated with the scaling factors in force when it was imported; changing a
factor does not silently rewrite history. An operator who wants it to applies
`allot usage rebuild --from --to` to the days concerned.
"""

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction

from allotment.resources.models import Metric, Resource

from . import aggregate
from .days import DayClock


@transaction.atomic
def rebuild_days(first: date, last: date) -> int:
    if last < first:
        raise ValidationError(f"--to ({last}) is before --from ({first}).")
    clock = DayClock()
    lo, hi = clock.start(first.toordinal()), clock.start(last.toordinal() + 1)
    aggregate.rebuild_jobs(lo, hi)
    aggregate.rebuild_vms(lo, hi)
    storage = list(Resource.objects.filter(pool__metric=Metric.BYTES).values_list("pk", flat=True))
    aggregate.rebuild_storage(lo, hi - 1, storage)
    return (last - first).days + 1
