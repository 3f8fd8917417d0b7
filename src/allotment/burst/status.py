"""Burst as plain dicts, for the CLI's tables and JSON, the API and the page: clouds, VMs,
the last decisions and VMs over time.

Everything here reads the database only (what the agent's loops last saw and decided), so
a web request may call any of it. The room left on a cloud is the decision's own
(services.cloud_views), so what an operator reads is what the next cycle will use.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import Count, Q, Sum
from django.db.models.functions import Lower
from django.utils import timezone

from allotment.core import fsm
from allotment.core.numbers import is_digits
from allotment.inventory.views_data import history_dicts
from allotment.resources.models import Machine

from . import images, services
from .models import VM, Backoff, Cloud, CloudImage, Cycle, Flavor
from .states import LIVE, VMStates

VM_LIMIT_MAX = 1000
HOURS_MAX = 31 * 24
POINTS_MAX = 500
LATEST_VMS = 20


# -- clouds ----------------------------------------------------------------------------


def _clouds(names: list[str] | None = None) -> list[Cloud]:
    clouds = Cloud.objects.select_related("machine", "state").prefetch_related("serves")
    if names is not None:
        clouds = clouds.filter(machine__name__in=names)
    return list(clouds.order_by("priority", "machine__name"))


def get_cloud(name: str) -> Cloud:
    """The cloud of this name, or a ValidationError naming it."""
    found = _clouds([name])
    if not found:
        raise ValidationError(f'There is no cloud "{name}".')
    return found[0]


def _ours(clouds: list[Cloud]) -> dict[int, dict]:
    """Each cloud's live VMs by state, with their cores and memory: one query."""
    ours: dict[int, dict] = {
        c.pk: {"by_state": {}, "instances": 0, "cores": 0, "ram_mb": 0} for c in clouds
    }
    rows = (
        VM.objects.filter(cloud__in=clouds, state__in=LIVE)
        .values("cloud_id", "state")
        .annotate(n=Count("pk"), cores=Sum("cores"), ram=Sum("ram_mb"))
        .order_by("cloud_id", "state")
    )
    for row in rows:
        counts = ours[row["cloud_id"]]
        counts["by_state"][row["state"]] = row["n"]
        counts["instances"] += row["n"]
        counts["cores"] += row["cores"] or 0
        counts["ram_mb"] += row["ram"] or 0
    return ours


def _quota(quota: dict, read_at: datetime | None) -> dict:
    """The cloud's own quota as it last said it: limits (None: unlimited), what is used
    there in all, and the part of that used by others than us."""
    return {
        "limits": {k: quota.get(k) for k in ("instances", "cores", "ram_mb")},
        "used": {k: quota.get(f"used_{k}") for k in ("instances", "cores", "ram_mb")},
        "others": quota.get("others", {}),
        "read_at": read_at,
    }


def _present(names: list[str], active: set[str]) -> list[str]:
    return [n for n in names if n in active]


def _cloud_row(cloud: Cloud, view, ours: dict, active: set[str]) -> dict:
    state = services.state_of(cloud)
    served = images.served(cloud)
    return {
        "name": cloud.name,
        "driver": cloud.driver,
        "enabled": cloud.enabled,
        "health": state.health,
        "health_reason": state.health_reason,
        "health_changed_at": state.health_changed_at,
        "failures": state.failures,
        "last_ok_at": state.last_ok_at,
        "priority": cloud.priority,
        "price_per_core_hour": cloud.price_per_core_hour,
        "tags": list(cloud.tags or []),
        "serves": sorted(m.name for m in cloud.serves.all()),
        "quota": _quota(state.quota or {}, state.quota_read_at),
        "caps": {
            "max_instances": cloud.max_instances,
            "max_cores": cloud.max_cores,
            "max_ram_mb": cloud.max_ram_mb,
        },
        "ours": ours,
        "free": {
            "usable": view.usable,
            "instances": view.free_instances,
            "cores": view.free_cores,
            "ram_mb": view.free_ram_mb,
            "starting_slots": view.starting_slots,
        },
        "throttles": {
            "max_starting": cloud.max_starting,
            "max_boots_per_cycle": cloud.max_boots_per_cycle,
            "idle_headroom": cloud.idle_headroom,
            "idle_keep": cloud.idle_keep,
            "single_use": cloud.single_use,
            "boot_timeout": cloud.boot_timeout,
            "register_timeout": cloud.register_timeout,
        },
        "default_image": cloud.default_image,
        "images": {"served": served, "present": _present(served, active)},
    }


