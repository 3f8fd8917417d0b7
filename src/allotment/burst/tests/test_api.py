"""/api/clouds/, /api/vms/, /api/burst/status/ and /api/burst/vms-over-time/: site
administrators only; the answers are burst.status's dicts; the writes go through
catalog.set_cloud and services.retire, refused by name and changing nothing then.

The site (`burst_rows`): brecca bursts into nimbus (healthy, quota 4 VMs, 8 cores, 8000 MB)
and stratus (unhealthy, priority 20). On nimbus: burst1 idle (ProjectA, 2 h old, booted
and registered through core.fsm), burst2 busy (ProjectA, 1 h), burst3 booting (ProjectB,
10 min, local.medium), burst4 deleted (ProjectB, from 5 h to 3 h ago). The last cycle saw
4 idle jobs and booted one VM; two were refused for want of room.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from allotment.api import tokens
from allotment.burst.models import (
    VM,
    Backoff,
    Cloud,
    CloudImage,
    CloudState,
    Cycle,
    Flavor,
    Health,
)
from allotment.burst.states import VMStates
from allotment.core import fsm
from allotment.grants.models import AllocationPeriod
from allotment.grants.services import allocate, create_grant
from allotment.people.models import Person
from allotment.projects.models import Project
from allotment.resources.models import Machine, MachineKind, Metric, Resource, ResourcePool

pytestmark = pytest.mark.django_db

UNHEALTHY = "local cloud stratus: quota: not answering (it is down)"


def _vm(name, cloud, brecca, *, state, ago, flavor, project, **fields) -> VM:
    return VM.objects.create(
        name=name, cloud=cloud, batch=brecca, state=state, flavor=flavor,
        image="burst-worker", cores=flavor.cores, ram_mb=flavor.ram_mb,
        project=Project.objects.get(pid=project), account=project.lower(),
        requested_at=timezone.now() - ago, **fields,
    )  # fmt: skip


@pytest.fixture
def burst_rows(burst_site):
    """The site above, written straight into the tables the agent's loops write."""
    brecca, nimbus = burst_site
    now = timezone.now()
    CloudState.objects.create(
        cloud=nimbus, health=Health.HEALTHY, last_ok_at=now, quota_read_at=now,
        quota={"instances": 4, "cores": 8, "ram_mb": 8000, "used_instances": 3,
               "used_cores": 4, "used_ram_mb": 4000,
               "others": {"instances": 0, "cores": 0, "ram_mb": 0}},
    )  # fmt: skip
    small = Flavor.objects.create(cloud=nimbus, name="local.small", ext_id="f1", cores=1,
                                  ram_mb=1000)  # fmt: skip
    medium = Flavor.objects.create(cloud=nimbus, name="local.medium", ext_id="f2", cores=2,
                                   ram_mb=2000)  # fmt: skip
    CloudImage.objects.create(
        cloud=nimbus, name="burst-worker", ext_id="img-burst-worker", status="active",
        checksums={"sha256": "ab" * 32}, size=42,
    )  # fmt: skip
    Backoff.objects.create(
        cloud=nimbus, flavor="local.medium", image="old-image", failures=2,
        until=now + timedelta(minutes=4), reason="boot failed: no host",
    )  # fmt: skip
    stratus_machine = Machine.objects.create(
        name="stratus", kind=MachineKind.CLOUD, category=nimbus.machine.category
    )
    stratus = Cloud.objects.create(machine=stratus_machine, priority=20,
                                   default_image="burst-worker")  # fmt: skip
    stratus.serves.add(brecca)
    CloudState.objects.create(cloud=stratus, health=Health.UNHEALTHY, health_reason=UNHEALTHY,
                              failures=3)  # fmt: skip

    burst1 = _vm("burst1", nimbus, brecca, state="requested", ago=timedelta(hours=2),
                 flavor=small, project="ProjectA")  # fmt: skip
    fsm.move(burst1, VMStates.boot, reason="server s-1 asked")
    fsm.move(burst1, VMStates.registered, reason="burst1 is up in brecca")
    _vm("burst2", nimbus, brecca, state="busy", ago=timedelta(hours=1), flavor=small,
        project="ProjectA", server_id="s-2")  # fmt: skip
    _vm("burst3", nimbus, brecca, state="booting", ago=timedelta(minutes=10), flavor=medium,
        project="ProjectB", server_id="s-3")  # fmt: skip
    _vm("burst4", nimbus, brecca, state="deleted", ago=timedelta(hours=5), flavor=small,
        project="ProjectB", ended_at=now - timedelta(hours=3), end_reason="idle")  # fmt: skip
    Cycle.objects.create(
        batch=brecca, seconds=0.25, idle_jobs=4, groups=2, boots=1,
        report={"demand": {"projecta": 3, "projectb": 1}, "shortfall": {"projecta|1|1000": 2},
                "boots": {"nimbus": 1}, "boots_by_account": {"projectb": 1},
                "refusals": {"no room on any cloud": 2}, "supply": {"nimbus": 2},
                "running_jobs": 1},
    )  # fmt: skip
    return brecca, nimbus, stratus


