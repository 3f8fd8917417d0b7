"""burst.status: what the CLI, the API and the page read, with numbers worked out by hand
from the local site (nimbus: 4 instances, 8 cores, 8000 MB; 3 VMs may start at once;
flavors local.small 1 core 1000 MB and local.medium 2 cores 2000 MB)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from allotment.burst import reconcile, services, status
from allotment.burst.local import DEFAULT_IMAGE_DATA, LocalQueue, image_checksum
from allotment.burst.models import VM, Backoff, Cloud
from allotment.grants.models import AllocationPeriod
from allotment.grants.services import allocate, create_grant
from allotment.resources.models import Machine, MachineKind, Metric, Resource, ResourcePool

pytestmark = pytest.mark.django_db

SMALL_GROUP = "ProjectA|burst|1|0|||"
MEDIUM_GROUP = "ProjectB|burst|1|1500|||"


@pytest.fixture
def vm_allocation(burst_site, example):
    """A VM-hours pool on nimbus; ProjectA holds 10 VM hours in a period covering today,
    ProjectB nothing."""
    _, cloud = burst_site
    pool = ResourcePool.objects.create(
        name="VM hours", units="VM hours", metric=Metric.VM_SECONDS, unit_size=Decimal(3600)
    )
    Resource.objects.create(machine=cloud.machine, pool=pool, name="nimbus VMs", quantity=1000)
    today = date.today()
    period = AllocationPeriod.objects.create(
        name="now", start=today - timedelta(days=30), end=today + timedelta(days=300)
    )
    grant = create_grant(example.projects["ProjectA"], example.scheme, period.start, period.end,
                         awarded=period.start)  # fmt: skip
    allocate(grant, period, pool, Decimal(10))
    return pool


@pytest.fixture
def decided(burst_site, vm_allocation):
    """Five one-core jobs of ProjectA and one 1500 MB job of ProjectB, one decision taken:
    ProjectA gets 3 VMs (3 may start at once), 2 refused by the throttle; ProjectB has no
    VM hours left, so its VM is refused."""
    brecca, cloud = burst_site
    queue = LocalQueue(brecca)
    queue.submit("ProjectA", cores=1, seconds=60, count=5)
    queue.submit("ProjectB", cores=1, memory_mb=1500, seconds=60, count=1)
    services.refresh(cloud)
    services.run_cycle(brecca)
    return brecca, cloud


def other_cloud(name: str, **settings) -> Cloud:
    machine = Machine.objects.create(
        name=name, kind=MachineKind.CLOUD, category=Machine.objects.get(name="nimbus").category
    )
    return Cloud.objects.create(machine=machine, driver="local", **settings)


def test_a_cloud_row_says_its_quota_our_vms_and_the_room_the_decision_sees(decided):
    rows = status.cloud_rows()
    assert len(rows) == 1
    row = rows[0]
    assert {k: row[k] for k in ("name", "driver", "enabled", "health", "failures", "serves",
                                "priority", "tags", "default_image")} == {
        "name": "nimbus", "driver": "local", "enabled": True, "health": "healthy",
        "failures": 0, "serves": ["brecca"], "priority": 10, "tags": [],
        "default_image": "burst-worker",
    }  # fmt: skip
    assert row["price_per_core_hour"] == Decimal("0")
    assert row["quota"]["limits"] == {"instances": 4, "cores": 8, "ram_mb": 8000}
    assert row["quota"]["used"] == {"instances": 0, "cores": 0, "ram_mb": 0}
    assert row["caps"] == {"max_instances": None, "max_cores": None, "max_ram_mb": None}
    assert row["ours"] == {
        "by_state": {"requested": 3}, "instances": 3, "cores": 3, "ram_mb": 3000
    }  # fmt: skip
    # 4 - 3 instances, 8 - 3 cores, 8000 - 3000 MB; all 3 starting slots taken.
    assert row["free"] == {
        "usable": True, "instances": 1, "cores": 5, "ram_mb": 5000, "starting_slots": 0
    }  # fmt: skip
    assert row["throttles"] == {
        "max_starting": 3, "max_boots_per_cycle": 10, "idle_headroom": 0, "idle_keep": 0,
        "single_use": False, "boot_timeout": 900, "register_timeout": 900,
    }  # fmt: skip
    assert row["images"] == {"served": ["burst-worker"], "present": ["burst-worker"]}


def test_a_site_cap_below_the_quota_is_the_room_left(decided):
    _, cloud = decided
    cloud.max_cores = 4
    cloud.save()
    assert status.cloud_rows()[0]["free"]["cores"] == 1  # 4 - 3, not 8 - 3


def test_clouds_are_listed_by_priority_then_name(decided):
    other_cloud("stratus", priority=5, images=["gpu-worker"])
    other_cloud("alto", priority=10)
    rows = status.cloud_rows()
    assert [r["name"] for r in rows] == ["stratus", "alto", "nimbus"]
    stratus = rows[0]
    # Never read yet: no quota, so not usable, and its image is not present.
    assert (stratus["health"], stratus["free"]["usable"], stratus["images"]) == (
        "unknown", False, {"served": ["gpu-worker"], "present": []}
    )  # fmt: skip
    assert stratus["quota"]["limits"] == {"instances": None, "cores": None, "ram_mb": None}


def test_a_cloud_detail_has_its_flavors_images_back_offs_in_force_and_latest_vms(decided):
    _, cloud = decided
    now = timezone.now()
    Backoff.objects.create(
        cloud=cloud, flavor="local.small", image="burst-worker", failures=2,
        until=now + timedelta(minutes=4), reason="ERROR",
    )  # fmt: skip
    Backoff.objects.create(
        cloud=cloud, flavor="local.medium", image="burst-worker", until=now - timedelta(seconds=1)
    )
    data = status.cloud_detail("nimbus")
    assert data["options"] == cloud.options
    assert data["flavors"] == [
        {"name": "local.small", "ext_id": "local.small", "cores": 1, "ram_mb": 1000,
         "disk_gb": 0, "enabled": True},
        {"name": "local.medium", "ext_id": "local.medium", "cores": 2, "ram_mb": 2000,
         "disk_gb": 0, "enabled": True},
    ]  # fmt: skip
    assert data["cloud_images"] == [
        {"name": "burst-worker", "ext_id": "img-burst-worker", "status": "active",
         "checksum": image_checksum(DEFAULT_IMAGE_DATA), "size": 0},
    ]  # fmt: skip
    assert [(b["flavor"], b["failures"], b["reason"]) for b in data["backoffs"]] == [
        ("local.small", 2, "ERROR")
    ]
    assert [v["name"] for v in data["vms"]] == ["burst3", "burst2", "burst1"]


def test_an_unknown_cloud_is_refused_by_name(db):
    with pytest.raises(ValidationError) as e:
        status.cloud_detail("nowhere")
    assert e.value.messages == ['There is no cloud "nowhere".']


def test_vm_rows_are_newest_first_and_filtered(decided):
    VM.objects.filter(name="burst1").update(state="deleted")
    assert [v["name"] for v in status.vm_rows()] == ["burst3", "burst2", "burst1"]
    assert [v["name"] for v in status.vm_rows(live_only=True)] == ["burst3", "burst2"]
    assert [v["name"] for v in status.vm_rows(state="deleted")] == ["burst1"]
    assert [v["name"] for v in status.vm_rows(project="projecta", limit=2)] == [
        "burst3", "burst2"
    ]  # fmt: skip
    assert status.vm_rows(project="ProjectB") == []
    assert len(status.vm_rows(cloud="nimbus", batch="brecca")) == 3
    first = status.vm_rows(state="deleted")[0]
    assert {k: first[k] for k in ("cloud", "batch", "flavor", "image", "cores", "ram_mb",
                                  "project", "account", "group")} == {
        "cloud": "nimbus", "batch": "brecca", "flavor": "local.small", "image": "burst-worker",
        "cores": 1, "ram_mb": 1000, "project": "ProjectA", "account": "ProjectA",
        "group": SMALL_GROUP,
    }  # fmt: skip


def test_vm_filters_naming_nothing_are_refused(decided):
    for kwargs, message in (
        ({"cloud": "nowhere"}, 'There is no cloud "nowhere".'),
        ({"batch": "nowhere"}, 'There is no machine "nowhere".'),
        ({"state": "sleeping"}, '"sleeping" is not a VM state (one of: requested, booting, '
                                "idle, busy, retiring, deleting, deleted, abandoned, failed)."),
    ):  # fmt: skip
        with pytest.raises(ValidationError) as e:
            status.vm_rows(**kwargs)
        assert e.value.messages == [message]


def test_the_vm_limit_is_capped(decided, monkeypatch):
    monkeypatch.setattr(status, "VM_LIMIT_MAX", 2)
    assert len(status.vm_rows(limit=10_000)) == 2


def test_a_vm_shown_by_name_is_the_live_one_and_has_its_history(decided):
    brecca, cloud = decided
    for _ in range(2):  # boot, then registered (the local cloud boots at once)
        for vm in reconcile.targets():
            reconcile.step(vm)
    old = VM.objects.create(
        name="burst1", cloud=cloud, batch=brecca, image="burst-worker", cores=1, ram_mb=1000,
        state="deleted", requested_at=timezone.now() + timedelta(hours=1),
    )  # fmt: skip
    shown = status.vm_detail("burst1")
    assert (shown["state"], shown["id"] != old.pk) == ("idle", True)
    assert [(h["from"], h["to"], h["event"]) for h in shown["history"]] == [
        ("booting", "idle", "registered"), ("requested", "booting", "boot")
    ]  # fmt: skip
    assert (shown["deadline"], shown["actions"]) == (None, [])
    assert status.vm_detail(str(old.pk))["state"] == "deleted"
    VM.objects.filter(name="burst1").update(state="deleted")
    assert status.vm_detail("burst1")["id"] == old.pk  # no live one: the latest


def test_an_unknown_vm_is_refused_by_name_or_id(db):
    for key, message in (("burst9", 'There is no VM named "burst9".'),
                         ("424242", "There is no VM with id 424242.")):  # fmt: skip
        with pytest.raises(ValidationError) as e:
            status.vm_detail(key)
        assert e.value.messages == [message]


def test_burst_status_shows_the_last_decision_per_cloud_and_project(decided):
    data = status.burst_status()
    assert [b["batch"] for b in data["batches"]] == ["brecca"]
    brecca = data["batches"][0]
    assert brecca["partitions"] == ["burst"]
    cycle = brecca["last_cycle"]
    assert {k: cycle[k] for k in ("idle_jobs", "groups", "boots", "boots_by_cloud",
                                  "boots_by_account", "refusals", "shortfall",
                                  "shortfall_vms", "demand", "supply", "running_jobs")} == {
        "idle_jobs": 6, "groups": 2, "boots": 3, "boots_by_cloud": {"nimbus": 3},
        "boots_by_account": {"ProjectA": 3},
        "refusals": {"allocation spent": 1, "throttle: VMs starting": 2},
        "shortfall": {SMALL_GROUP: 5, MEDIUM_GROUP: 1}, "shortfall_vms": 6,
        "demand": {"ProjectA": 5, "ProjectB": 1}, "supply": {}, "running_jobs": 0,
    }  # fmt: skip
    [nimbus] = brecca["clouds"]
    assert {k: nimbus[k] for k in ("name", "health", "live", "live_vms", "boots", "supply")} == {
        "name": "nimbus", "health": "healthy", "live": {"requested": 3}, "live_vms": 3,
        "boots": 3, "supply": 0,
    }  # fmt: skip
    assert nimbus["free"]["instances"] == 1
    assert brecca["projects"] == [
        {"account": "ProjectA", "idle_jobs": 5, "live_vms": 3,
         "vm_hours_allocated": Decimal(10), "vm_hours_used": Decimal(0),
         "remaining": Decimal(10)},
        {"account": "ProjectB", "idle_jobs": 1, "live_vms": 0, "vm_hours_allocated": None,
         "vm_hours_used": None, "remaining": Decimal(0)},
    ]  # fmt: skip


def test_burst_status_of_one_machine_and_refusals(decided):
    assert [b["batch"] for b in status.burst_status("brecca")["batches"]] == ["brecca"]
    for name, message in (("nowhere", 'There is no machine "nowhere".'),
                          ("tango", "Machine tango bursts into no cloud.")):  # fmt: skip
        with pytest.raises(ValidationError) as e:
            status.burst_status(name)
        assert e.value.messages == [message]


def test_a_machine_never_decided_has_no_last_cycle(burst_site):
    [brecca] = status.burst_status()["batches"]
    assert (brecca["last_cycle"], brecca["projects"]) == (None, [])


def test_vms_over_time_counts_each_cloud_at_each_instant_in_two_queries(
    burst_site, django_assert_num_queries
):
    brecca, nimbus = burst_site
    stratus = other_cloud("stratus")
    now = timezone.now()

    def vm(name, cloud, begun_h, ended_h=None, state="idle", changed_h=0.0):
        VM.objects.create(
            name=name, cloud=cloud, batch=brecca, image="burst-worker", cores=1, ram_mb=1000,
            state=state, requested_at=now - timedelta(hours=begun_h),
            ended_at=None if ended_h is None else now - timedelta(hours=ended_h),
            state_changed_at=now - timedelta(hours=changed_h),
        )  # fmt: skip

    # Instants: 4 h, 3 h, 2 h, 1 h ago and now.
    vm("a", nimbus, 5, 2.5, state="deleted")  # alive at -4 h and -3 h
    vm("b", nimbus, 1.5)  # alive at -1 h and now
    vm("c", stratus, 3.5, state="deleted", changed_h=0.5)  # no end time: ended when deleted
    vm("d", nimbus, 10, 6, state="deleted")  # before the window
    with django_assert_num_queries(2):
        data = status.vms_over_time(hours=4, points=5)
    assert data["series"] == {"nimbus": [1, 1, 0, 1, 1], "stratus": [0, 1, 1, 1, 0]}
    assert len(data["labels"]) == 5
    assert data["labels"][0] < data["labels"][-1]


def test_vms_over_time_caps_its_window_and_points(burst_site):
    data = status.vms_over_time(hours=10_000, points=10_000)
    assert len(data["labels"]) == 500
    first, last = (timezone.datetime.fromisoformat(t) for t in (data["labels"][0],
                                                               data["labels"][-1]))  # fmt: skip
    assert last - first == timedelta(days=31)
    assert data["series"] == {"nimbus": [0] * 500}