def _rows(clouds: list[Cloud]) -> list[dict]:
    # cloud_views does not depend on the batch machine: the room is the cloud's own.
    views = {v.name: v for v in services.cloud_views(None, clouds)}
    ours = _ours(clouds)
    active: dict[int, set[str]] = defaultdict(set)
    for cloud_id, name in CloudImage.objects.filter(cloud__in=clouds, status="active").values_list(
        "cloud_id", "name"
    ):
        active[cloud_id].add(name)
    return [_cloud_row(c, views[c.name], ours[c.pk], active[c.pk]) for c in clouds]


def cloud_rows() -> list[dict]:
    """Every cloud: settings, health, quota, site caps, our VMs, the room the decision
    sees, throttles and images; by priority, then name."""
    return _rows(_clouds())


def cloud_detail(name: str) -> dict:
    """One cloud's row with its options, flavors, images, back-offs in force and its
    latest VMs. An unknown name is a ValidationError naming it."""
    cloud = get_cloud(name)
    data = _rows([cloud])[0]
    now = timezone.now()
    data["options"] = cloud.options
    data["flavors"] = [
        {"name": f.name, "ext_id": f.ext_id, "cores": f.cores, "ram_mb": f.ram_mb,
         "disk_gb": f.disk_gb, "enabled": f.enabled}
        for f in Flavor.objects.filter(cloud=cloud)
    ]  # fmt: skip
    data["cloud_images"] = [
        {"name": i.name, "ext_id": i.ext_id, "status": i.status,
         "checksum": images.display(i.checksums) if i.checksums else "", "size": i.size}
        for i in CloudImage.objects.filter(cloud=cloud).order_by("name", "ext_id")
    ]  # fmt: skip
    data["backoffs"] = [
        {"flavor": b.flavor, "image": b.image, "failures": b.failures, "until": b.until,
         "reason": b.reason}
        for b in Backoff.objects.filter(cloud=cloud, until__gt=now).order_by("until", "pk")
    ]  # fmt: skip
    data["vms"] = [vm_dict(vm) for vm in _vm_query().filter(cloud=cloud)[:LATEST_VMS]]
    return data


# -- VMs -------------------------------------------------------------------------------


def _vm_query():
    return VM.objects.select_related("cloud__machine", "batch", "flavor", "project").order_by(
        "-requested_at", "-pk"
    )


def vm_dict(vm: VM) -> dict:
    return {
        "id": vm.pk,
        "name": vm.name,
        "cloud": vm.cloud.name,
        "batch": vm.batch.name,
        "state": vm.state,
        "state_changed_at": vm.state_changed_at,
        "flavor": vm.flavor.name if vm.flavor else None,
        "image": vm.image,
        "cores": vm.cores,
        "ram_mb": vm.ram_mb,
        "project": vm.project.pid if vm.project else None,
        "account": vm.account,
        "group": vm.group,
        "server_id": vm.server_id,
        "requested_at": vm.requested_at,
        "active_at": vm.active_at,
        "registered_at": vm.registered_at,
        "idle_since": vm.idle_since,
        "ended_at": vm.ended_at,
        "end_reason": vm.end_reason,
        "retire_asked": vm.retire_asked,
        "last_error": vm.last_error,
        "step": vm.step,
    }


def vm_rows(
    *,
    cloud: str | None = None,
    state: str | None = None,
    batch: str | None = None,
    project: str | None = None,
    live_only: bool = False,
    limit: int = 200,
) -> list[dict]:
    """VMs, newest first, at most `limit` (capped at 1000). A filter naming no cloud,
    batch machine or VM state is a ValidationError naming it; `project` is a project's pid
    or an account, in any case."""
    vms = _vm_query()
    if cloud is not None:
        vms = vms.filter(cloud=get_cloud(cloud))
    if batch is not None:
        if not Machine.objects.filter(name=batch).exists():
            raise ValidationError(f'There is no machine "{batch}".')
        vms = vms.filter(batch__name=batch)
    if state is not None:
        if state not in VMStates.states:
            known = ", ".join(VMStates.states)
            raise ValidationError(f'"{state}" is not a VM state (one of: {known}).')
        vms = vms.filter(state=state)
    if project is not None:
        vms = vms.filter(Q(project__pid__iexact=project) | Q(account__iexact=project))
    if live_only:
        vms = vms.filter(state__in=LIVE)
    limit = max(0, min(int(limit), VM_LIMIT_MAX))
    return [vm_dict(vm) for vm in vms[:limit]]