@pytest.fixture
def vm_pool(burst_rows, example):
    """A VM-hours pool on nimbus and this year's 10 hours of it for ProjectA (ProjectB has
    none)."""
    _, nimbus, _ = burst_rows
    pool = ResourcePool.objects.create(
        name="VM hours", units="VM hours", metric=Metric.VM_SECONDS, unit_size=Decimal(3600)
    )
    Resource.objects.create(machine=nimbus.machine, pool=pool, name="nimbus VMs", quantity=100)
    year = date.today().year
    period = AllocationPeriod.objects.create(
        name=f"vm-{year}", start=date(year, 1, 1), end=date(year, 12, 31)
    )
    grant = create_grant(example.projects["ProjectA"], example.scheme, period.start, period.end,
                         awarded=period.start)  # fmt: skip
    allocate(grant, period, pool, Decimal(10))
    return pool


def vm_id(name: str) -> int:
    return VM.objects.get(name=name).pk


@pytest.fixture
def client_for(example):
    """client_for("bob") is an APIClient sending a fresh token of bob's ("admin": a site
    administrator's)."""

    def make(username: str) -> APIClient:
        if username == "admin":
            person = Person.objects.create_superuser("burst-admin", "burst-admin@example.org")
        else:
            person = Person.objects.get(username=username)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.issue(person).token}")
        return client

    return make


@pytest.fixture
def admin(client_for) -> APIClient:
    return client_for("admin")


def ok(response) -> dict:
    assert response.status_code == 200, response.json()
    return response.json()


def names(response) -> list[str]:
    return [row["name"] for row in ok(response)["results"]]


# Clouds ----------------------------------------------------------------------------------


def test_the_clouds_are_listed_with_health_quota_and_the_room_the_decision_sees(admin, burst_rows):
    body = ok(admin.get("/api/clouds/"))
    assert body["count"] == 2
    nimbus, stratus = body["results"]
    assert (nimbus["name"], nimbus["driver"], nimbus["health"], nimbus["serves"]) == (
        "nimbus", "local", "healthy", ["brecca"],
    )  # fmt: skip
    assert nimbus["quota"]["limits"] == {"instances": 4, "cores": 8, "ram_mb": 8000}
    assert nimbus["quota"]["used"] == {"instances": 3, "cores": 4, "ram_mb": 4000}
    # Ours: burst1 (1 core), burst2 (1 core), burst3 (2 cores); burst4 is deleted.
    assert nimbus["ours"] == {
        "by_state": {"booting": 1, "busy": 1, "idle": 1}, "instances": 3, "cores": 4,
        "ram_mb": 4000,
    }  # fmt: skip
    # Room: 4 - 3 VMs, 8 - 4 cores, 8000 - 4000 MB; 3 starting at once less burst3.
    assert nimbus["free"] == {
        "usable": True, "instances": 1, "cores": 4, "ram_mb": 4000, "starting_slots": 2,
    }  # fmt: skip
    assert nimbus["images"] == {"served": ["burst-worker"], "present": ["burst-worker"]}
    assert (stratus["name"], stratus["health"], stratus["health_reason"]) == (
        "stratus", "unhealthy", UNHEALTHY,
    )  # fmt: skip
    assert (stratus["priority"], stratus["failures"], stratus["free"]["usable"]) == (20, 3, False)
    assert ok(admin.get("/api/clouds/", {"limit": 1, "offset": 1}))["results"][0]["name"] == (
        "stratus"
    )


