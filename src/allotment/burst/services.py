"""Burst's domain logic: the decision cycle, what the clouds say, health, names, retiring.

The CLI, the API, the page and the agent's loops all call these. Engines are called only
from the agent's loops and the operator's own commands (`allot image sync`), never from a
web request.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import hostlist
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from allotment.audit.services import create_audited
from allotment.core import fsm
from allotment.resources.models import Machine, Metric, Resource

from . import demand, drivers, lifecycle
from .engines import TAG_KEY, EngineError, ServerInfo
from .models import VM, Backoff, Cloud, CloudImage, CloudState, Cycle, Flavor, Health
from .states import LIVE, STARTING, SUPPLY, VMStates

log = logging.getLogger(__name__)

UNHEALTHY_AFTER = 3  # failed calls in a row before a cloud is unhealthy
BACKOFF_BASE = timedelta(minutes=2)  # doubled per failure in a row, up to BACKOFF_MAX
BACKOFF_MAX = timedelta(hours=1)
CYCLES_KEPT = timedelta(days=2)
SERVERS_FRESH = 4.0  # seconds a cloud's server listing serves the VM steps


def site_tag() -> str:
    from django.conf import settings

    return getattr(settings, "BURST_TAG", "allotment")


# -- configuration ---------------------------------------------------------------------


def burst_options(batch: Machine) -> dict:
    """The batch machine's burst settings: partitions to watch and its burst node names."""
    options = dict((batch.engine_options or {}).get("burst") or {})
    options.setdefault("partitions", ["burst"])
    return options


def node_names(batch: Machine) -> list[str]:
    spec = burst_options(batch).get("nodes", "")
    if not spec:
        return [f"{batch.name}-vm{n:03d}" for n in range(1, 1000)]
    return hostlist.expand_hostlist(spec)


def bursting_machines() -> list[Machine]:
    return list(Machine.objects.filter(burst_clouds__enabled=True).distinct().order_by("name"))


def clouds_of(batch: Machine) -> list[Cloud]:
    return list(
        Cloud.objects.filter(serves=batch)
        .select_related("machine", "state")
        .order_by("priority", "machine__name")
    )


def state_of(cloud: Cloud) -> CloudState:
    try:
        return cloud.state
    except CloudState.DoesNotExist:
        state, _ = CloudState.objects.get_or_create(cloud=cloud)
        cloud.state = state
        return state


# -- health ----------------------------------------------------------------------------


def record_ok(cloud: Cloud) -> None:
    state = state_of(cloud)
    now = timezone.now()
    changes = {"failures": 0, "last_ok_at": now}
    if state.health != Health.HEALTHY:
        changes |= {"health": Health.HEALTHY, "health_reason": "", "health_changed_at": now}
        log.info("cloud %s is healthy", cloud.name)
    CloudState.objects.filter(pk=state.pk).update(**changes)
    for key, value in changes.items():
        setattr(state, key, value)


def record_failure(cloud: Cloud, error: Exception) -> bool:
    """Count a failed call; True when this one made the cloud unhealthy. Its starting
    VMs are then abandoned: they count for nothing, their demand goes to other clouds,
    and they are deleted once the cloud answers again."""
    state = state_of(cloud)
    failures = state.failures + 1
    changes: dict = {"failures": failures}
    became = failures >= UNHEALTHY_AFTER and state.health != Health.UNHEALTHY
    if became:
        changes |= {
            "health": Health.UNHEALTHY,
            "health_reason": str(error)[:2000],
            "health_changed_at": timezone.now(),
        }
        log.warning("cloud %s is unhealthy: %s", cloud.name, error)
    CloudState.objects.filter(pk=state.pk).update(**changes)
    for key, value in changes.items():
        setattr(state, key, value)
    if became:
        for vm in VM.objects.filter(cloud=cloud, state__in=STARTING):
            with contextlib.suppress(fsm.TransitionRefused):
                fsm.move(vm, VMStates.abandon, reason=f"cloud {cloud.name}: {error}"[:500])
    return became


def healthy(cloud: Cloud) -> bool:
    return state_of(cloud).health != Health.UNHEALTHY


# -- what the clouds say ---------------------------------------------------------------

_servers: dict[str, tuple[float, list[ServerInfo]]] = {}


