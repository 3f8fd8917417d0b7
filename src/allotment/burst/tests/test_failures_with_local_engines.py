"""Burst's failure paths on the local engines: a cloud that stops answering, boots that
fail or never finish, VMs that never join, servers nobody knows, retirement, reused names,
and projects without allocation. Driven as the agent drives it: refresh the clouds, run
the cycle, take each VM's step."""

import contextlib
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from allotment.burst import reconcile, services
from allotment.burst.engines import TAG_KEY, VM_KEY, BootRequest, EngineError
from allotment.burst.local import LocalCloud, LocalQueue
from allotment.burst.models import VM, Backoff, Cloud, CloudState, Cycle, Health, VMCharge
from allotment.inventory.local import LocalService
from allotment.resources.models import Machine, MachineCategory, MachineKind

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_listings(monkeypatch):
    """Each test's clouds are new: no server listing cached by an earlier test."""
    monkeypatch.setattr(services, "_servers", {})


@pytest.fixture
def site(burst_site):
    """nimbus keeps idle VMs for a while, so a VM waits for the job the next cycle starts."""
    brecca, nimbus = burst_site
    nimbus.idle_keep = 600
    nimbus.save()
    return brecca, nimbus


@pytest.fixture
def stratus(site):
    """A second local cloud serving brecca, chosen after nimbus (priority 20 > 10)."""
    brecca, _ = site
    machine = Machine.objects.create(
        name="stratus", kind=MachineKind.CLOUD, category=MachineCategory.objects.first()
    )
    cloud = Cloud.objects.create(
        machine=machine,
        driver="local",
        options={"boot_seconds": 0, "quota": {"instances": 4, "cores": 8, "ram_mb": 8000}},
        default_image="burst-worker",
        priority=20,
        idle_keep=600,
        max_starting=3,
    )
    cloud.serves.add(brecca)
    return cloud


def tick(brecca, steps: int = 1) -> Cycle:
    for cloud in Cloud.objects.select_related("machine"):
        with contextlib.suppress(EngineError):  # counted against its health; the cycle goes on
            services.refresh(cloud)
    cycle = services.run_cycle(brecca)
    step_all(steps)
    return cycle


def step_all(steps: int = 1) -> list[str]:
    said = []
    for _ in range(steps):
        said += [f"{vm.name}: {reconcile.step(vm)}" for vm in reconcile.targets()]
    return said


def states() -> dict[str, tuple[str, str]]:
    return {
        name: (cloud, state)
        for name, cloud, state in VM.objects.exclude(state="deleted").values_list(
            "name", "cloud__machine__name", "state"
        )
    }


def health(cloud: Cloud) -> tuple[str, int]:
    state = CloudState.objects.get(cloud=cloud)
    return state.health, state.failures


def configure(cloud: Cloud, options: dict | None = None, **fields) -> None:
    """Change the local cloud's `options` (how it behaves) and the Cloud's `fields`."""
    cloud.options = {**cloud.options, **(options or {})}
    for name, value in fields.items():
        setattr(cloud, name, value)
    cloud.save()


# -- a cloud that stops answering ----------------------------------------------------------


