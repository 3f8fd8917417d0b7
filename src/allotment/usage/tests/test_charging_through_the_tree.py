"""Charging through the project tree: shared ancestors, capped parents, unallocated usage.

In the example site ProjectC is shared, has no pools, and ProjectD sits under it with a
grant but no pool of its own. eve, farid and grace are members of ProjectD.
"""

from datetime import date
from decimal import Decimal

from allotment.core.validation import save_validated
from allotment.grants.models import AllocationCap, AllocationPool
from allotment.grants.services import allocate, create_grant
from allotment.projects.models import AllocationMode

from .helpers import cli_json, daily, day, dec, import_, pools_of, sacct_line, write_sacct

YEAR_2100 = (date(2100, 1, 1), date(2100, 12, 31))


def give_pool(example, pid: str, hours: int) -> AllocationPool:
    project = example.projects[pid]
    grant = create_grant(project, example.scheme, *YEAR_2100, awarded=YEAR_2100[0])
    allocation = allocate(grant, example.period, example.pools["CPU Hours"], Decimal(hours))
    return allocation.allocation_pool


def project_d_jobs(tmp_path, *jobs):
    """jobs: (job id, user, start, end, cores) of ProjectD on brecca."""
    lines = [sacct_line(j, u, "ProjectD", s, e, c) for j, u, s, e, c in jobs]
    return import_(write_sacct(tmp_path / "jobs.txt", *lines))


def test_project_d_charges_the_pool_of_shared_project_c(example, tmp_path, capsys):
    pool_c = give_pool(example, "ProjectC", 100)
    project_d_jobs(tmp_path, ("1", "farid", "2100-03-01T10:00:00", "2100-03-01T15:00:00", 2))
    fields = ("submitted_project__pid", "charged_project__pid", "allocation_pool", "charge")
    assert daily(*fields, "raw", "used") == [
        ("ProjectD", "ProjectC", pool_c.pk, "charged", 36000, dec(36000))
    ]
    cpu = pools_of(capsys, "ProjectC")["CPU Hours"]
    assert (cpu["allocated"], cpu["used"], cpu["remaining"]) == (100, 10, 90)
    rows = cli_json(capsys, "usage", "report", "--group-by", "charged-project")
    assert rows == [
        {"period": "2100-03", "charged_project": "ProjectC", "jobs": 1, "raw": 10, "used": 10}
    ]


def test_project_d_usage_with_no_pool_anywhere_is_kept_as_unallocated(example, tmp_path, capsys):
    project_d_jobs(tmp_path, ("1", "farid", "2100-03-01T10:00:00", "2100-03-01T15:00:00", 2))
    fields = ("submitted_project__pid", "charged_project", "allocation_pool", "charge", "raw")
    assert daily(*fields) == [("ProjectD", None, None, "unallocated", 36000)]
    rows = cli_json(capsys, "usage", "report", "--group-by", "charge")
    assert rows == [{"period": "2100-03", "charge": "unallocated", "jobs": 1, "raw": 10,
                     "used": 10}]  # fmt: skip
    rows = cli_json(capsys, "usage", "report", "--project", "ProjectC", "--subtree")
    assert rows == [{"period": "2100-03", "jobs": 1, "raw": 10, "used": 10}]
    assert cli_json(capsys, "usage", "report", "--project", "ProjectC") == []


def test_a_sub_project_with_its_own_pool_is_charged_there(example, tmp_path, capsys):
    pool_c = give_pool(example, "ProjectC", 100)
    pool_d = give_pool(example, "ProjectD", 4)
    project_d_jobs(tmp_path, ("1", "farid", "2100-03-01T10:00:00", "2100-03-01T15:00:00", 2))
    assert daily("charged_project__pid", "allocation_pool", "used") == [
        ("ProjectD", pool_d.pk, dec(36000))
    ]
    assert pools_of(capsys, "ProjectD")["CPU Hours"]["remaining"] == -6
    assert pools_of(capsys, "ProjectC")["CPU Hours"]["used"] == 0
    assert pool_c.pk != pool_d.pk


def test_usage_outside_every_period_is_unallocated(example, tmp_path, capsys):
    give_pool(example, "ProjectC", 100)
    project_d_jobs(tmp_path, ("1", "eve", "2101-03-01T10:00:00", "2101-03-01T11:00:00", 2))
    assert daily("charge", "allocation_pool", "raw") == [("unallocated", None, 7200)]
    assert pools_of(capsys, "ProjectC")["CPU Hours"]["used"] == 0


def make_c_capped(example, cap_hours: int) -> AllocationPool:
    project_c = example.projects["ProjectC"]
    project_c.allocation_mode = AllocationMode.CAPPED
    save_validated(project_c)
    pool_c = give_pool(example, "ProjectC", 100)
    save_validated(
        AllocationCap(
            project=example.projects["ProjectD"],
            resource_pool=example.pools["CPU Hours"],
            quantity=Decimal(cap_hours),
        )
    )
    return pool_c


def test_capped_parent_pays_up_to_the_cap_and_the_rest_is_over(example, tmp_path, capsys):
    pool_c = make_c_capped(example, 10)
    project_d_jobs(tmp_path, ("1", "grace", "2100-03-01T08:00:00", "2100-03-01T13:00:00", 3))
    fields = ("charge", "charged_project__pid", "allocation_pool", "jobs", "raw", "used")
    assert daily(*fields) == [
        ("charged", "ProjectC", pool_c.pk, 1, 36000, dec(36000)),
        ("over", None, None, 0, 18000, dec(18000)),
    ]
    cpu = pools_of(capsys, "ProjectC")["CPU Hours"]
    assert (cpu["used"], cpu["remaining"]) == (10, 90)
    rows = cli_json(capsys, "usage", "report", "--group-by", "charge")
    assert rows == [
        {"period": "2100-03", "charge": "charged", "jobs": 1, "raw": 10, "used": 10},
        {"period": "2100-03", "charge": "over", "jobs": 0, "raw": 5, "used": 5},
    ]