def servers_of(cloud: Cloud, max_age: float = SERVERS_FRESH) -> list[ServerInfo]:
    """The cloud's servers, listed at most every `max_age` seconds per process: one
    listing serves every VM step of a tick (a call per VM would be a cloud's API per VM)."""
    known = _servers.get(cloud.name)
    if known and time.monotonic() - known[0] < max_age:
        return known[1]
    try:
        found = drivers.cloud(cloud).servers()
    except EngineError as e:
        record_failure(cloud, e)
        raise
    record_ok(cloud)
    _servers[cloud.name] = (time.monotonic(), found)
    return found


def forget_servers(cloud: Cloud) -> None:
    _servers.pop(cloud.name, None)


def refresh(cloud: Cloud) -> list[ServerInfo]:
    """Read the cloud's quota, flavors, images and servers into the database; count its
    health. Returns the servers, for the orphan sweep."""
    driver = drivers.cloud(cloud)
    try:
        quota = driver.quota()
        flavors = driver.flavors()
        images = driver.images()
        servers = driver.servers()
    except EngineError as e:
        record_failure(cloud, e)
        raise
    record_ok(cloud)
    _servers[cloud.name] = (time.monotonic(), servers)
    ours = {s.id for s in servers if s.tags.get(TAG_KEY) == site_tag()}
    flavor_of = {f.id: f for f in flavors} | {f.name: f for f in flavors}
    mine = [flavor_of.get(s.flavor) for s in servers if s.id in ours]
    others = {
        "instances": max(0, quota.used_instances - len(ours)),
        "cores": max(0, quota.used_cores - sum(f.cores for f in mine if f)),
        "ram_mb": max(0, quota.used_ram_mb - sum(f.ram_mb for f in mine if f)),
    }
    now = timezone.now()
    with transaction.atomic():
        CloudState.objects.filter(cloud=cloud).update(
            quota={
                "instances": quota.instances,
                "cores": quota.cores,
                "ram_mb": quota.ram_mb,
                "used_instances": quota.used_instances,
                "used_cores": quota.used_cores,
                "used_ram_mb": quota.used_ram_mb,
                "others": others,
            },
            quota_read_at=now,
            inventory_read_at=now,
        )
        seen = set()
        for f in flavors:
            seen.add(f.name)
            Flavor.objects.update_or_create(
                cloud=cloud, name=f.name,
                defaults={"ext_id": f.id, "cores": f.cores, "ram_mb": f.ram_mb,
                          "disk_gb": f.disk_gb},
            )  # fmt: skip
        Flavor.objects.filter(cloud=cloud).exclude(name__in=seen).delete()
        CloudImage.objects.filter(cloud=cloud).exclude(ext_id__in=[i.id for i in images]).delete()
        for i in images:
            CloudImage.objects.update_or_create(
                cloud=cloud, ext_id=i.id,
                defaults={"name": i.name, "status": i.status, "checksums": i.checksums,
                          "size": i.size},
            )  # fmt: skip
    return servers


def sweep_orphans(cloud: Cloud, servers: list[ServerInfo]) -> dict:
    """Delete servers tagged with our site's tag that no live VM row knows; report the
    untagged ones (someone else's), never touching them."""
    known = set(
        VM.objects.filter(cloud=cloud).exclude(state="deleted").values_list("server_id", flat=True)
    )
    names = set(
        VM.objects.filter(cloud=cloud).exclude(state="deleted").values_list("name", flat=True)
    )
    deleted, foreign = [], []
    driver = drivers.cloud(cloud)
    for s in servers:
        if s.tags.get(TAG_KEY) != site_tag():
            foreign.append(s.name)
            continue
        if s.id in known:
            continue
        # A VM whose boot was asked but whose id is not recorded yet carries its name.
        if s.tags.get("allotment-vm") in names and not _recorded(cloud, s):
            continue
        driver.delete(s.id)
        deleted.append(s.name)
        log.warning("cloud %s: deleted orphan server %s (%s)", cloud.name, s.name, s.id)
    CloudState.objects.filter(cloud=cloud).update(
        orphans_deleted=F("orphans_deleted") + len(deleted),
        foreign_servers=len(foreign),
        swept_at=timezone.now(),
    )
    return {"deleted": deleted, "foreign": foreign}


def _recorded(cloud: Cloud, server: ServerInfo) -> bool:
    """Whether the VM named on the server already has another server recorded."""
    return (
        VM.objects.filter(cloud=cloud, name=server.tags.get("allotment-vm"))
        .exclude(state="deleted")
        .exclude(server_id="")
        .exclude(server_id=server.id)
        .exists()
    )


