"""Burst on /metrics and the health part of the burst page, from rows written straight into
the tables the agent's loops write, at a fixed instant NOW.

The site (`burst_state`): brecca bursts into nimbus (healthy; quota 4 VMs, 8 cores,
8000 MB, 3 VMs, 4 cores and 4000 MB used; boot and registration timeouts 900 s) and
stratus (unhealthy: 5 failed calls; its quota never read); cumulus (disabled, never
asked) serves quill, so quill is not a bursting machine; stratus also serves kilo, which
was never decided for.

On nimbus: idle-1 idle and busy-1 busy (both joined), slow-1 booting for 20 min without
the cloud running it (stuck: past 900 s and the minute's grace), late-1 booting 20 min
but running 5 min (waiting to join within 900 s: not stuck), new-1 requested 1 min ago,
fail-1 deleted before joining ("boot failed"), early-1 retired by an operator before it
booted (no failure), old-1 deleted after it joined. On stratus: gone-1 abandoned.
Back-offs on nimbus: local.medium/burst-worker 2 failures until NOW+4 min; local.big/x 4
failures, expired a minute ago. brecca's last decision, 2 min old (an older one an hour
before): 7 idle jobs in 3 groups, 3 running, 4 VMs short (projecta 3, projectb 1),
refused: 2 by the starting throttle, 1 for a spent allocation.
"""

# The fixtures are imported, and each test naming one looks to ruff like a redefinition.
# ruff: noqa: F811

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from allotment.agent.models import AgentProcess
from allotment.burst.models import VM, Backoff, Cloud, CloudState, Cycle, Health
from allotment.burst.states import VMStates
from allotment.burst.tests.conftest import (  # noqa: F401
    burst_site,
    fresh_server_listings,
    vm_hours,
)
from allotment.grants import services as grants
from allotment.grants.models import AllocationPool
from allotment.ops import burst_metrics
from allotment.projects.models import Project
from allotment.resources.models import Machine, MachineKind

from .conftest import scrape, value

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)
STRATUS_DOWN = "local cloud stratus: servers: connection refused"


def ago(**span) -> timezone.datetime:
    return NOW - timedelta(**span)


def _vm(name: str, cloud: Cloud, batch: Machine, state: str, requested: timedelta, **fields):
    return VM.objects.create(
        name=name, cloud=cloud, batch=batch, state=state, image="burst-worker", cores=1,
        ram_mb=1000, account=fields.pop("account", "projecta"), requested_at=NOW - requested,
        state_changed_at=fields.pop("changed", NOW - requested), **fields,
    )  # fmt: skip


def _cloud(name: str, **settings) -> Cloud:
    category = Machine.objects.get(name="nimbus").category
    machine = Machine.objects.create(name=name, kind=MachineKind.CLOUD, category=category)
    return Cloud.objects.create(machine=machine, driver="local", **settings)


def _batch(name: str) -> Machine:
    brecca = Machine.objects.get(name="brecca")
    return Machine.objects.create(name=name, kind=MachineKind.BATCH, category=brecca.category)


@pytest.fixture
def at_now(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)


