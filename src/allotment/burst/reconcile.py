"""One VM's life, one step per tick: observe the cloud and the batch system, compare with
the VM's persisted state, take the next step, record it.

Each step starts from what the engines say now and every request is idempotent, so a
step the agent died inside is simply taken again: the boot is asked by the VM's name and
the cloud answers with the server it already has (never a second one); a delete of a
server that is gone is no error; a drain of a drained node changes nothing. A server the
database never learnt of (the agent killed between the cloud's answer and the commit)
carries our tag and the VM's name, so the next step finds it, or the orphan sweep does.
"""

from __future__ import annotations

import logging
import os
import signal

from django.utils import timezone

from allotment.core import fsm
from allotment.inventory import drivers as inventory_drivers
from allotment.inventory.engines import REASON_PREFIX, HostState

from . import charging, contextualize, drivers, lifecycle, services
from .engines import TAG_KEY, VM_KEY, BootRequest, EngineError, ServerInfo, ServerStatus
from .models import VM, CloudImage
from .states import LIVE, VMStates

log = logging.getLogger(__name__)

# The services resume only drains that are theirs (REASON_PREFIX), as a shift's: a VM
# name used again must come back undrained.
RETIRE_REASON = f"{REASON_PREFIX}: burst VM retiring"


def targets() -> list[VM]:
    return list(
        VM.objects.filter(state__in=[*LIVE, "abandoned"])
        .select_related("cloud", "cloud__machine", "batch", "flavor", "project")
        .order_by("requested_at", "name")
    )


