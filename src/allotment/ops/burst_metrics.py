"""Burst's state for /metrics and for the health part of the burst page.

Read from the database at scrape time, like the ledger's gauges (collectors.py): the
agent's loops write these rows from another process, and every web worker must report
the same numbers. A scrape costs a handful of GROUP BY queries over the clouds, VMs,
back-offs and the last decision of each batch machine, plus the allocation summaries of
the projects on the clouds' VM-hours pools; never a query or a loop per VM.

Counters are derived from the VM rows, which are never deleted: every row is one boot
burst decided, so `allotment_burst_vm_boots_total` only grows and Prometheus' rate() and
increase() work on it across agent restarts.

"Stuck" means past the deadline the burst loop itself enforces (reconcile.on_booting),
plus a minute for its tick: requested or booting longer than the cloud's boot timeout, or
running but not joined the batch system within its registration timeout. The loop deletes
such a VM; one still there means the loop is not doing its work.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Max, Min, OuterRef, Q, Subquery
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

log = logging.getLogger("allotment.ops")

STUCK_GRACE = timedelta(seconds=60)  # the VM loop's tick and the step's own time
STUCK_LISTED = 20  # stuck VMs named per cloud on the page
QUOTA_RESOURCES = ("instances", "cores", "ram_mb")
HEALTH_STATES = ("healthy", "unhealthy", "unknown")
SWEEP_FIELDS = ("orphans_deleted", "foreign_servers", "swept_at")


def decision_stale_after() -> timedelta:
    """How old a batch machine's last decision may be before the agent seems not to run:
    five minutes (the alert's), or two decide intervals and a minute if those are longer."""
    return max(timedelta(minutes=5), timedelta(seconds=2 * settings.BURST_DECIDE_INTERVAL + 60))


def _ts(moment: datetime | None) -> float:
    return moment.timestamp() if moment else 0.0


# -- what both read ----------------------------------------------------------------------


def _clouds() -> list:
    from allotment.burst.models import Cloud

    return list(Cloud.objects.select_related("machine", "state").order_by("machine__name"))


def _state(cloud):
    from allotment.burst.models import CloudState

    try:
        return cloud.state
    except CloudState.DoesNotExist:
        return None  # never refreshed: health unknown, nothing read


def sweeps_recorded() -> bool:
    """Whether CloudState records the orphan sweeps (services.sweep_orphans' result)."""
    from allotment.burst.models import CloudState

    names = {f.name for f in CloudState._meta.get_fields()}
    return all(name in names for name in SWEEP_FIELDS)


def _stuck_filter(clouds: list, now: datetime) -> Q:
    """VMs past their cloud's boot or registration deadline, one OR term per cloud."""
    stuck = Q(pk__in=[])
    for cloud in clouds:
        boot = now - timedelta(seconds=cloud.boot_timeout) - STUCK_GRACE
        register = now - timedelta(seconds=cloud.register_timeout) - STUCK_GRACE
        stuck |= Q(cloud=cloud) & (
            Q(state="requested", state_changed_at__lt=boot)
            | Q(state="booting", active_at__isnull=True, state_changed_at__lt=boot)
            | Q(state="booting", active_at__lt=register)
        )
    return stuck


def _stuck_counts(clouds: list, now: datetime) -> Counter:
    from allotment.burst.models import VM

    if not clouds:
        return Counter()
    rows = (
        VM.objects.filter(_stuck_filter(clouds, now))
        .values_list("cloud_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return Counter(dict(rows))


def _backoffs(now: datetime) -> dict[int, dict]:
    """Per cloud: back-offs in force and the most boot failures in a row among them (a
    row is cleared when a VM of its flavor and image joins, so its count is a streak; an
    expired one is left out: nothing is being refused for it now)."""
    from allotment.burst.models import Backoff

    rows = (
        Backoff.objects.values("cloud_id")
        .annotate(
            in_force=Count("pk", filter=Q(until__gt=now)),
            in_a_row=Max("failures", filter=Q(until__gt=now)),
        )
        .order_by()
    )
    return {row["cloud_id"]: row for row in rows}


def _last_cycles() -> dict[str, object]:
    """Each batch machine an enabled cloud serves (the agent decides for those:
    services.bursting_machines), with its last decision (None: never)."""
    from allotment.burst.models import Cycle
    from allotment.resources.models import Machine

    newest = Cycle.objects.filter(batch=OuterRef("pk")).order_by("-at", "-pk").values("pk")[:1]
    machines = (
        Machine.objects.filter(burst_clouds__enabled=True)
        .distinct()
        .annotate(cycle=Subquery(newest))
        .values_list("name", "cycle")
        .order_by("name")
    )
    by_name = dict(machines)
    cycles = Cycle.objects.in_bulk([pk for pk in by_name.values() if pk is not None])
    return {name: cycles.get(pk) for name, pk in by_name.items()}


# -- /metrics ----------------------------------------------------------------------------


def collect() -> list[Metric]:
    """Every burst family, with allotment_burst_up first (0 and nothing else when the
    database did not answer these queries)."""
    up = GaugeMetricFamily("allotment_burst_up", "1 if burst's tables answered this scrape.")
    try:
        now, clouds, cycles = timezone.now(), _clouds(), _last_cycles()
        families = [
            *clouds_metrics(clouds, now),
            *vm_metrics(clouds, now),
            *decision_metrics(cycles, now),
            *allocation_metrics(clouds, cycles),
        ]
    except DatabaseError:
        log.exception("burst metrics: the database did not answer")
        up.add_metric([], 0)
        return [up]
    up.add_metric([], 1)
    return [up, *families]


def clouds_metrics(clouds: list, now: datetime) -> list[Metric]:
    """Per cloud: enabled, health, failed calls in a row, last success, quota, back-offs,
    orphan sweeps."""
    label = ["cloud"]
    enabled = GaugeMetricFamily(
        "allotment_burst_cloud_enabled", "1 if the site lets burst boot on the cloud.", labels=label
    )
    healthy = GaugeMetricFamily(
        "allotment_burst_cloud_healthy",
        "1 if the cloud's last calls succeeded, 0 if unhealthy or never asked yet.",
        labels=label,
    )
    health = GaugeMetricFamily(
        "allotment_burst_cloud_health",
        "1 for the cloud's health now (healthy, unhealthy, or unknown: not asked yet).",
        labels=["cloud", "health"],
    )
    changed = GaugeMetricFamily(
        "allotment_burst_cloud_health_changed_timestamp_seconds",
        "When the cloud's health last changed.",
        labels=label,
    )
    failures = GaugeMetricFamily(
        "allotment_burst_cloud_consecutive_failures",
        "Failed calls to the cloud in a row (3 make it unhealthy; 0 after a success).",
        labels=label,
    )
    last_ok = GaugeMetricFamily(
        "allotment_burst_cloud_last_ok_timestamp_seconds",
        "When a call to the cloud last succeeded (0: never).",
        labels=label,
    )
    limit = GaugeMetricFamily(
        "allotment_burst_cloud_quota_limit",
        "The cloud's quota as it last said it (no sample: unlimited or not read yet).",
        labels=["cloud", "resource"],
    )
    used = GaugeMetricFamily(
        "allotment_burst_cloud_quota_used",
        "Used of the cloud's quota, by us and others, as it last said it.",
        labels=["cloud", "resource"],
    )
    read = GaugeMetricFamily(
        "allotment_burst_cloud_quota_read_timestamp_seconds",
        "When the cloud's quota was last read (0: never).",
        labels=label,
    )
    backoffs = GaugeMetricFamily(
        "allotment_burst_backoffs",
        "Flavor and image pairs of the cloud not booted now because their boots failed.",
        labels=label,
    )
    in_a_row = GaugeMetricFamily(
        "allotment_burst_boot_failures_in_a_row",
        "The most failed boots in a row of one flavor and image backed off on the cloud "
        "now (0: none backed off).",
        labels=label,
    )
    families = [enabled, healthy, health, changed, failures, last_ok, limit, used, read]
    families += [backoffs, in_a_row]
    backed = _backoffs(now)
    sweeps = sweeps_recorded()
    if sweeps:
        orphans = CounterMetricFamily(
            "allotment_burst_orphans_deleted",
            "Servers with our tag that no VM row knew, deleted by the sweeps.",
            labels=label,
        )
        foreign = GaugeMetricFamily(
            "allotment_burst_foreign_servers",
            "Servers without our tag at the cloud's last sweep (someone else's; left alone).",
            labels=label,
        )
        swept = GaugeMetricFamily(
            "allotment_burst_last_sweep_timestamp_seconds",
            "When the cloud's servers were last swept for orphans (0: never).",
            labels=label,
        )
        families += [orphans, foreign, swept]
    for cloud in clouds:
        key = [cloud.name]
        state = _state(cloud)
        now_health = state.health if state else "unknown"
        enabled.add_metric(key, 1 if cloud.enabled else 0)
        healthy.add_metric(key, 1 if now_health == "healthy" else 0)
        for name in HEALTH_STATES:
            health.add_metric([cloud.name, name], 1 if now_health == name else 0)
        changed.add_metric(key, _ts(state.health_changed_at if state else None))
        failures.add_metric(key, state.failures if state else 0)
        last_ok.add_metric(key, _ts(state.last_ok_at if state else None))
        quota = (state.quota if state else None) or {}
        for resource in QUOTA_RESOURCES:
            if quota.get(resource) is not None:
                limit.add_metric([cloud.name, resource], quota[resource])
            if quota.get(f"used_{resource}") is not None:
                used.add_metric([cloud.name, resource], quota[f"used_{resource}"])
        read.add_metric(key, _ts(state.quota_read_at if state else None))
        row = backed.get(cloud.pk, {})
        backoffs.add_metric(key, row.get("in_force", 0))
        in_a_row.add_metric(key, row.get("in_a_row") or 0)
        if sweeps:
            orphans.add_metric(key, state.orphans_deleted if state else 0)
            foreign.add_metric(key, state.foreign_servers if state else 0)
            swept.add_metric(key, _ts(state.swept_at if state else None))
    return families


def vm_metrics(clouds: list, now: datetime) -> list[Metric]:
    """VMs by cloud and state; boots, registrations and boot failures in all; VMs stuck
    starting and the oldest starting VM's age."""
    from allotment.burst.models import VM
    from allotment.burst.states import STARTING, VMStates

    label = ["cloud"]
    vms = GaugeMetricFamily(
        "allotment_burst_vms", "Burst VMs by cloud and state.", labels=["cloud", "state"]
    )
    boots = CounterMetricFamily(
        "allotment_burst_vm_boots", "VMs burst decided to boot on the cloud.", labels=label
    )
    joined = CounterMetricFamily(
        "allotment_burst_vm_registrations",
        "VMs that booted and joined their batch system.",
        labels=label,
    )
    failed = CounterMetricFamily(
        "allotment_burst_vm_boot_failures",
        "VMs deleted before they joined their batch system, for a reason other than an "
        "operator's retirement (boot error or refusal, boot or registration timeout, image "
        "or server gone).",
        labels=label,
    )
    stuck = GaugeMetricFamily(
        "allotment_burst_vms_stuck_starting",
        "VMs requested or booting past the cloud's boot or registration timeout (plus a "
        "minute): the burst loop should have deleted them.",
        labels=label,
    )
    oldest = GaugeMetricFamily(
        "allotment_burst_oldest_starting_vm_age_seconds",
        "Age of the cloud's oldest VM still requested or booting (0: none).",
        labels=label,
    )
    by_state = {
        (row["cloud_id"], row["state"]): row["n"]
        for row in VM.objects.values("cloud_id", "state").annotate(n=Count("pk")).order_by()
    }
    ended_unjoined = Q(registered_at__isnull=True, retire_asked=False) & ~Q(end_reason="")
    totals = {
        row["cloud_id"]: row
        for row in VM.objects.values("cloud_id")
        .annotate(
            boots=Count("pk"),
            joined=Count("pk", filter=Q(registered_at__isnull=False)),
            failed=Count("pk", filter=ended_unjoined),
            oldest=Min("requested_at", filter=Q(state__in=STARTING)),
        )
        .order_by()
    }
    stuck_by_cloud = _stuck_counts(clouds, now)
    for cloud in clouds:
        key = [cloud.name]
        for state in VMStates.states:
            vms.add_metric([cloud.name, state], by_state.get((cloud.pk, state), 0))
        row = totals.get(cloud.pk, {})
        boots.add_metric(key, row.get("boots", 0))
        joined.add_metric(key, row.get("joined", 0))
        failed.add_metric(key, row.get("failed", 0))
        stuck.add_metric(key, stuck_by_cloud.get(cloud.pk, 0))
        first = row.get("oldest")
        oldest.add_metric(key, (now - first).total_seconds() if first else 0)
    return [vms, boots, joined, failed, stuck, oldest]


def decision_metrics(cycles: dict, now: datetime) -> list[Metric]:
    """Per batch machine a cloud serves, from its last decision: idle jobs, VMs short
    (per account too), refusals, and how old and how long that decision was."""
    label = ["batch"]
    idle = GaugeMetricFamily(
        "allotment_burst_idle_jobs",
        "Idle jobs in the burst partitions at the last decision.",
        labels=label,
    )
    groups = GaugeMetricFamily(
        "allotment_burst_idle_job_groups",
        "Groups of alike idle jobs at the last decision.",
        labels=label,
    )
    running = GaugeMetricFamily(
        "allotment_burst_running_jobs", "Running jobs at the last decision.", labels=label
    )
    short = GaugeMetricFamily(
        "allotment_burst_vms_short",
        "VMs the idle jobs needed beyond the supply at the last decision (before boots).",
        labels=label,
    )
    account_idle = GaugeMetricFamily(
        "allotment_burst_account_idle_jobs",
        "Idle jobs per batch account at the last decision.",
        labels=["batch", "account"],
    )
    account_short = GaugeMetricFamily(
        "allotment_burst_account_vms_short",
        "VMs short per batch account at the last decision.",
        labels=["batch", "account"],
    )
    refused = GaugeMetricFamily(
        "allotment_burst_refused_vms",
        "VMs the last decision could not boot, by reason.",
        labels=["batch", "reason"],
    )
    at = GaugeMetricFamily(
        "allotment_burst_last_decision_timestamp_seconds",
        "When the last burst decision for the batch machine was taken (0: never).",
        labels=label,
    )
    age = GaugeMetricFamily(
        "allotment_burst_last_decision_age_seconds",
        "Seconds since the last burst decision for the batch machine (+Inf: never).",
        labels=label,
    )
    took = GaugeMetricFamily(
        "allotment_burst_last_decision_duration_seconds",
        "How long the last decision took, from reading the queue to the VMs recorded.",
        labels=label,
    )
    for batch, cycle in cycles.items():
        key = [batch]
        if cycle is None:
            at.add_metric(key, 0)
            age.add_metric(key, float("inf"))
            continue
        report = cycle.report or {}
        shortfall = report.get("shortfall", {})
        idle.add_metric(key, cycle.idle_jobs)
        groups.add_metric(key, cycle.groups)
        running.add_metric(key, report.get("running_jobs", 0))
        short.add_metric(key, sum(shortfall.values()))
        for account, jobs in sorted(report.get("demand", {}).items()):
            account_idle.add_metric([batch, account], jobs)
        for account, vms in sorted(short_by_account(shortfall).items()):
            account_short.add_metric([batch, account], vms)
        for reason, vms in sorted(report.get("refusals", {}).items()):
            refused.add_metric([batch, reason], vms)
        at.add_metric(key, cycle.at.timestamp())
        age.add_metric(key, max(0.0, (now - cycle.at).total_seconds()))
        took.add_metric(key, cycle.seconds)
    return [idle, groups, running, short, account_idle, account_short, refused, at, age, took]


def short_by_account(shortfall: dict[str, int]) -> Counter:
    """A decision's shortfall per group key, added up per account (a key's first part:
    demand.group_key)."""
    found: Counter = Counter()
    for key, vms in shortfall.items():
        found[key.split("|", 1)[0]] += vms
    return found


def allocation_metrics(clouds: list, cycles: dict) -> list[Metric]:
    """Per project holding VM hours on the clouds' pools today, or with burst demand or
    VMs: allocated and used of its own pools, and what the decision counts as remaining
    (services.remaining_by_account: its charging target's, which may be a parent's)."""
    labels = ["project"]
    allocated = GaugeMetricFamily(
        "allotment_burst_vm_allocation",
        "VM hours (the pool's units) allocated to the project on the clouds' VM pools, in "
        "the periods covering today.",
        labels=labels,
    )
    used = GaugeMetricFamily(
        "allotment_burst_vm_allocation_used",
        "VM hours charged to those allocations.",
        labels=labels,
    )
    remaining = GaugeMetricFamily(
        "allotment_burst_vm_allocation_remaining",
        "VM hours the burst decision counts as left for the project (at or below 0: it "
        "gets no VM). No sample: not accounted, nothing enforced.",
        labels=labels,
    )
    for project, row in sorted(allocations(clouds, cycles).items()):
        if row["allocated"] is not None:
            allocated.add_metric([project], float(row["allocated"]))
            used.add_metric([project], float(row["used"]))
        if row["remaining"] is not None:
            remaining.add_metric([project], float(row["remaining"]))
    return [allocated, used, remaining]


def allocations(clouds: list, cycles: dict) -> dict[str, dict]:
    """{project pid: {"allocated", "used", "remaining"}} over the clouds' VM pools."""
    from allotment.burst import services, status
    from allotment.burst.models import VM
    from allotment.burst.states import LIVE
    from allotment.grants.models import AllocationPool

    pools = services.vm_pools(clouds)
    if not pools:
        return {}
    today = timezone.localdate()
    holders = set(
        AllocationPool.objects.filter(
            resource_pool__in=pools, period__start__lte=today, period__end__gte=today
        ).values_list("project__pid", flat=True)
    )
    accounts = set(VM.objects.filter(state__in=LIVE).values_list("account", flat=True))
    for cycle in cycles.values():
        if cycle is not None:
            accounts |= set((cycle.report or {}).get("demand", {}))
    pids = {low: p.pid for low, p in services.projects_by_account(accounts - {""}).items()}
    projects = holders | set(pids.values())
    left = services.remaining_by_account(clouds, projects)
    own = status._allocations(clouds, projects)
    return {
        pid: {
            "allocated": own[pid.lower()]["allocated"] if pid.lower() in own else None,
            "used": own[pid.lower()]["used"] if pid.lower() in own else None,
            "remaining": left.get(pid),
        }
        for pid in projects
    }


# -- the page ----------------------------------------------------------------------------


def _sweep(state) -> dict:
    return {
        "deleted": state.orphans_deleted,
        "foreign": state.foreign_servers,
        "swept_at": state.swept_at,
    }


def health() -> dict:
    """The burst page's health part: each cloud's health with its reason, failures in a
    row, last success, back-offs in force and stuck VMs; each batch machine's last
    decision and its age; and whether the agent seems not to run (no live agent, or a
    decision older than decision_stale_after())."""
    from allotment.agent.leases import live_agents
    from allotment.burst.models import VM, Backoff

    now = timezone.now()
    clouds = _clouds()
    backoffs: dict[int, list[dict]] = defaultdict(list)
    for b in Backoff.objects.filter(until__gt=now).order_by("cloud_id", "until", "pk"):
        backoffs[b.cloud_id].append(
            {"flavor": b.flavor, "image": b.image, "failures": b.failures, "until": b.until,
             "reason": b.reason}
        )  # fmt: skip
    stuck: dict[int, list[dict]] = defaultdict(list)
    if clouds:
        rows = VM.objects.filter(_stuck_filter(clouds, now)).order_by("requested_at", "pk")
        for vm in rows.values("pk", "name", "cloud_id", "state", "state_changed_at"):
            stuck[vm["cloud_id"]].append(vm)
    sweeps = sweeps_recorded()
    cloud_rows = []
    for cloud in clouds:
        state = _state(cloud)
        last_ok = state.last_ok_at if state else None
        cloud_rows.append(
            {
                "name": cloud.name,
                "enabled": cloud.enabled,
                "health": state.health if state else "unknown",
                "health_reason": state.health_reason if state else "",
                "health_changed_at": state.health_changed_at if state else None,
                "failures": state.failures if state else 0,
                "last_ok_at": last_ok,
                "backoffs": backoffs.get(cloud.pk, []),
                "stuck": stuck.get(cloud.pk, [])[:STUCK_LISTED],
                "stuck_count": len(stuck.get(cloud.pk, [])),
                "orphans": _sweep(state) if sweeps and state else None,
            }
        )
    stale_after = decision_stale_after()
    batches = []
    for name, cycle in _last_cycles().items():
        at = cycle.at if cycle else None
        age = (now - at).total_seconds() if at else None
        batches.append(
            {"batch": name, "last_decision_at": at, "age_seconds": age,
             "stale": at is None or now - at > stale_after}
        )  # fmt: skip
    agents = len(live_agents(now))
    stale = [b["batch"] for b in batches if b["stale"]]
    return {
        "at": now,
        "clouds": cloud_rows,
        "batches": batches,
        "live_agents": agents,
        "stale_batches": stale,
        "stale_after_seconds": int(stale_after.total_seconds()),
        "agent_down": bool(batches) and (agents == 0 or bool(stale)),
    }
