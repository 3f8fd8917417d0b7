"""Charging a VM's time to the projects whose jobs used it.

A VM is charged from the moment its boot was asked until the cloud no longer lists it
(what a cloud bills), as VM-seconds on the cloud's machine: its resources in a
`vm_seconds` pool take the usage through the same aggregation and charging as jobs
(usage.aggregate.rebuild_vms), so allocations, reports and burn-down charts include it.
The seconds are shared among the accounts whose jobs ran on it, by the core-seconds each
used there (the batch system's own record); a VM that ran no job is charged to the
project it was booted for.

No work is charged twice: the jobs that ran on burst VMs are still imported from the
batch system and reported (jobs, core-seconds, waits), but usage.aggregate charges the
jobs of a machine's burst partitions to no resource; what the projects pay for is the
VMs' time. One VMCharge row per (cloud, server id, account), written once (a unique
constraint; the step that writes them may run twice) and keyed by the cloud's server id,
since VM names come back into use.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from . import drivers
from .models import VM, VMCharge


def shares(total: int, weights: dict[str, int]) -> dict[str, int]:
    """`total` split in proportion to `weights`, in whole numbers adding up to `total`
    (largest remainder, ties by name)."""
    weights = {k: w for k, w in weights.items() if w > 0}
    whole = sum(weights.values())
    if not whole or total <= 0:
        return {}
    parts = {k: total * w // whole for k, w in weights.items()}
    left = total - sum(parts.values())
    order = sorted(weights, key=lambda k: (-(total * weights[k] % whole), k))
    for k in order[:left]:
        parts[k] += 1
    return parts


def charge(vm: VM, ended: datetime) -> list[VMCharge]:
    """Write the VM's charges (once) and aggregate the days they touch."""
    if not vm.server_id or vm.charged_at is not None:
        return []
    start = int(vm.requested_at.timestamp())
    end = max(int(ended.timestamp()), start)
    seconds = end - start
    used = drivers.queue(vm.batch).core_seconds(vm.name, start, end) if vm.registered_at else {}
    split = shares(seconds, used) or ({vm.account: seconds} if seconds else {})
    from .services import projects_by_account

    projects = {low: p.pk for low, p in projects_by_account([*split, vm.account]).items()}
    rows = [
        VMCharge(
            cloud_id=vm.cloud_id,
            server_id=vm.server_id,
            vm_name=vm.name,
            project_id=projects.get(account.lower()),
            account=account,
            start_ts=start,
            end_ts=end,
            seconds=amount,
            cores=vm.cores,
        )
        for account, amount in sorted(split.items())
    ]
    with transaction.atomic():
        VMCharge.objects.bulk_create(rows, ignore_conflicts=True)
        VM.objects.filter(pk=vm.pk).update(charged_at=timezone.now(), ended_at=ended)
        from allotment.usage import aggregate

        aggregate.rebuild_vms(start, end)
    vm.charged_at = timezone.now()
    return rows