def test_a_cloud_shows_its_flavors_images_backoffs_and_latest_vms(admin, burst_rows):
    body = ok(admin.get("/api/clouds/nimbus/"))
    assert [(f["name"], f["cores"], f["ram_mb"]) for f in body["flavors"]] == [
        ("local.small", 1, 1000), ("local.medium", 2, 2000),
    ]  # fmt: skip
    assert [(i["name"], i["status"], i["size"]) for i in body["cloud_images"]] == [
        ("burst-worker", "active", 42)
    ]
    assert [(b["flavor"], b["image"], b["failures"], b["reason"]) for b in body["backoffs"]] == [
        ("local.medium", "old-image", 2, "boot failed: no host")
    ]
    assert [vm["name"] for vm in body["vms"]] == ["burst3", "burst2", "burst1", "burst4"]
    assert admin.get("/api/clouds/cumulus/").status_code == 404


def test_patch_changes_the_sites_settings_through_the_catalog(admin, burst_rows):
    body = ok(admin.patch(
        "/api/clouds/nimbus/",
        {"enabled": False, "priority": 5, "price_per_core_hour": "0.125", "max_cores": 6,
         "max_instances": None, "idle_keep": 120, "images": ["burst-worker", "gpu-worker"],
         "tags": ["data:vospace"], "single_use": True},
        format="json",
    ))  # fmt: skip
    cloud = Cloud.objects.get(machine__name="nimbus")
    assert cloud.single_use and body["throttles"]["single_use"] is True
    assert (cloud.enabled, cloud.priority, cloud.price_per_core_hour, cloud.max_cores,
            cloud.max_instances, cloud.idle_keep, cloud.images, cloud.tags) == (
        False, 5, Decimal("0.125"), 6, None, 120, ["burst-worker", "gpu-worker"],
        ["data:vospace"],
    )  # fmt: skip
    # The answer is the cloud as it is now: a disabled cloud has no room for the decision;
    # 6 cores of the site's, 4 of them ours, leave 2.
    assert (body["enabled"], body["priority"], body["free"]["usable"], body["free"]["cores"]) == (
        False, 5, False, 2,
    )  # fmt: skip
    assert body["images"] == {"served": ["burst-worker", "gpu-worker"],
                              "present": ["burst-worker"]}  # fmt: skip


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"driver": "ec2"}, "driver", "read-only here: the driver is chosen when"),
        ({"options": {"cloud": "x"}}, "options", "read-only here"),
        ({"serves": ["brecca"]}, "serves", "read-only here"),
        ({"name": "cumulus"}, "name", "read-only here"),
        ({"health": "healthy", "priority": 1}, "health", "is not a setting of a cloud"),
        ({"quota": {}}, "quota", "settable: enabled, priority, price_per_core_hour"),
        ({"priority": -1}, "priority", "greater than or equal to 0"),
        ({"boot_timeout": 0}, "boot_timeout", 'Cloud "nimbus": boot_timeout must be a whole'),
        ({"tags": "gpu"}, "tags", "list"),
        ({}, "non_field_errors", "at least one setting"),
    ],
)
def test_patch_refuses_what_is_not_a_setting_by_name_and_changes_nothing(
    admin, burst_rows, body, field, words
):
    before = Cloud.objects.values().get(machine__name="nimbus")
    response = admin.patch("/api/clouds/nimbus/", body, format="json")
    assert response.status_code == 400
    assert words in " ".join(response.json()["errors"][field])
    assert Cloud.objects.values().get(machine__name="nimbus") == before


# VMs -------------------------------------------------------------------------------------