def test_a_cloud_down_is_unhealthy_after_three_failures_and_its_demand_goes_elsewhere(
    site, stratus
):
    brecca, nimbus = site
    configure(nimbus, {"boot_seconds": 3600})  # its servers stay building
    LocalQueue(brecca).submit("projecta", seconds=600, count=2)
    tick(brecca)
    assert states() == {"burst1": ("nimbus", "booting"), "burst2": ("nimbus", "booting")}

    LocalCloud("nimbus").set_down(True)
    for failures in (1, 2):
        with pytest.raises(EngineError, match="local cloud nimbus: quota: not answering"):
            services.refresh(nimbus)
        assert health(nimbus) == (Health.HEALTHY, failures)
        assert set(states().values()) == {("nimbus", "booting")}
    with pytest.raises(EngineError):
        services.refresh(nimbus)
    assert health(nimbus) == (Health.UNHEALTHY, 3)
    assert CloudState.objects.get(cloud=nimbus).health_reason == (
        "local cloud nimbus: quota: not answering (it is down)"
    )
    # Its starting VMs are abandoned: counted for nothing, so their jobs are short again.
    assert states() == {"burst1": ("nimbus", "abandoned"), "burst2": ("nimbus", "abandoned")}

    cycle = tick(brecca)
    assert cycle.report["boots"] == {"stratus": 2}
    assert states() == {
        "burst1": ("nimbus", "abandoned"),
        "burst2": ("nimbus", "abandoned"),
        "burst3": ("stratus", "booting"),
        "burst4": ("stratus", "booting"),
    }
    assert step_all()[:2] == [
        "burst1: waiting for cloud nimbus to answer",
        "burst2: waiting for cloud nimbus to answer",
    ]
    assert len(LocalCloud("stratus").servers()) == 2

    LocalCloud("nimbus").set_down(False)
    cycle = tick(brecca, steps=3)  # reclaimed, the cloud deletes them, gone
    assert health(nimbus) == (Health.HEALTHY, 0)
    assert cycle.boots == 0  # the stratus VMs serve the jobs
    assert LocalCloud("nimbus").servers() == []
    assert VM.objects.filter(cloud=nimbus).exclude(state="deleted").count() == 0
    assert {n for n, (c, _) in states().items()} == {"burst3", "burst4"}


def test_a_cloud_down_gets_no_boots_while_it_is_unhealthy(site):
    brecca, nimbus = site
    LocalCloud("nimbus").set_down(True)
    for _ in range(3):
        tick(brecca)
    assert health(nimbus) == (Health.UNHEALTHY, 3)
    LocalQueue(brecca).submit("projecta", count=2)
    cycle = tick(brecca)
    assert cycle.boots == 0
    assert cycle.report["refusals"] == {"no usable cloud": 2}
    assert states() == {}


# -- boots that fail or never finish -------------------------------------------------------


def test_a_failed_boot_is_deleted_and_backed_off_and_the_next_cycle_uses_another_cloud(
    site, stratus
):
    brecca, nimbus = site
    # "fail" in the name: its boots fail
    configure(nimbus, {"images": ["worker-fail"]}, default_image="worker-fail")
    LocalQueue(brecca).submit("projecta", seconds=600)

    tick(brecca)
    assert states() == {"burst1": ("nimbus", "booting")}
    assert step_all(3) == [
        "burst1: deleting: boot failed: image marked to fail",
        "burst1: the cloud deletes it",
        "burst1: deleted",
    ]
    assert LocalCloud("nimbus").servers() == []
    (backoff,) = Backoff.objects.all()
    assert (backoff.cloud_id, backoff.flavor, backoff.image, backoff.failures) == (
        nimbus.pk, "local.small", "worker-fail", 1
    )  # fmt: skip
    assert backoff.reason == "boot failed: image marked to fail"
    left = backoff.until - timezone.now()
    assert timedelta(minutes=1, seconds=50) < left <= timedelta(minutes=2)

    cycle = tick(brecca, steps=2)
    assert cycle.report["boots"] == {"stratus": 1}
    assert states() == {"burst1": ("stratus", "idle")}
    vm = VM.objects.get(cloud=stratus, name="burst1")
    assert (vm.image, vm.flavor.name) == ("burst-worker", "local.small")


