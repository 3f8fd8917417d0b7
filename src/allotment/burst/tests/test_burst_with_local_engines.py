"""Burst end to end on the local engines: jobs queued → VMs booted → jobs run on them →
idle VMs retired → their time charged to the projects whose jobs used them."""

import time

import pytest

from allotment.burst import reconcile, services
from allotment.burst.local import LocalCloud, LocalQueue
from allotment.burst.models import VM, Cycle, VMCharge
from allotment.usage.models import DailyUsage, Kind

pytestmark = pytest.mark.django_db


def tick(brecca, cloud, steps: int = 1) -> Cycle:
    services.refresh(cloud)
    cycle = services.run_cycle(brecca)
    for _ in range(steps):
        for vm in reconcile.targets():
            reconcile.step(vm)
    return cycle


def states() -> dict[str, str]:
    return dict(VM.objects.exclude(state="deleted").values_list("name", "state"))


def test_queued_jobs_boot_vms_that_run_them_and_are_retired_and_charged(burst_site):
    brecca, cloud = burst_site
    queue = LocalQueue(brecca)
    queue.submit("projecta", cores=1, seconds=1, count=2)
    queue.submit("projectb", cores=1, memory_mb=1500, seconds=1, count=1)
    cloud.idle_keep = 60  # while the jobs start; retired at once once they are done
    cloud.save()

    cycle = tick(brecca, cloud, steps=2)
    assert cycle.idle_jobs == 3 and cycle.groups == 2 and cycle.boots == 3
    assert states() == {"burst1": "idle", "burst2": "idle", "burst3": "idle"}
    by_name = {vm.name: vm for vm in VM.objects.all()}
    assert sorted((vm.account, vm.cores) for vm in by_name.values()) == [
        ("projecta", 1), ("projecta", 1), ("projectb", 2)  # 1500 MB: local.medium
    ]  # fmt: skip
    assert LocalCloud("nimbus").boots() == 3

    tick(brecca, cloud)  # the queue starts the jobs on the idle hosts
    assert queue.pending_count() == 0
    assert set(states().values()) == {"busy"}
    assert Cycle.objects.latest("at").boots == 0  # no demand left: nothing more booted

    time.sleep(1.2)  # the jobs end
    cloud.idle_keep = 0
    cloud.save()
    tick(brecca, cloud, steps=5)  # idle, retiring, deleting, the delete, deleted
    assert states() == {}
    assert LocalCloud("nimbus").servers() == []
    charges = {(c.vm_name, c.account): c.seconds for c in VMCharge.objects.all()}
    # Each VM ran one job of the project it was booted for, so all its time is theirs.
    assert charges == {
        (vm.name, vm.account): int(vm.ended_at.timestamp()) - int(vm.requested_at.timestamp())
        for vm in VM.objects.all()
    }
    vm_usage = DailyUsage.objects.filter(kind=Kind.VM)
    assert sum(r.raw for r in vm_usage) == sum(charges.values())


def test_a_single_use_vm_takes_no_job_after_its_first_and_the_next_gets_a_fresh_vm(burst_site):
    brecca, cloud = burst_site
    cloud.single_use, cloud.idle_keep = True, 600  # kept idle long, were it reusable
    cloud.save()
    queue = LocalQueue(brecca)
    queue.submit("projecta", cores=1, seconds=1, count=1)
    tick(brecca, cloud, steps=2)
    assert states() == {"burst1": "idle"}

    tick(brecca, cloud)  # its job starts; seen busy, it is drained at once
    first = VM.objects.get(name="burst1")
    assert first.state == "retiring"
    assert first.end_reason == "single use on cloud nimbus: it took its jobs"

    queue.submit("projecta", cores=1, seconds=1, count=1)
    time.sleep(1.2)  # the first job ends
    tick(brecca, cloud, steps=4)
    # The second job did not go to burst1 (drained, then deleted): a VM of its own.
    assert VM.objects.get(pk=first.pk).state == "deleted"
    assert VM.objects.exclude(pk=first.pk).count() == 1
    assert LocalCloud("nimbus").boots() == 2