def test_the_vms_are_listed_newest_first_and_paged(admin, burst_rows):
    assert names(admin.get("/api/vms/")) == ["burst3", "burst2", "burst1", "burst4"]
    page = ok(admin.get("/api/vms/", {"limit": 2, "offset": 2}))
    assert (page["count"], [r["name"] for r in page["results"]]) == (4, ["burst1", "burst4"])
    row = ok(admin.get("/api/vms/", {"state": "booting"}))["results"][0]
    assert {k: row[k] for k in ("name", "cloud", "batch", "state", "flavor", "cores", "ram_mb",
                                "project", "account", "server_id")} == {
        "name": "burst3", "cloud": "nimbus", "batch": "brecca", "state": "booting",
        "flavor": "local.medium", "cores": 2, "ram_mb": 2000, "project": "ProjectB",
        "account": "projectb", "server_id": "s-3",
    }  # fmt: skip
    assert "history" not in row


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"cloud": "nimbus"}, ["burst3", "burst2", "burst1", "burst4"]),
        ({"cloud": "stratus"}, []),
        ({"cloud": "cumulus"}, []),  # names nothing: lists nothing
        ({"batch": "brecca", "state": "idle"}, ["burst1"]),
        ({"batch": "tango"}, []),
        ({"project": "ProjectA"}, ["burst2", "burst1"]),
        ({"project": "projectb"}, ["burst3", "burst4"]),
        ({"live": "true"}, ["burst3", "burst2", "burst1"]),
        # Trying to widen: false is no filter at all, never "also the others".
        ({"state": "idle", "live": "false"}, ["burst1"]),
        ({"cloud": ["stratus", "nimbus"], "state": "deleted"}, ["burst4"]),
        ({"project": "%"}, []),
        ({"project": "ProjectA", "state": "deleted"}, []),
    ],
)
def test_each_vm_filter_only_narrows(admin, burst_rows, query, expected):
    assert names(admin.get("/api/vms/", query)) == expected


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"state": "asleep"}, "state"),
        ({"state": "idle,busy"}, "state"),
        ({"live": "maybe"}, "live"),
    ],
)
def test_a_filter_that_is_not_one_is_a_400_naming_it(admin, burst_rows, query, field):
    response = admin.get("/api/vms/", query)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


def test_a_huge_page_is_cut_at_the_ceiling(admin, burst_rows):
    body = ok(admin.get("/api/vms/", {"limit": 10**9}))
    assert (body["count"], len(body["results"]), body["next"]) == (4, 4, None)


def test_a_vm_shows_its_history_by_id_or_by_name(admin, burst_rows):
    body = ok(admin.get(f"/api/vms/{vm_id('burst1')}/"))
    assert (body["name"], body["state"], body["project"], body["actions"]) == (
        "burst1", "idle", "ProjectA", [],
    )  # fmt: skip
    assert [(h["from"], h["to"], h["event"], h["reason"]) for h in body["history"]] == [
        ("booting", "idle", "registered", "burst1 is up in brecca"),
        ("requested", "booting", "boot", "server s-1 asked"),
    ]  # newest first
    assert ok(admin.get("/api/vms/burst1/"))["id"] == vm_id("burst1")
    assert admin.get("/api/vms/999999/").status_code == 404
    assert admin.get("/api/vms/burst9/").status_code == 404


def test_retire_asks_for_it_once_and_refuses_a_deleted_vm(admin, burst_rows):
    body = ok(admin.post(f"/api/vms/{vm_id('burst2')}/retire/"))
    assert (body["name"], body["state"], body["retire_asked"]) == ("burst2", "busy", True)
    assert VM.objects.get(name="burst2").retire_asked is True
    assert ok(admin.post("/api/vms/burst2/retire/"))["retire_asked"] is True  # again: the same
    response = admin.post(f"/api/vms/{vm_id('burst4')}/retire/")
    assert response.status_code == 400
    assert response.json()["errors"]["non_field_errors"] == [
        f"VM burst4 (id {vm_id('burst4')}) is deleted already: there is nothing to retire."
    ]
    assert VM.objects.get(name="burst4").retire_asked is False


# Burst as a whole ------------------------------------------------------------------------