def test_a_cloud_that_fails_again_after_its_back_off_backs_off_twice_as_long(site):
    brecca, nimbus = site
    configure(nimbus, {"images": ["worker-fail"]}, default_image="worker-fail")
    LocalQueue(brecca).submit("projecta", seconds=600)
    tick(brecca, steps=4)  # requested, booting, failed, deleted
    cycle = tick(brecca)
    assert cycle.report["refusals"] == {"backed off": 1}
    assert states() == {}

    Backoff.objects.update(until=timezone.now() - timedelta(seconds=1))
    cycle = tick(brecca, steps=4)
    assert cycle.boots == 1
    (backoff,) = Backoff.objects.all()
    assert backoff.failures == 2
    left = backoff.until - timezone.now()
    assert timedelta(minutes=3, seconds=50) < left <= timedelta(minutes=4)
    assert LocalCloud("nimbus").boots() == 2


def test_a_server_not_running_within_the_boot_timeout_is_deleted_and_backed_off(site):
    brecca, nimbus = site
    configure(nimbus, {"boot_seconds": 3600}, boot_timeout=0)
    LocalQueue(brecca).submit("projecta", seconds=600)
    tick(brecca)
    assert states() == {"burst1": ("nimbus", "booting")}
    assert step_all(3) == [
        "burst1: deleting: not running after 0 s",
        "burst1: the cloud deletes it",
        "burst1: deleted",
    ]
    vm = VM.objects.get(name="burst1")
    assert (vm.state, vm.end_reason) == ("deleted", "not running after 0 s")
    assert list(Backoff.objects.values_list("flavor", "image", "failures")) == [
        ("local.small", "burst-worker", 1)
    ]
    assert LocalCloud("nimbus").servers() == []


def test_a_vm_not_joining_within_the_registration_timeout_is_deleted_and_backed_off(site):
    brecca, nimbus = site
    brecca.engine_options = {**brecca.engine_options, "boot_seconds": 3600}  # slurmd never up
    brecca.save()
    configure(nimbus, register_timeout=0)
    LocalQueue(brecca).submit("projecta", seconds=600)
    tick(brecca)
    assert step_all(4) == [
        "burst1: waiting for burst1 to join brecca",
        "burst1: deleting: did not join brecca within 0 s",
        "burst1: the cloud deletes it",
        "burst1: deleted",
    ]
    vm = VM.objects.get(name="burst1")
    assert vm.active_at is not None and vm.registered_at is None
    assert Backoff.objects.get().reason == "did not join brecca within 0 s"
    assert LocalService("brecca").host("burst1").up is False  # its batch side stopped
    assert LocalCloud("nimbus").servers() == []


# -- servers nobody knows ------------------------------------------------------------------


def test_the_orphan_sweep_deletes_our_unknown_servers_and_leaves_everyone_elses(site):
    brecca, nimbus = site
    LocalQueue(brecca).submit("projecta", seconds=600)
    tick(brecca)
    ours = VM.objects.get(name="burst1").server_id
    local = LocalCloud("nimbus")
    local.add_foreign_server("lost", tags={TAG_KEY: services.site_tag(), VM_KEY: "burst9"})
    local.add_foreign_server("theirs")
    local.add_foreign_server("other-site", tags={TAG_KEY: "someone-else"})

    report = services.sweep_orphans(nimbus, services.refresh(nimbus))
    assert report["deleted"] == ["lost"]
    assert sorted(report["foreign"]) == ["other-site", "theirs"]
    assert sorted(s.name for s in local.servers()) == ["burst1", "other-site", "theirs"]
    assert ours in {s.id for s in local.servers()}


def test_a_server_booted_before_its_id_was_recorded_is_kept_and_adopted(site):
    brecca, nimbus = site
    LocalQueue(brecca).submit("projecta", seconds=600)
    services.refresh(nimbus)
    services.run_cycle(brecca)
    (vm,) = VM.objects.all()
    assert (vm.state, vm.server_id) == ("requested", "")
    # The agent asked the cloud, then died before it recorded the answer.
    request = BootRequest("burst1", "local.small", "img-burst-worker", "",
                          {TAG_KEY: services.site_tag(), VM_KEY: "burst1"})  # fmt: skip
    server = LocalCloud("nimbus").boot(request)

    report = services.sweep_orphans(nimbus, services.refresh(nimbus))
    assert report == {"deleted": [], "foreign": []}
    assert step_all() == [f"burst1: booting as {server}"]
    assert LocalCloud("nimbus").boots() == 1  # never a second server


