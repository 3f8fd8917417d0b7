"""Property: for any set of jobs, the daily usage adds up to sum(cores x elapsed x scaling)
exactly, however the jobs are split across days and machines."""

from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allotment.usage.models import DailyUsage, Job

from .helpers import import_, write_csv

START_2100 = 4102444800  # 2100-01-01T00:00:00Z
YEAR = 365 * 86400
SCALING = {"brecca": Decimal("1.0"), "tango": Decimal("1.5")}

jobs_strategy = st.lists(
    st.tuples(
        st.sampled_from(sorted(SCALING)),
        st.integers(min_value=START_2100, max_value=START_2100 + YEAR - 1),
        st.integers(min_value=0, max_value=3 * 86400),
        st.integers(min_value=0, max_value=64),
        st.sampled_from([("alice", "ProjectA"), ("eve", "ProjectD"), ("bob", "")]),
    ),
    min_size=1,
    max_size=12,
)


class _Rollback(Exception):
    """Undo one example's import, so examples do not see each other's jobs."""


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(jobs=jobs_strategy)
def test_daily_used_adds_up_to_cores_times_elapsed_times_scaling(example, tmp_path, jobs):
    expected_raw = sum(cores * duration for _, _, duration, cores, _ in jobs)
    expected_used = sum(
        Decimal(cores * duration) * SCALING[machine] for machine, _, duration, cores, _ in jobs
    )
    try:
        with transaction.atomic():
            for machine in SCALING:
                rows = [
                    (n, user, account, start, start + duration, cores)
                    for n, (on, start, duration, cores, (user, account)) in enumerate(jobs)
                    if on == machine
                ]
                if rows:
                    import_(write_csv(tmp_path / f"{machine}.csv", rows), fmt="csv",
                            machine=machine)  # fmt: skip
            assert Job.objects.count() == len(jobs)
            totals = DailyUsage.objects.aggregate(
                jobs=Sum("jobs"), raw=Sum("raw"), used=Sum("used")
            )
            assert totals["jobs"] == len(jobs)
            assert totals["raw"] == expected_raw
            assert Decimal(totals["used"]) == expected_used
            for machine, scaling in SCALING.items():
                on = DailyUsage.objects.filter(machine__name=machine).aggregate(
                    raw=Sum("raw"), used=Sum("used")
                )
                raw = sum(c * d for m, _, d, c, _ in jobs if m == machine)
                assert (on["raw"] or 0) == raw
                assert Decimal(on["used"] or 0) == Decimal(raw) * scaling
            raise _Rollback
    except _Rollback:
        pass