@pytest.fixture
def burst_state(burst_site, at_now):
    brecca, nimbus = burst_site
    CloudState.objects.create(
        cloud=nimbus, health=Health.HEALTHY, last_ok_at=ago(seconds=30), quota_read_at=ago(
            seconds=30), health_changed_at=ago(hours=3),
        quota={"instances": 4, "cores": 8, "ram_mb": 8000, "used_instances": 3,
               "used_cores": 4, "used_ram_mb": 4000},
    )  # fmt: skip
    stratus = _cloud("stratus", priority=20)
    stratus.serves.add(brecca, _batch("kilo"))
    CloudState.objects.create(
        cloud=stratus, health=Health.UNHEALTHY, health_reason=STRATUS_DOWN, failures=5,
        health_changed_at=ago(minutes=10), last_ok_at=ago(minutes=12),
    )  # fmt: skip
    _cloud("cumulus", enabled=False).serves.add(_batch("quill"))

    _vm("idle-1", nimbus, brecca, "idle", timedelta(hours=2), registered_at=ago(hours=2))
    _vm("busy-1", nimbus, brecca, "busy", timedelta(hours=1), registered_at=ago(minutes=55))
    _vm("slow-1", nimbus, brecca, "booting", timedelta(minutes=21), changed=ago(minutes=20))
    _vm("late-1", nimbus, brecca, "booting", timedelta(minutes=21), changed=ago(minutes=20),
        active_at=ago(minutes=5))  # fmt: skip
    _vm("new-1", nimbus, brecca, "requested", timedelta(minutes=1), account="projectb")
    _vm("fail-1", nimbus, brecca, "deleted", timedelta(hours=3), end_reason="boot failed: ERROR")
    _vm("early-1", nimbus, brecca, "deleted", timedelta(hours=3), retire_asked=True,
        end_reason="retired before it booted")  # fmt: skip
    _vm("old-1", nimbus, brecca, "deleted", timedelta(hours=4), registered_at=ago(hours=4),
        end_reason="idle for 600 s")  # fmt: skip
    _vm("gone-1", stratus, brecca, "abandoned", timedelta(minutes=30))

    Backoff.objects.create(cloud=nimbus, flavor="local.medium", image="burst-worker",
                           failures=2, until=NOW + timedelta(minutes=4),
                           reason="boot failed: no host")  # fmt: skip
    Backoff.objects.create(cloud=nimbus, flavor="local.big", image="x", failures=4,
                           until=ago(minutes=1), reason="not running after 900 s")  # fmt: skip

    Cycle.objects.create(batch=brecca, at=ago(hours=1), idle_jobs=99, groups=9)
    Cycle.objects.create(
        batch=brecca, at=ago(minutes=2), seconds=0.25, idle_jobs=7, groups=3, boots=1,
        report={
            "demand": {"projecta": 5, "projectb": 2},
            "shortfall": {"projecta|burst|1|0|||": 2, "projecta|burst|2|0|||": 1,
                          "projectb|burst|1|1500|||": 1},
            "refusals": {"throttle: VMs starting": 2, "allocation spent": 1},
            "running_jobs": 3,
        },
    )  # fmt: skip
    return brecca, nimbus, stratus


@pytest.fixture
def vm_hours_used(burst_state, vm_hours, monkeypatch):
    """burst's VM-hours pool on nimbus (ProjectA holds 10 VM hours this period; ProjectB,
    with idle jobs, none) with 9.5 of ProjectA's hours used."""
    pool, _ = vm_hours
    mine = AllocationPool.objects.get(project__pid="ProjectA", resource_pool=pool)

    def charged(pool_ids):
        return {mine.pk: Decimal("9.5")} if mine.pk in pool_ids else {}

    monkeypatch.setattr(grants, "_usage_sources", [*grants._usage_sources, charged])
    return pool


def samples_of(samples: dict, name: str) -> dict:
    """{label values as a sorted tuple of pairs: value} of one sample name."""
    return {tuple(sorted(labels)): v for (sample, labels), v in samples.items() if sample == name}


# -- clouds ------------------------------------------------------------------------------


def test_each_cloud_says_whether_it_is_enabled_healthy_and_since_when(client, burst_state):
    s = scrape(client)
    assert value(s, "allotment_burst_up") == 1
    assert samples_of(s, "allotment_burst_cloud_enabled") == {
        (("cloud", "cumulus"),): 0, (("cloud", "nimbus"),): 1, (("cloud", "stratus"),): 1,
    }  # fmt: skip
    assert samples_of(s, "allotment_burst_cloud_healthy") == {
        (("cloud", "cumulus"),): 0, (("cloud", "nimbus"),): 1, (("cloud", "stratus"),): 0,
    }  # fmt: skip
    unhealthy = {
        dict(k)["cloud"]: v
        for k, v in samples_of(s, "allotment_burst_cloud_health").items()
        if dict(k)["health"] == "unhealthy"
    }
    assert unhealthy == {"cumulus": 0, "nimbus": 0, "stratus": 1}
    assert value(s, "allotment_burst_cloud_health", cloud="cumulus", health="unknown") == 1
    assert value(s, "allotment_burst_cloud_consecutive_failures", cloud="stratus") == 5
    assert value(s, "allotment_burst_cloud_consecutive_failures", cloud="nimbus") == 0
    last_ok = "allotment_burst_cloud_last_ok_timestamp_seconds"
    assert value(s, last_ok, cloud="stratus") == ago(minutes=12).timestamp()
    assert value(s, last_ok, cloud="cumulus") == 0  # never
    changed = "allotment_burst_cloud_health_changed_timestamp_seconds"
    assert value(s, changed, cloud="stratus") == ago(minutes=10).timestamp()