def test_status_gives_the_last_cycle_and_demand_against_supply(admin, burst_rows, vm_pool):
    body = ok(admin.get("/api/burst/status/"))
    (brecca,) = body["batches"]
    assert (brecca["batch"], brecca["partitions"]) == ("brecca", ["burst"])
    cycle = brecca["last_cycle"]
    assert (cycle["idle_jobs"], cycle["groups"], cycle["boots"], cycle["shortfall_vms"]) == (
        4, 2, 1, 2,
    )  # fmt: skip
    assert cycle["refusals"] == {"no room on any cloud": 2}
    assert [(c["name"], c["health"], c["live_vms"], c["supply"], c["boots"])
            for c in brecca["clouds"]] == [
        ("nimbus", "healthy", 3, 2, 1), ("stratus", "unhealthy", 0, 0, 0),
    ]  # fmt: skip
    assert brecca["clouds"][1]["health_reason"] == UNHEALTHY
    # ProjectA has 10 VM hours on nimbus's pool, none used; ProjectB has no allocation.
    assert [
        (p["account"], p["idle_jobs"], p["live_vms"], p["vm_hours_allocated"], p["remaining"])
        for p in brecca["projects"]
    ] == [("projecta", 3, 2, 10.0, 10.0), ("projectb", 1, 1, None, 0.0)]
    assert ok(admin.get("/api/burst/status/", {"batch": "brecca"}))["batches"][0]["batch"] == (
        "brecca"
    )
    refused = admin.get("/api/burst/status/", {"batch": "tango"})
    assert refused.status_code == 400
    assert refused.json()["errors"]["non_field_errors"] == ["Machine tango bursts into no cloud."]


def test_vms_over_time_counts_each_cloud_at_each_instant(admin, burst_rows):
    body = ok(admin.get("/api/burst/vms-over-time/", {"hours": 6, "points": 7}))
    assert (body["hours"], len(body["labels"])) == (6, 7)
    # Hours from now: -6 -5 -4 -3 -2 -1 0. burst4 lived from -5 to -3 (not at -3), burst1
    # from -2, burst2 from -1, burst3 from 10 minutes ago.
    assert body["series"] == {"nimbus": [0, 1, 1, 0, 1, 2, 3], "stratus": [0] * 7}


def test_a_huge_window_is_clamped_and_a_bad_one_refused(admin, burst_rows):
    body = ok(admin.get("/api/burst/vms-over-time/", {"hours": 10**12, "points": 10**6}))
    assert (body["hours"], len(body["labels"]), len(body["series"]["nimbus"])) == (744, 500, 500)
    for query in ({"hours": "a day"}, {"hours": 0}, {"points": 1}):
        response = admin.get("/api/burst/vms-over-time/", query)
        assert response.status_code == 400
        assert list(response.json()["errors"]) == list(query)


# Who may ---------------------------------------------------------------------------------

ENDPOINTS = [
    ("get", "/api/clouds/"),
    ("get", "/api/clouds/nimbus/"),
    ("patch", "/api/clouds/nimbus/"),
    ("get", "/api/vms/"),
    ("get", "/api/vms/burst2/"),
    ("post", "/api/vms/burst2/retire/"),
    ("get", "/api/burst/status/"),
    ("get", "/api/burst/vms-over-time/"),
]


@pytest.mark.parametrize("username", ["alice", "chen", "bob", "eve"])
def test_anyone_but_a_site_administrator_is_refused_and_changes_nothing(
    client_for, burst_rows, username
):
    client = client_for(username)
    for method, url in ENDPOINTS:
        response = getattr(client, method)(url, {"priority": 1}, format="json")
        assert response.status_code == 403, (method, url)
        assert response.json() == {
            "detail": "Only site administrators may see or change burst (clouds and VMs)."
        }
    assert Cloud.objects.get(machine__name="nimbus").priority == 10
    assert VM.objects.get(name="burst2").retire_asked is False


def test_anonymous_is_asked_to_sign_in(burst_rows):
    for method, url in ENDPOINTS:
        assert getattr(APIClient(), method)(url).status_code == 401, (method, url)


def test_the_endpoints_are_in_the_schema(burst_rows):
    paths = APIClient().get("/api/openapi.json").json()["paths"]
    for path in (
        "/api/clouds/",
        "/api/clouds/{name}/",
        "/api/vms/",
        "/api/vms/{key}/",
        "/api/vms/{key}/retire/",
        "/api/burst/status/",
        "/api/burst/vms-over-time/",
    ):
        assert path in paths, path  # fmt: skip
    assert set(paths["/api/clouds/{name}/"]) == {"get", "patch"}
    assert {p["name"] for p in paths["/api/vms/"]["get"]["parameters"]} >= {
        "cloud", "state", "batch", "project", "live", "limit", "offset",
    }  # fmt: skip