def test_the_cap_is_consumed_in_day_order_across_imports(example, tmp_path, capsys):
    pool_c = make_c_capped(example, 10)
    # March 2: 7 cores x 1 hour, imported first; March 1: 2 cores x 4 hours, imported second
    project_d_jobs(tmp_path, ("2", "eve", "2100-03-02T10:00:00", "2100-03-02T11:00:00", 7))
    assert daily("day", "charge", "used") == [(day(3, 2), "charged", dec(7 * 3600))]
    project_d_jobs(tmp_path, ("1", "eve", "2100-03-01T10:00:00", "2100-03-01T14:00:00", 2))
    assert daily("day", "charge", "allocation_pool", "jobs", "used") == [
        (day(3, 1), "charged", pool_c.pk, 1, dec(8 * 3600)),
        (day(3, 2), "charged", pool_c.pk, 1, dec(2 * 3600)),
        (day(3, 2), "over", None, 0, dec(5 * 3600)),
    ]
    assert pools_of(capsys, "ProjectC")["CPU Hours"]["used"] == 10


def test_tango_usage_is_capped_in_scaled_hours(example, tmp_path, capsys):
    make_c_capped(example, 10)
    line = sacct_line("1", "eve", "ProjectD", "2100-03-01T10:00:00", "2100-03-01T14:00:00", 2)
    import_(write_sacct(tmp_path / "jobs.txt", line), machine="tango")  # 8 raw, 12 used
    assert daily("charge", "raw", "used") == [
        ("charged", 8 * 3600 * 10 // 12, dec(36000)),
        ("over", 8 * 3600 * 2 // 12, dec(7200)),
    ]
    assert pools_of(capsys, "ProjectC")["CPU Hours"]["used"] == 10


def test_a_project_without_a_cap_under_a_capped_parent_draws_nothing(example, tmp_path, capsys):
    project_c = example.projects["ProjectC"]
    project_c.allocation_mode = AllocationMode.CAPPED
    save_validated(project_c)
    give_pool(example, "ProjectC", 100)
    project_d_jobs(tmp_path, ("1", "eve", "2100-03-01T10:00:00", "2100-03-01T11:00:00", 2))
    assert daily("charge", "allocation_pool", "used") == [("over", None, dec(7200))]
    assert pools_of(capsys, "ProjectC")["CPU Hours"]["used"] == 0


def test_the_nearest_shared_ancestor_with_a_pool_pays(example, tmp_path, capsys):
    institute_c = example.projects["InstituteC"]
    institute_c.allocation_mode = AllocationMode.SHARED
    save_validated(institute_c)
    pool_i = give_pool(example, "InstituteC", 50)  # ProjectC is shared but has no pool
    project_d_jobs(tmp_path, ("1", "eve", "2100-03-01T10:00:00", "2100-03-01T11:00:00", 2))
    assert daily("charged_project__pid", "allocation_pool", "used") == [
        ("InstituteC", pool_i.pk, dec(7200))
    ]
    pool_c = give_pool(example, "ProjectC", 100)
    project_d_jobs(tmp_path, ("2", "eve", "2100-03-02T10:00:00", "2100-03-02T11:00:00", 2))
    assert daily("charged_project__pid", "allocation_pool", day=day(3, 2)) == [
        ("ProjectC", pool_c.pk)
    ]


def test_usage_imported_before_its_pool_existed_is_charged_once_it_does(example, tmp_path, capsys):
    project_d_jobs(tmp_path, ("1", "farid", "2100-03-01T10:00:00", "2100-03-01T15:00:00", 2))
    pool_c = give_pool(example, "ProjectC", 100)
    assert daily("charge", "allocation_pool") == [("charged", pool_c.pk)]
    assert pools_of(capsys, "ProjectC")["CPU Hours"]["used"] == 10


def test_making_a_parent_shared_later_charges_the_usage_already_stored(example, tmp_path, capsys):
    project_c = example.projects["ProjectC"]
    project_c.allocation_mode = AllocationMode.PRIVATE
    save_validated(project_c)
    pool_c = give_pool(example, "ProjectC", 100)
    project_d_jobs(tmp_path, ("1", "farid", "2100-03-01T10:00:00", "2100-03-01T15:00:00", 2))
    assert daily("charge", "allocation_pool") == [("unallocated", None)]
    project_c.allocation_mode = AllocationMode.SHARED
    save_validated(project_c)
    assert daily("charge", "allocation_pool") == [("charged", pool_c.pk)]
    assert pools_of(capsys, "ProjectC")["CPU Hours"]["used"] == 10


def test_moving_a_project_out_from_under_a_shared_parent_uncharges_it(example, tmp_path, capsys):
    from allotment.projects.services import move_project

    give_pool(example, "ProjectC", 100)
    project_d_jobs(tmp_path, ("1", "farid", "2100-03-01T10:00:00", "2100-03-01T15:00:00", 2))
    move_project(example.projects["ProjectD"], example.projects["InstituteC"])
    assert daily("charge", "allocation_pool") == [("unallocated", None)]
    assert pools_of(capsys, "ProjectC")["CPU Hours"]["used"] == 0
    rows = cli_json(capsys, "usage", "report", "--group-by", "charge")
    assert rows == [{"period": "2100-03", "charge": "unallocated", "jobs": 1, "raw": 10,
                     "used": 10}]  # fmt: skip