# -- back-off --------------------------------------------------------------------------


def back_off(vm: VM, reason: str) -> None:
    """The cloud, flavor and image of a VM that failed to boot are not chosen again for a
    while, doubling with each failure in a row."""
    flavor = vm.flavor.name if vm.flavor else ""
    now = timezone.now()
    with transaction.atomic():
        row, created = Backoff.objects.select_for_update().get_or_create(
            cloud=vm.cloud, flavor=flavor, image=vm.image,
            defaults={"until": now + BACKOFF_BASE, "reason": reason[:2000]},
        )  # fmt: skip
        if not created:
            row.failures += 1
            span = lifecycle.backoff_span(row.failures, BACKOFF_BASE, BACKOFF_MAX)
            row.until, row.reason = now + span, reason[:2000]
            row.save()


def clear_backoff(vm: VM) -> None:
    if vm.flavor:
        Backoff.objects.filter(cloud=vm.cloud, flavor=vm.flavor.name, image=vm.image).delete()


# -- the decision cycle ----------------------------------------------------------------


def cloud_views(batch: Machine, clouds: list[Cloud]) -> list[demand.CloudView]:
    """The clouds as the decision sees them, from what they said last and our live VMs
    (lifecycle.cloud_view: the simulator builds its views with the same rule)."""
    now = timezone.now()
    views = []
    for cloud in clouds:
        state = state_of(cloud)
        live = lifecycle.LiveCounts()
        for st, cores, ram in VM.objects.filter(cloud=cloud, state__in=LIVE).values_list(
            "state", "cores", "ram_mb"
        ):
            live.instances += 1
            live.cores += cores
            live.ram_mb += ram
            live.starting += st in STARTING
        views.append(
            lifecycle.cloud_view(
                cloud,
                usable=cloud.enabled
                and state.health != Health.UNHEALTHY
                and state.quota_read_at is not None,
                flavors=[
                    demand.FlavorView(f.name, f.cores, f.ram_mb)
                    for f in cloud.flavors.filter(enabled=True)
                ],
                images=frozenset(
                    CloudImage.objects.filter(cloud=cloud, status="active").values_list(
                        "name", flat=True
                    )
                ),
                backoffs=frozenset(
                    Backoff.objects.filter(cloud=cloud, until__gt=now).values_list(
                        "flavor", "image"
                    )
                ),
                quota=state.quota or {},
                live=live,
            )
        )
    return views


def vm_pools(clouds: list[Cloud]) -> set[int]:
    return set(
        Resource.objects.filter(
            machine__in=[c.machine for c in clouds], pool__metric=Metric.VM_SECONDS
        ).values_list("pool_id", flat=True)
    )


def remaining_by_account(clouds: list[Cloud], accounts) -> dict[str, Decimal | None]:
    """Each account's remaining allocation on the clouds' VM-hours pools today (None where
    no cloud of theirs is accounted: nothing to enforce)."""
    from allotment.grants.models import AllocationPool
    from allotment.grants.services import summarise
    from allotment.usage.charging import Charger

    pools = vm_pools(clouds)
    accounts = set(accounts)
    if not pools:
        return dict.fromkeys(accounts, None)
    projects = {low: p.pk for low, p in projects_by_account(accounts).items()}
    charger = Charger()
    today = timezone.localdate().toordinal()
    targets: dict[str, set[int]] = {}
    for account in accounts:
        pk = projects.get(account.lower())
        if pk is None:
            continue
        targets[account] = {
            t.allocation_pool for pool in pools
            if (t := charger.target(pk, today, pool)).allocation_pool is not None
        }  # fmt: skip
    wanted = set().union(*targets.values()) if targets else set()
    left = {s.pool_id: s.remaining for s in summarise(AllocationPool.objects.filter(pk__in=wanted))}
    return {a: sum((left.get(p, Decimal(0)) for p in targets.get(a, ())), Decimal(0))
            for a in accounts}  # fmt: skip


def projects_by_account(accounts) -> dict:
    """The ledger projects named by batch accounts, by lower-case name (Slurm lowers
    account names; project ids keep their case)."""
    from django.db.models.functions import Lower

    from allotment.projects.models import Project

    wanted = {a.lower() for a in accounts}
    return {
        p.pid.lower(): p for p in Project.objects.annotate(low=Lower("pid")).filter(low__in=wanted)
    }