def test_a_clouds_quota_is_its_limits_and_use_as_it_last_said_them(client, burst_state):
    s = scrape(client)
    limits = samples_of(s, "allotment_burst_cloud_quota_limit")
    assert limits == {
        (("cloud", "nimbus"), ("resource", "cores")): 8,
        (("cloud", "nimbus"), ("resource", "instances")): 4,
        (("cloud", "nimbus"), ("resource", "ram_mb")): 8000,
    }  # stratus' quota was never read: no sample, not a limit of 0
    assert samples_of(s, "allotment_burst_cloud_quota_used") == {
        (("cloud", "nimbus"), ("resource", "cores")): 4,
        (("cloud", "nimbus"), ("resource", "instances")): 3,
        (("cloud", "nimbus"), ("resource", "ram_mb")): 4000,
    }
    read = "allotment_burst_cloud_quota_read_timestamp_seconds"
    assert value(s, read, cloud="nimbus") == ago(seconds=30).timestamp()


def test_back_offs_in_force_and_their_longest_streak_are_reported(client, burst_state):
    s = scrape(client)
    assert value(s, "allotment_burst_backoffs", cloud="nimbus") == 1  # the other expired
    assert value(s, "allotment_burst_boot_failures_in_a_row", cloud="nimbus") == 2
    assert value(s, "allotment_burst_backoffs", cloud="stratus") == 0
    assert samples_of(s, "allotment_burst_boot_failures_in_a_row")[(("cloud", "stratus"),)] == 0


# -- VMs ---------------------------------------------------------------------------------


def test_vms_are_counted_by_cloud_and_state_with_every_state_present(client, burst_state):
    by_state = {
        dict(k)["state"]: v
        for k, v in samples_of(scrape(client), "allotment_burst_vms").items()
        if dict(k)["cloud"] == "nimbus"
    }
    assert by_state == dict.fromkeys(VMStates.states, 0) | {
        "requested": 1, "booting": 2, "idle": 1, "busy": 1, "deleted": 3,
    }  # fmt: skip


def test_boots_joins_and_boot_failures_are_counted_from_the_vm_rows(client, burst_state):
    s = scrape(client)
    assert value(s, "allotment_burst_vm_boots_total", cloud="nimbus") == 8
    assert value(s, "allotment_burst_vm_registrations_total", cloud="nimbus") == 3
    # fail-1 only: early-1 was an operator's retirement, old-1 had joined
    assert value(s, "allotment_burst_vm_boot_failures_total", cloud="nimbus") == 1
    assert value(s, "allotment_burst_vm_boots_total", cloud="stratus") == 1
    assert value(s, "allotment_burst_vm_boot_failures_total", cloud="stratus") == 0
    assert samples_of(s, "allotment_burst_vm_boots_total")[(("cloud", "cumulus"),)] == 0


def test_a_vm_past_its_clouds_boot_or_registration_deadline_is_stuck(client, burst_state):
    s = scrape(client)
    assert value(s, "allotment_burst_vms_stuck_starting", cloud="nimbus") == 1  # slow-1
    oldest = "allotment_burst_oldest_starting_vm_age_seconds"
    assert value(s, oldest, cloud="nimbus") == 21 * 60
    assert samples_of(s, oldest)[(("cloud", "stratus"),)] == 0  # gone-1 is abandoned
    # late-1 runs since 5 min: past a 200 s registration timeout and the minute, it is stuck
    Cloud.objects.filter(machine__name="nimbus").update(register_timeout=200)
    assert value(scrape(client), "allotment_burst_vms_stuck_starting", cloud="nimbus") == 2


@pytest.mark.parametrize(("waited", "stuck"), [(900 + 59, 0), (900 + 61, 1)])
def test_a_requested_vm_is_stuck_a_minute_after_the_boot_timeout(
    client, burst_state, waited, stuck
):
    VM.objects.exclude(name="new-1").delete()
    VM.objects.filter(name="new-1").update(state_changed_at=ago(seconds=waited))
    assert value(scrape(client), "allotment_burst_vms_stuck_starting", cloud="nimbus") == stuck


# -- the decisions -----------------------------------------------------------------------