def get_vm(name_or_id: str | int) -> VM:
    """A number is the VM's id; a name is the live VM of that name, else the latest (names
    come back into use once a VM is deleted)."""
    text = str(name_or_id).strip()
    if is_digits(text):
        vm = _vm_query().filter(pk=int(text)).first()
        if vm is None:
            raise ValidationError(f"There is no VM with id {text}.")
        return vm
    named = _vm_query().filter(name=text)
    vm = named.filter(state__in=LIVE).first() or named.first()
    if vm is None:
        raise ValidationError(f'There is no VM named "{text}".')
    return vm


def vm_detail(name_or_id: str | int) -> dict:
    """One VM with its deadline, the operator actions offered and its state history
    (newest first, as a node's)."""
    vm = get_vm(name_or_id)
    data = vm_dict(vm)
    data["deadline"] = fsm.deadline(vm)
    data["actions"] = [str(a) for a in fsm.actions(vm)]
    data["history"] = history_dicts(vm)
    return data


# -- the decisions ---------------------------------------------------------------------


def _cycle_dict(cycle: Cycle | None) -> dict | None:
    if cycle is None:
        return None
    report = cycle.report or {}
    shortfall = report.get("shortfall", {})
    return {
        "at": cycle.at,
        "seconds": round(cycle.seconds, 4),
        "idle_jobs": cycle.idle_jobs,
        "groups": cycle.groups,
        "boots": cycle.boots,
        "boots_by_cloud": report.get("boots", {}),
        "boots_by_account": report.get("boots_by_account", {}),
        "refusals": report.get("refusals", {}),
        "shortfall": shortfall,
        # VMs the idle jobs wanted beyond those coming, before this decision's boots; and
        # what was left wanting after them (the refused ones)
        "shortfall_vms": sum(shortfall.values()),
        "still_short_vms": max(0, sum(shortfall.values()) - cycle.boots),
        "demand": report.get("demand", {}),
        "supply": report.get("supply", {}),
        "running_jobs": report.get("running_jobs", 0),
    }


def _allocations(clouds: list[Cloud], accounts: set[str]) -> dict[str, dict]:
    """Each account's own allocation pools on the clouds' VM-hours pools in the periods
    covering today: allocated and used (charged) in the pool's units."""
    from allotment.grants.models import AllocationPool
    from allotment.grants.services import summarise

    pools = services.vm_pools(clouds)
    if not pools or not accounts:
        return {}
    today = timezone.localdate()
    wanted = AllocationPool.objects.alias(pid=Lower("project__pid")).filter(
        resource_pool__in=pools,
        pid__in=[a.lower() for a in accounts],
        period__start__lte=today,
        period__end__gte=today,
    )
    found: dict[str, dict] = {}
    for s in summarise(wanted):
        row = found.setdefault(
            s.project.lower(), {"allocated": Decimal(0), "used": Decimal(0), "units": s.units}
        )
        row["allocated"] += s.allocated
        row["used"] += s.used
    return found


def _projects(batch: Machine, clouds: list[Cloud], cycle: dict | None) -> list[dict]:
    demand = (cycle or {}).get("demand", {})
    live = Counter(
        dict(
            VM.objects.filter(batch=batch, state__in=LIVE)
            .values_list("account")
            .annotate(n=Count("pk"))
            .order_by()
        )
    )
    accounts = set(demand) | set(live)
    remaining = services.remaining_by_account(clouds, accounts)
    allocations = _allocations(clouds, accounts)
    rows = []
    for account in sorted(accounts):
        own = allocations.get(account.lower())
        rows.append(
            {
                "account": account,
                "idle_jobs": demand.get(account, 0),
                "live_vms": live.get(account, 0),
                "vm_hours_allocated": own["allocated"] if own else None,
                "vm_hours_used": own["used"] if own else None,
                "remaining": remaining.get(account),
            }
        )
    return rows