def supply_of(batch: Machine) -> list[demand.SupplyVM]:
    return [
        demand.SupplyVM(name, cloud, group, cores, ram)
        for name, cloud, group, cores, ram in VM.objects.filter(
            batch=batch, state__in=SUPPLY
        ).values_list("name", "cloud__machine__name", "group", "cores", "ram_mb")
    ]


def run_cycle(batch: Machine) -> Cycle:
    """One decision for a batch machine: read its queue, decide, record the VMs to boot
    (their boots are the VM loop's work). Idempotent in effect: a cycle run twice sees the
    VMs the first one requested as supply."""
    t0 = time.perf_counter()
    options = burst_options(batch)
    clouds = clouds_of(batch)
    names = node_names(batch)
    snapshot = drivers.queue(batch).snapshot(options["partitions"], names)
    t1 = time.perf_counter()
    accounts = {g.account for g in snapshot.pending}
    decision = demand.decide(
        snapshot.pending,
        cloud_views(batch, clouds),
        supply_of(batch),
        remaining_by_account(clouds, accounts),
    )
    boots = persist_boots(batch, decision.boots, decision)
    t2 = time.perf_counter()
    report = {
        "queue_seconds": round(t1 - t0, 4),
        "decide_seconds": round(t2 - t1, 4),
        "demand": dict(decision.demand_by_account),
        "shortfall": decision.shortfall,
        "boots": dict(Counter(b.cloud for b in boots)),
        "boots_by_account": dict(Counter(b.account for b in boots)),
        "refusals": dict(decision.refusals),
        "supply": dict(decision.supply_by_cloud),
        "running_jobs": len(snapshot.running),
    }
    cycle = Cycle.objects.create(
        batch=batch,
        seconds=t2 - t0,
        idle_jobs=sum(g.count for g in snapshot.pending),
        groups=len(snapshot.pending),
        boots=len(boots),
        report=report,
    )
    Cycle.objects.filter(batch=batch, at__lt=timezone.now() - CYCLES_KEPT).delete()
    return cycle


def persist_boots(batch: Machine, boots: list[demand.Boot], decision) -> list[demand.Boot]:
    """A VM row per boot, each with a free node name, in one transaction: one insert for
    the rows and one for their audit entries, however many boots the cycle took."""
    if not boots:
        return []

    clouds = {c.name: c for c in Cloud.objects.filter(serves=batch).select_related("machine")}
    flavors = {(f.cloud_id, f.name): f for f in Flavor.objects.filter(cloud__in=clouds.values())}
    accounts = {b.account for b in boots}
    projects = projects_by_account(accounts)
    made, rows = [], []
    with transaction.atomic():
        taken = set(VM.objects.filter(batch=batch).exclude(state="deleted")
                    .values_list("name", flat=True))  # fmt: skip
        free = (n for n in node_names(batch) if n not in taken)
        for boot in boots:
            name = next(free, None)
            if name is None:
                decision.refusals["no free node name"] += 1
                continue
            cloud = clouds[boot.cloud]
            vm = VM(
                name=name, cloud=cloud, batch=batch,
                flavor=flavors.get((cloud.pk, boot.flavor)), image=boot.image,
                cores=boot.cores, ram_mb=boot.ram_mb,
                project=projects.get(boot.account.lower()), account=boot.account,
                group=boot.group[:300],
            )  # fmt: skip
            vm.take_initial_state()
            rows.append(vm)
            made.append(boot)
        create_audited(rows)
    return made


# -- operators' actions ----------------------------------------------------------------


def retire(vm: VM) -> VM:
    """Ask for a VM's retirement: it is drained and deleted once its jobs end."""
    if vm.state in ("deleted", "deleting", "retiring", "abandoned"):
        return vm
    VM.objects.filter(pk=vm.pk).update(retire_asked=True)
    vm.retire_asked = True
    return vm


def point_cloud(
    name: str, driver: str, options: dict | None = None, *, enable: bool = True
) -> bool:
    """Point the ledger's cloud `name` (of `driver`) at an engine `allot dev` runs: merge
    `options` into its own and enable it. False when there is no such cloud (or no ledger
    yet). Saved through the model, so the audit log has it."""
    from django.db import DatabaseError

    try:
        cloud = Cloud.objects.filter(machine__name=name, driver=driver).first()
        if cloud is None:
            return False
        cloud.options = {**(cloud.options or {}), **(options or {})}
        cloud.enabled = cloud.enabled or enable
        cloud.save(update_fields=["options", "enabled"])
    except DatabaseError:
        return False
    return True