def test_the_last_decision_gives_demand_and_shortfall_per_account_and_refusals(client, burst_state):
    s = scrape(client)
    assert value(s, "allotment_burst_idle_jobs", batch="brecca") == 7  # not the older 99
    assert value(s, "allotment_burst_idle_job_groups", batch="brecca") == 3
    assert value(s, "allotment_burst_running_jobs", batch="brecca") == 3
    assert value(s, "allotment_burst_vms_short", batch="brecca") == 4
    assert samples_of(s, "allotment_burst_account_idle_jobs") == {
        (("account", "projecta"), ("batch", "brecca")): 5,
        (("account", "projectb"), ("batch", "brecca")): 2,
    }
    assert samples_of(s, "allotment_burst_account_vms_short") == {
        (("account", "projecta"), ("batch", "brecca")): 3,
        (("account", "projectb"), ("batch", "brecca")): 1,
    }
    assert samples_of(s, "allotment_burst_refused_vms") == {
        (("batch", "brecca"), ("reason", "allocation spent")): 1,
        (("batch", "brecca"), ("reason", "throttle: VMs starting")): 2,
    }


def test_each_bursting_machine_says_how_old_its_last_decision_is(client, burst_state):
    s = scrape(client)
    age = "allotment_burst_last_decision_age_seconds"
    assert value(s, age, batch="brecca") == 120
    assert value(s, age, batch="kilo") == float("inf")  # never decided
    assert "quill" not in str(samples_of(s, age))  # only a disabled cloud serves it
    at = "allotment_burst_last_decision_timestamp_seconds"
    assert value(s, at, batch="brecca") == ago(minutes=2).timestamp()
    assert samples_of(s, at)[(("batch", "kilo"),)] == 0
    assert value(s, "allotment_burst_last_decision_duration_seconds", batch="brecca") == 0.25


# -- allocations -------------------------------------------------------------------------


def test_vm_allocations_give_allocated_used_and_what_the_decision_counts_left(
    client, vm_hours_used
):
    s = scrape(client)
    assert samples_of(s, "allotment_burst_vm_allocation") == {(("project", "ProjectA"),): 10}
    assert samples_of(s, "allotment_burst_vm_allocation_used") == {(("project", "ProjectA"),): 9.5}
    # ProjectB has idle jobs and no allocation: the decision counts nothing left for it
    assert samples_of(s, "allotment_burst_vm_allocation_remaining") == {
        (("project", "ProjectA"),): 0.5, (("project", "ProjectB"),): 0,
    }  # fmt: skip


def test_without_a_vm_pool_no_project_is_reported(client, burst_state):
    s = scrape(client)
    assert not samples_of(s, "allotment_burst_vm_allocation_remaining")


# -- cost and failure --------------------------------------------------------------------


def test_a_scrape_costs_the_same_queries_for_ten_vms_as_for_a_hundred(client, vm_hours_used):
    brecca = Machine.objects.get(name="brecca")
    nimbus = Cloud.objects.get(machine__name="nimbus")

    def queries() -> int:
        with CaptureQueriesContext(connection) as seen:
            scrape(client)
        return len(seen)

    few = queries()
    for n in range(90):
        _vm(f"more-{n}", nimbus, brecca, "busy", timedelta(hours=1), account="projectb",
            project=Project.objects.get(pid="ProjectB"), registered_at=ago(hours=1))  # fmt: skip
    assert queries() == few
    assert value(scrape(client), "allotment_burst_vms", cloud="nimbus", state="busy") == 91


def test_a_database_error_in_burst_says_burst_down_and_keeps_the_ledger(
    client, burst_state, monkeypatch
):
    def down(*args):
        raise DatabaseError("connection reset")

    monkeypatch.setattr(burst_metrics, "vm_metrics", down)
    s = scrape(client)
    assert value(s, "allotment_burst_up") == 0
    assert value(s, "allotment_ledger_up") == 1
    assert not [name for name, _ in s if name.startswith("allotment_burst_") and
                name != "allotment_burst_up"]  # fmt: skip


