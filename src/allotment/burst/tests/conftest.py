"""A bursting site with local engines, fast: brecca's burst partition bursts into the
local cloud "nimbus"; boots and registrations take no time unless a test says so."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from allotment.burst.models import Cloud
from allotment.grants.models import AllocationPeriod
from allotment.grants.services import allocate, create_grant
from allotment.resources.models import (
    Machine,
    MachineCategory,
    MachineKind,
    Metric,
    Resource,
    ResourcePool,
)


@pytest.fixture(autouse=True)
def fresh_server_listings():
    """The clouds' server listings are cached per process for a few seconds; each test
    starts without them (cloud names repeat from test to test)."""
    from allotment.burst import services

    services._servers.clear()
    yield
    services._servers.clear()


@pytest.fixture
def burst_site(example, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    brecca = Machine.objects.get(name="brecca")
    brecca.engine_options = {
        "boot_seconds": 0,
        "burst": {"partitions": ["burst"], "nodes": "burst[1-6]"},
    }
    brecca.save()
    nimbus = Machine.objects.create(
        name="nimbus", kind=MachineKind.CLOUD, category=MachineCategory.objects.first()
    )
    cloud = Cloud.objects.create(
        machine=nimbus,
        driver="local",
        options={"boot_seconds": 0, "quota": {"instances": 4, "cores": 8, "ram_mb": 8000}},
        default_image="burst-worker",
        idle_keep=0,
        max_starting=3,
    )
    cloud.serves.add(brecca)
    return brecca, cloud


@pytest.fixture
def vm_hours(burst_site, example):
    """A VM-hours pool on nimbus and this year's allocations of it: ProjectA 10 h,
    ProjectB none (a grant without allocation)."""
    _, cloud = burst_site
    pool = ResourcePool.objects.create(
        name="VM hours", units="VM hours", metric=Metric.VM_SECONDS, unit_size=Decimal(3600)
    )
    Resource.objects.create(machine=cloud.machine, pool=pool, name="nimbus VMs", quantity=1000)
    today = date.today()
    period = AllocationPeriod.objects.create(
        name="now", start=today - timedelta(days=30), end=today + timedelta(days=300)
    )
    grant = create_grant(
        example.projects["ProjectA"], example.scheme, period.start, period.end, period.start
    )
    allocate(grant, period, pool, Decimal(10))
    return pool, period