# -- retirement, reused names --------------------------------------------------------------


def test_a_vm_an_operator_retires_is_drained_and_deleted_once_its_job_ends(site):
    brecca, _ = site
    queue = LocalQueue(brecca)
    queue.submit("projecta", seconds=1)
    tick(brecca, steps=2)
    tick(brecca)  # the queue starts the job on it
    vm = VM.objects.get(name="burst1")
    assert vm.state == "busy"

    services.retire(vm)
    assert step_all(2) == ["burst1: retiring: an operator asked",
                           "burst1: waiting for its jobs to end"]  # fmt: skip
    host = LocalService("brecca").host("burst1")
    assert (host.drained, host.reason) == (True, f"{reconcile.RETIRE_REASON} (an operator asked)")
    queue.submit("projecta", seconds=1)
    cycle = tick(brecca, steps=0)
    assert queue.pending_count() == 1  # a drained VM takes no new job: another is booted
    assert (cycle.report["supply"], cycle.boots) == ({}, 1)

    time.sleep(1.1)
    assert [s for s in step_all(3) if s.startswith("burst1")] == [
        "burst1: deleting", "burst1: the cloud deletes it", "burst1: deleted"
    ]  # fmt: skip
    vm.refresh_from_db()
    assert (vm.state, vm.end_reason) == ("deleted", "an operator asked")
    assert vm.server_id not in {s.id for s in LocalCloud("nimbus").servers()}


def test_retiring_a_vm_that_has_not_booted_deletes_it(site):
    brecca, _ = site
    LocalQueue(brecca).submit("projecta", seconds=600)
    tick(brecca, steps=0)
    services.retire(VM.objects.get(name="burst1"))
    assert step_all(2) == ["burst1: deleting: retired before it booted", "burst1: deleted"]
    assert LocalCloud("nimbus").boots() == 0


def test_a_reused_vm_name_gets_a_new_server_and_its_own_charges(burst_site):
    brecca, _ = burst_site  # idle VMs retired at once
    queue = LocalQueue(brecca)
    servers = []
    for _ in range(2):
        queue.submit("projecta", seconds=1)  # a VM of a second at least: charged
        tick(brecca, steps=2)
        assert states() == {"burst1": ("nimbus", "idle")}
        servers.append(VM.objects.get(name="burst1", state="idle").server_id)
        tick(brecca)  # the job starts
        time.sleep(1.1)
        tick(brecca, steps=5)  # idle, retiring, deleting, the delete, deleted
        assert states() == {}

    assert servers[0] != servers[1]
    charges = sorted(VMCharge.objects.values_list("vm_name", "server_id", "account"))
    assert charges == sorted([("burst1", servers[0], "projecta"), ("burst1", servers[1],
                                                                  "projecta")])  # fmt: skip
    for vm in VM.objects.all():
        charge = VMCharge.objects.get(server_id=vm.server_id)
        start, end = int(vm.requested_at.timestamp()), int(vm.ended_at.timestamp())
        assert (charge.start_ts, charge.end_ts, charge.seconds) == (start, end, end - start)


# -- allocations -----------------------------------------------------------------------------


def test_a_project_without_allocation_gets_no_vm_and_the_cycle_says_why(vm_hours, site):
    brecca, _ = site
    queue = LocalQueue(brecca)
    queue.submit("projecta", count=1, seconds=600)
    queue.submit("projectb", count=2, seconds=600)
    cycle = tick(brecca)
    assert cycle.report["demand"] == {"projecta": 1, "projectb": 2}
    assert cycle.report["boots_by_account"] == {"projecta": 1}
    assert cycle.report["refusals"] == {"allocation spent": 2}
    assert list(VM.objects.values_list("account", flat=True)) == ["projecta"]