@pytest.mark.skipif(
    not burst_metrics.sweeps_recorded(),
    reason="CloudState does not record the orphan sweeps yet (services.sweep_orphans' "
    "result is only logged): see the proposed orphans_deleted/foreign_servers/swept_at",
)
def test_orphan_sweeps_are_reported_per_cloud(client, burst_state):
    _, nimbus, _ = burst_state
    CloudState.objects.filter(cloud=nimbus).update(
        orphans_deleted=3, foreign_servers=2, swept_at=ago(seconds=20)
    )
    s = scrape(client)
    assert value(s, "allotment_burst_orphans_deleted_total", cloud="nimbus") == 3
    assert value(s, "allotment_burst_foreign_servers", cloud="nimbus") == 2
    sweep = "allotment_burst_last_sweep_timestamp_seconds"
    assert value(s, sweep, cloud="nimbus") == ago(seconds=20).timestamp()
    assert value(s, sweep, cloud="stratus") == 0


# -- the health part of the page ---------------------------------------------------------


def test_health_gives_each_clouds_reason_streak_last_ok_backoffs_and_stuck_vms(burst_state):
    found = burst_metrics.health()
    clouds = {c["name"]: c for c in found["clouds"]}
    assert list(clouds) == ["cumulus", "nimbus", "stratus"]
    stratus = clouds["stratus"]
    assert (stratus["health"], stratus["health_reason"], stratus["failures"]) == (
        "unhealthy",
        STRATUS_DOWN,
        5,
    )
    assert stratus["last_ok_at"] == ago(minutes=12)
    assert clouds["cumulus"]["health"] == "unknown" and clouds["cumulus"]["last_ok_at"] is None
    nimbus = clouds["nimbus"]
    assert [(b["flavor"], b["image"], b["failures"]) for b in nimbus["backoffs"]] == [
        ("local.medium", "burst-worker", 2)
    ]
    assert nimbus["stuck_count"] == 1
    assert [(v["name"], v["state"]) for v in nimbus["stuck"]] == [("slow-1", "booting")]
    assert found["batches"] == [
        {"batch": "brecca", "last_decision_at": ago(minutes=2), "age_seconds": 120.0,
         "stale": False},
        {"batch": "kilo", "last_decision_at": None, "age_seconds": None, "stale": True},
    ]  # fmt: skip


def test_the_agent_seems_down_without_a_heartbeat_or_with_an_old_decision(burst_state):
    Machine.objects.get(name="kilo").burst_clouds.clear()  # only brecca bursts now
    assert burst_metrics.health()["agent_down"] is True  # no agent process
    AgentProcess.objects.create(identity="h:1:a", host="h", pid=1, started=ago(hours=1),
                                last_seen=ago(seconds=10))  # fmt: skip
    found = burst_metrics.health()
    assert (found["agent_down"], found["live_agents"], found["stale_batches"]) == (False, 1, [])
    Cycle.objects.filter(batch__name="brecca").update(at=ago(minutes=6))
    found = burst_metrics.health()
    assert (found["agent_down"], found["stale_batches"]) == (True, ["brecca"])


def test_nothing_bursting_is_no_agent_trouble(burst_state):
    Cloud.objects.update(enabled=False)
    found = burst_metrics.health()
    assert (found["batches"], found["agent_down"]) == ([], False)


def render(**context) -> str:
    return " ".join(render_to_string("web/burst/_health_view.html", context).split())


def test_the_health_part_shows_a_banner_when_the_agent_seems_down(burst_state):
    page = render(burst_health=burst_metrics.health())
    assert "The agent seems not to run." in page
    assert "No agent process sent a heartbeat in the last minute." in page
    assert "No burst decision for kilo in the last 300 s." in page
    assert STRATUS_DOWN in page
    assert ">slow-1</a> (booting since" in page
    assert "local.medium / burst-worker: 2 failures, until" in page


def test_the_health_part_has_no_banner_while_the_agent_decides(burst_state):
    Machine.objects.get(name="kilo").burst_clouds.clear()
    AgentProcess.objects.create(identity="h:1:a", host="h", pid=1, started=ago(hours=1),
                                last_seen=ago(seconds=10))  # fmt: skip
    page = render(burst_health=burst_metrics.health())
    assert "Health" in page and "120 s" in page
    assert "seems not to run" not in page


def test_the_health_part_renders_nothing_without_its_data():
    assert render() == ""


def test_the_burst_page_shows_the_health_part(burst_state):
    from django.test import Client

    from allotment.people.models import Person

    client = Client()
    client.force_login(Person.objects.create_superuser("health-root", "root@example.org"))
    page = client.get("/manage/burst/live/").content.decode()
    assert 'id="burst-health"' in page