def crash_point(name: str) -> None:
    """Die here when ALLOTMENT_CRASH_AT names this point (the SIGKILL tests)."""
    if os.environ.get("ALLOTMENT_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def step(vm: VM) -> str:
    """Take the VM's next step; return what it did or waits for (for the agent's log)."""
    vm.refresh_from_db()
    handler = HANDLERS.get(vm.state)
    if handler is None:
        return f"nothing to do in {vm.state}"
    try:
        return handler(vm)
    except EngineError as e:
        if e.permanent:
            raise
        return f"waiting: {e}"


def _server(vm: VM) -> ServerInfo | None:
    servers = services.servers_of(vm.cloud)
    if vm.server_id:
        found = next((s for s in servers if s.id == vm.server_id), None)
        if found is not None:
            return found
    return next(
        (s for s in servers
         if s.tags.get(VM_KEY) == vm.name and s.tags.get(TAG_KEY) == services.site_tag()),
        None,
    )  # fmt: skip


def _host(vm: VM) -> HostState:
    return inventory_drivers.service(vm.batch).host(vm.name)


def _to_deleting(vm: VM, reason: str, *, backoff: bool = False) -> str:
    if backoff:
        services.back_off(vm, reason)
    fsm.move(vm, VMStates.delete, reason=reason, changes={"end_reason": reason[:500]})
    return f"deleting: {reason}"


def on_requested(vm: VM) -> str:
    cloud = vm.cloud
    if not services.healthy(cloud):
        fsm.move(vm, VMStates.abandon, reason=f"cloud {cloud.name} is unhealthy")
        return "abandoned"
    if vm.retire_asked:
        return _to_deleting(vm, "retired before it booted")
    server = _server(vm)
    if server is None:
        image = (
            CloudImage.objects.filter(cloud=cloud, name=vm.image, status="active")
            .values_list("ext_id", flat=True)
            .first()
        )
        if image is None or vm.flavor is None:
            return _to_deleting(vm, f"image {vm.image} or its flavor is gone from {cloud.name}")
        request = BootRequest(
            name=vm.name,
            flavor_id=vm.flavor.ext_id,
            image_id=image,
            user_data=contextualize.user_data(vm.batch, vm.name),
            tags={TAG_KEY: services.site_tag(), VM_KEY: vm.name},
        )
        crash_point("burst.before_boot")
        try:
            server_id = drivers.cloud(cloud).boot(request)
        except EngineError as e:
            if e.permanent:
                return _to_deleting(vm, f"boot refused: {e}", backoff=True)
            services.record_failure(cloud, e)
            raise
        services.forget_servers(cloud)
        crash_point("burst.after_boot")
    else:
        server_id = server.id
    fsm.move(vm, VMStates.boot, changes={"server_id": server_id})
    crash_point("burst.after_booting")
    return f"booting as {server_id}"


def on_booting(vm: VM) -> str:
    cloud = vm.cloud
    now = timezone.now()
    if vm.retire_asked:
        return _to_deleting(vm, "retired while booting")
    server = _server(vm)
    if server is None:
        if lifecycle.server_lost(_seconds_since(vm.state_changed_at, now)):
            return _to_deleting(vm, f"the cloud {cloud.name} lost the server")
        return "waiting for the cloud to list the server"
    if server.status == ServerStatus.ERROR:
        return _to_deleting(vm, f"boot failed: {server.fault or 'ERROR'}", backoff=True)
    if server.status != ServerStatus.ACTIVE:
        if lifecycle.boot_timed_out(_seconds_since(vm.state_changed_at, now), cloud.boot_timeout):
            return _to_deleting(vm, f"not running after {cloud.boot_timeout} s", backoff=True)
        return f"the cloud builds it ({server.status})"
    if vm.active_at is None:
        VM.objects.filter(pk=vm.pk).update(active_at=now)
        vm.active_at = now
    service = inventory_drivers.service(vm.batch)
    service.start(vm.name)  # on loopback the image's boot is played here; elsewhere nothing
    host = service.host(vm.name)
    if host.known and host.up:
        if host.drained and host.reason.startswith(REASON_PREFIX):
            service.resume(vm.name)
        services.clear_backoff(vm)
        fsm.move(vm, VMStates.registered, changes={"registered_at": now, "idle_since": now})
        return "registered"
    if lifecycle.registration_timed_out(_seconds_since(vm.active_at, now), cloud.register_timeout):
        return _to_deleting(
            vm, f"did not join {vm.batch.name} within {cloud.register_timeout} s", backoff=True
        )
    return f"waiting for {vm.name} to join {vm.batch.name}"


def _busy(vm: VM) -> bool:
    return bool(inventory_drivers.service(vm.batch).workload(vm.name))


def on_running(vm: VM) -> str:
    """idle or busy: follow the node; retire an idle one nobody needs."""
    cloud = vm.cloud
    now = timezone.now()
    host = _host(vm)
    if not host.known or not host.up:
        away = _seconds_since(vm.state_changed_at, now)
        if lifecycle.registration_timed_out(away, cloud.register_timeout):
            return _to_deleting(vm, f"{vm.name} left {vm.batch.name}")
        return "the node does not answer"
    busy = _busy(vm)
    if busy and vm.state == "idle":
        fsm.move(vm, VMStates.took_work, changes={"idle_since": None})
        if not cloud.single_use:
            return "busy"
        # single use: drained at once, so no later job lands on it (below)
    if not busy and vm.state == "busy":
        fsm.move(vm, VMStates.went_idle, changes={"idle_since": now})
        return "idle"
    why = lifecycle.retire_reason(
        asked=vm.retire_asked,
        cloud=cloud.name,
        enabled=cloud.enabled,
        idle_too_long=vm.state == "idle" and _idle_too_long(vm, now),
        idle_keep_s=cloud.idle_keep,
        single_use_served=cloud.single_use and vm.state == "busy",
    )
    if why:
        inventory_drivers.service(vm.batch).drain(vm.name, f"{RETIRE_REASON} ({why})")
        crash_point("burst.after_drain")
        fsm.move(vm, VMStates.retire, reason=why, changes={"end_reason": why[:500]})
        return f"retiring: {why}"
    return vm.state


def _seconds_since(then, now) -> float:
    return (now - then).total_seconds()


def _idle_too_long(vm: VM, now) -> bool:
    idle = None if vm.idle_since is None else _seconds_since(vm.idle_since, now)
    return lifecycle.idle_to_retire(
        idle,
        vm.cloud.idle_keep,
        vm.cloud.idle_headroom,
        lambda: VM.objects.filter(
            cloud=vm.cloud, state="idle", idle_since__gt=vm.idle_since
        ).count(),
        lambda: lifecycle.starved_of_room(_last_refusals(vm)),
    )


def _last_refusals(vm: VM) -> dict:
    """What the last decision for the VM's batch machine refused, by reason."""
    from .models import Cycle

    report = Cycle.objects.filter(batch=vm.batch).values_list("report", flat=True).first()
    return (report or {}).get("refusals", {})


def on_retiring(vm: VM) -> str:
    service = inventory_drivers.service(vm.batch)
    host = service.host(vm.name)
    if host.known and host.up:
        if not host.drained:
            service.drain(vm.name, f"{RETIRE_REASON} ({vm.end_reason})")
        if service.workload(vm.name):
            return "waiting for its jobs to end"
    fsm.move(vm, VMStates.delete, reason="drained")
    return "deleting"


def on_deleting(vm: VM) -> str:
    cloud = vm.cloud
    inventory_drivers.service(vm.batch).stop(vm.name)
    server = _server(vm)
    if server is not None:
        crash_point("burst.before_delete")
        drivers.cloud(cloud).delete(server.id)
        services.forget_servers(cloud)
        crash_point("burst.after_delete")
        return "the cloud deletes it"
    now = timezone.now()
    charging.charge(vm, ended=vm.ended_at or now)
    crash_point("burst.after_charge")
    fsm.move(vm, VMStates.gone, changes={"ended_at": vm.ended_at or now})
    return "deleted"


def on_abandoned(vm: VM) -> str:
    if not services.healthy(vm.cloud):
        return f"waiting for cloud {vm.cloud.name} to answer"
    fsm.move(vm, VMStates.reclaim, reason=f"cloud {vm.cloud.name} answers again")
    return "reclaimed: deleting"


HANDLERS = {
    "requested": on_requested,
    "booting": on_booting,
    "idle": on_running,
    "busy": on_running,
    "retiring": on_retiring,
    "deleting": on_deleting,
    "abandoned": on_abandoned,
}
