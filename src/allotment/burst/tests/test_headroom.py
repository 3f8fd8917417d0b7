"""An idle VM kept as the cloud's headroom is kept for jobs about to come, but never holds
room that waiting jobs need: once a decision refuses VMs for want of room, it goes."""

import time

import pytest

from allotment.burst import reconcile, services
from allotment.burst.local import LocalQueue
from allotment.burst.models import VM, Cycle

pytestmark = pytest.mark.django_db


def tick(brecca, cloud, steps: int = 1) -> Cycle:
    services.refresh(cloud)
    cycle = services.run_cycle(brecca)
    for _ in range(steps):
        for vm in reconcile.targets():
            reconcile.step(vm)
    return cycle


def test_a_vm_kept_as_headroom_gives_way_to_jobs_it_cannot_run(burst_site):
    brecca, cloud = burst_site
    cloud.options = {**cloud.options, "quota": {"instances": 1, "cores": 8, "ram_mb": 8000}}
    cloud.idle_keep, cloud.idle_headroom = 0, 1
    cloud.save()
    queue = LocalQueue(brecca)
    queue.submit("projecta", cores=1, seconds=0.5)
    tick(brecca, cloud, steps=2)
    tick(brecca, cloud)  # the job starts on the small VM
    time.sleep(0.6)
    tick(brecca, cloud, steps=2)  # the job is over: the VM is idle, kept as headroom
    (small,) = VM.objects.all()
    assert (small.state, small.flavor.name) == ("idle", "local.small")

    queue.submit("projectb", cores=2, seconds=0.5)  # needs local.medium: no instance left
    cycle = tick(brecca, cloud, steps=4)  # retiring, deleting, the delete, deleted
    assert cycle.report["refusals"] == {"quota: instances": 1}
    small.refresh_from_db()
    assert small.state == "deleted" and small.end_reason == "idle for 0 s"

    tick(brecca, cloud, steps=2)
    assert [(vm.flavor.name, vm.state) for vm in VM.objects.exclude(state="deleted")] == [
        ("local.medium", "idle")
    ]