def _batch_status(batch: Machine) -> dict:
    clouds = services.clouds_of(batch)
    cycle = _cycle_dict(Cycle.objects.filter(batch=batch).order_by("-at", "-pk").first())
    rows = _rows(clouds)
    boots = (cycle or {}).get("boots_by_cloud", {})
    supply = (cycle or {}).get("supply", {})
    return {
        "batch": batch.name,
        "partitions": services.burst_options(batch)["partitions"],
        "last_cycle": cycle,
        "clouds": [
            {
                "name": r["name"],
                "enabled": r["enabled"],
                "health": r["health"],
                "health_reason": r["health_reason"],
                "priority": r["priority"],
                "quota": r["quota"],
                "free": r["free"],
                "live": r["ours"]["by_state"],
                "live_vms": r["ours"]["instances"],
                "boots": boots.get(r["name"], 0),
                "supply": supply.get(r["name"], 0),
            }
            for r in rows
        ],
        "projects": _projects(batch, clouds, cycle),
    }


def burst_status(batch: str | None = None) -> dict:
    """Per bursting batch machine (or the one named): its last decision, its clouds and
    its projects' demand, VMs and VM-hours."""
    if batch is None:
        machines = services.bursting_machines()
    else:
        machine = Machine.objects.filter(name=batch).first()
        if machine is None:
            raise ValidationError(f'There is no machine "{batch}".')
        if not Cloud.objects.filter(serves=machine).exists():
            raise ValidationError(f"Machine {batch} bursts into no cloud.")
        machines = [machine]
    return {"at": timezone.now(), "batches": [_batch_status(m) for m in machines]}


# -- over time -------------------------------------------------------------------------


def vms_over_time(*, hours: int = 24, points: int = 96) -> dict:
    """VMs alive per cloud at `points` instants ending now and `hours` apart in all (at
    most 31 days and 500 points). A VM is alive from its request to its end; one not ended
    is alive now (one deleted without an end time ended when it was deleted). One query
    and one pass over the window's VMs."""
    hours = max(1, min(int(hours), HOURS_MAX))
    points = max(2, min(int(points), POINTS_MAX))
    now = timezone.now()
    start = now - timedelta(hours=hours)
    span = now - start
    instants = [start + span * i // (points - 1) for i in range(points)]
    series: dict[str, list[int]] = {
        name: [0] * (points + 1) for name in Cloud.objects.values_list("machine__name", flat=True)
    }
    vms = VM.objects.filter(requested_at__lte=now).filter(
        Q(ended_at__isnull=True) & ~Q(state="deleted")
        | Q(ended_at__gt=start)
        | Q(ended_at__isnull=True, state="deleted", state_changed_at__gt=start)
    )
    rows = vms.values_list("cloud__machine__name", "requested_at", "ended_at", "state",
                           "state_changed_at")  # fmt: skip
    for cloud, begun, ended, state, changed in rows:
        if ended is None and state == "deleted":
            ended = changed
        # Alive at instant t when begun <= t < ended: from the first instant at or after
        # its start to the first at or after its end (exclusive).
        first = bisect_left(instants, begun)
        last = points if ended is None else bisect_left(instants, ended)
        if first >= last:
            continue
        counts = series.setdefault(cloud, [0] * (points + 1))
        counts[first] += 1
        counts[last] -= 1
    out = {}
    for cloud, deltas in sorted(series.items()):
        running, values = 0, []
        for d in deltas[:points]:
            running += d
            values.append(running)
        out[cloud] = values
    return {"labels": [t.isoformat() for t in instants], "series": out}


# -- images ----------------------------------------------------------------------------


def image_copies() -> dict[str, dict]:
    """Each image name the clouds hold active: the clouds holding it and the checksums
    their copies carry (as `allot image list` shows them beside the catalog's)."""
    found: dict[str, dict] = {}
    rows = CloudImage.objects.filter(status="active").values_list(
        "name", "cloud__machine__name", "checksums"
    )
    for name, cloud, checksums in rows.order_by("name", "cloud__machine__name"):
        entry = found.setdefault(name, {"clouds": [], "checksums": []})
        if cloud not in entry["clouds"]:
            entry["clouds"].append(cloud)
        shown = images.display(checksums) if checksums else "unknown"
        if shown not in entry["checksums"]:
            entry["checksums"].append(shown)
    return found
