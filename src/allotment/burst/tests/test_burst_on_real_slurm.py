"""Burst end to end on the loopback Slurm with the local cloud, where each VM is a real
slurmd of a FUTURE node of brecca's partition burst: jobs submitted → VMs booted → the
jobs run on them → idle VMs retired (the node back to FUTURE) → VM hours charged to the
projects whose jobs ran there, in the allocation's figures and on the project page."""

import time
from decimal import Decimal

import pytest

from allotment.burst import reconcile, services
from allotment.burst.models import VM, VMCharge
from allotment.grants.models import AllocationPool
from allotment.grants.services import allocate, create_grant, project_pools
from allotment.integrations.slurm import devcluster
from allotment.integrations.slurm.sacctmgr import Cluster
from allotment.integrations.slurm.sync import sync
from allotment.integrations.slurm.tests.conftest import this_years_pool, unix_user
from allotment.integrations.slurm.tests.test_queue_on_real_slurm import to_burst
from allotment.resources.models import Metric, Resource, ResourcePool

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def tick(brecca, cloud) -> None:
    services.refresh(cloud)
    services.run_cycle(brecca)
    for vm in reconcile.targets():
        reconcile.step(vm)


def until(check, what: str, brecca, cloud, timeout: float = 120):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        tick(brecca, cloud)
        if check():
            return
        time.sleep(0.5)
    states = dict(VM.objects.values_list("name", "state"))
    raise AssertionError(f"timed out waiting for {what}: {states}")


@pytest.fixture
def slurm_burst_site(burst_site, slurm_burst, example):
    brecca, cloud = burst_site
    devcluster.point_machine_at(slurm_burst)
    brecca.refresh_from_db()
    for pid in ("ProjectA", "ProjectB"):
        pool = this_years_pool(example, pid, Decimal(100))
    vm_pool = ResourcePool.objects.create(
        name="VM hours", units="VM hours", metric=Metric.VM_SECONDS, unit_size=Decimal(3600)
    )
    Resource.objects.create(machine=cloud.machine, pool=vm_pool, name="nimbus VMs", quantity=8)
    period = AllocationPool.objects.get(pk=pool.pk).period
    for pid in ("ProjectA", "ProjectB"):
        grant = create_grant(example.projects[pid], example.scheme, period.start, period.end)
        allocate(grant, period, vm_pool, Decimal(5))
    outcome = sync(brecca)
    assert not outcome.failed, outcome.failed
    cloud.idle_keep = 3600
    cloud.save()
    return brecca, cloud


def test_jobs_run_on_burst_vms_that_are_retired_and_charged(slurm_burst_site, example):
    brecca, cloud = slurm_burst_site
    slurm = Cluster.of(brecca)
    alice, bob = unix_user("alice"), unix_user("bob")
    to_burst(slurm, alice, "projecta", sleep=4)
    to_burst(slurm, bob, "projectb", "--ntasks=2", sleep=4)

    until(lambda: VM.objects.filter(state="busy").count() == 2, "two VMs busy", brecca, cloud)
    vms = {vm.account: vm for vm in VM.objects.all()}
    assert {a: (vm.cores, vm.flavor.name) for a, vm in vms.items()} == {
        "projecta": (1, "local.small"), "projectb": (2, "local.medium")
    }  # fmt: skip
    # Slurm places each job where it fits: on the VM booted for it or on another one.
    lines = slurm.run("squeue", "-h", "-p", "burst", "-o", "%a %N").splitlines()
    ran_on = {node: account for account, node in (line.split() for line in lines if line)}
    assert set(ran_on) == {vm.name for vm in vms.values()}
    assert sorted(ran_on.values()) == ["projecta", "projectb"]

    cloud.idle_keep = 0  # retire as soon as the jobs are done
    cloud.save()
    until(lambda: not VM.objects.exclude(state="deleted").exists(), "VMs deleted", brecca, cloud)
    shown = slurm.run("scontrol", "--future", "-o", "show", "node", "burst[1-8]")
    assert all(" State=FUTURE " in line for line in shown.splitlines() if line)
    assert cloud.machine.name and not services.drivers.cloud(cloud).servers()

    # Each VM's whole life is charged to the account whose job ran on it.
    charges = {(c.vm_name, c.account): c.seconds for c in VMCharge.objects.all()}
    lives = {}
    for vm in vms.values():
        vm.refresh_from_db()
        lives[(vm.name, ran_on[vm.name])] = int(vm.ended_at.timestamp()) - int(
            vm.requested_at.timestamp()
        )
    assert charges == lives
    used = sum(seconds for (_, account), seconds in charges.items() if account == "projecta")
    pools = {s.pool: s for s in project_pools(example.projects["ProjectA"])}
    assert pools["VM hours"].used == Decimal(used) / 3600
