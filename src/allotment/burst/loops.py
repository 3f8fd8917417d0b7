"""Burst's loops, run by `allot agent`:

Intervals are settings (ALLOTMENT_BURST_*_INTERVAL); the defaults:

- burst.clouds (per cloud, 30 s): quota, flavors, images and servers read into the
  database; health counted; orphans swept. An unhealthy cloud is asked again each pass,
  which is how it becomes healthy.
- burst.decide (per bursting batch machine, 10 s): the queue read, the decision taken,
  VMs to boot recorded.
- burst.vm (per live VM, 3 s): one step of its life (reconcile).

All talk to engines, so they are at-least-once (not `atomic`): every step observes first.
"""

from django.conf import settings

from allotment.agent.registry import Loop


def clouds():
    from .models import Cloud

    return list(Cloud.objects.filter(enabled=True).select_related("machine"))


def refresh_cloud(cloud) -> dict:
    from . import services

    servers = services.refresh(cloud)
    return services.sweep_orphans(cloud, servers)


def batch_machines():
    from .services import bursting_machines

    return bursting_machines()


def decide(machine) -> dict:
    from .services import run_cycle

    cycle = run_cycle(machine)
    return {"boots": cycle.boots, "idle_jobs": cycle.idle_jobs, "groups": cycle.groups}


def vms():
    from .reconcile import targets

    return targets()


def step_vm(vm) -> str:
    from .reconcile import step

    return step(vm)


CLOUDS = Loop(
    name="burst.clouds",
    interval=settings.BURST_CLOUDS_INTERVAL,
    targets=clouds,
    key=lambda cloud: cloud.name,
    step=refresh_cloud,
    lease=120,
    target_kind="cloud",
)
DECIDE = Loop(
    name="burst.decide",
    interval=settings.BURST_DECIDE_INTERVAL,
    targets=batch_machines,
    key=lambda machine: machine.name,
    step=decide,
    lease=120,
    target_kind="machine",
)
VMS = Loop(
    name="burst.vm",
    interval=settings.BURST_VM_INTERVAL,
    targets=vms,
    key=lambda vm: f"{vm.pk}",
    step=step_vm,
    lease=120,
    target_kind="VM",
)
