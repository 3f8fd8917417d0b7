"""One node's shift, one step per tick: observe the engines, compare with the node's
persisted state, take the next step, record it.

Every step starts from what the engines say now, and every request to an engine is
idempotent, so a step cut short (the agent killed between asking Ironic to deploy and
recording it) is simply taken again by whichever agent runs the node next: Ironic already
deploys that image, so nothing is asked twice. Moves between states go through
core.fsm.move under the node's row lock; the ones that change a machine's capacity do it
in the same transaction, so capacity is changed exactly once.

A step never waits for an engine: it returns what it is waiting for, and the loop comes
back on its next tick (metal3's "continue after N s").
"""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from allotment.core import fsm

from . import capacity, drivers
from .engines import EngineError, ImageSpec, NodeSpec, Provision, ProvisionStatus
from .models import Node, Outcome, Shift, ShiftNode
from .states import NodeStates

log = logging.getLogger(__name__)

TRANSITIONAL = [n for n, s in NodeStates.states.items() if s.kind == fsm.Kind.TRANSITIONAL]


def targets() -> list[Node]:
    """The nodes with work to do: in a shift, or in a transitional state."""
    return list(
        Node.objects.filter(Q(shift__isnull=False) | Q(state__in=TRANSITIONAL))
        .select_related("shift", "service", "destination", "provisioner", "image")
        .order_by("name")
    )


@dataclass
class Context:
    node: Node
    shift: Shift | None
    item: ShiftNode | None
    owner: str
    engine_step: str = ""

    def note(self, detail: str) -> str:
        """What the node waits for or did, on its shift item for the page and `shift show`."""
        if self.item is not None and self.item.detail != detail:
            ShiftNode.objects.filter(pk=self.item.pk).update(detail=detail[:2000])
            self.item.detail = detail
        return detail


def step(node: Node, owner: str = "") -> str:
    """Take `node`'s next step; return what happened or what it waits for."""
    node = Node.objects.select_related(
        "shift", "shift__to_service", "shift__image", "service", "destination", "provisioner"
    ).get(pk=node.pk)
    owner = owner or _agent_identity()
    _clear_dead_marker(node, owner)
    shift = node.shift
    item = ShiftNode.objects.filter(shift=shift, node=node).first() if shift else None
    ctx = Context(node, shift, item, owner)
    if item is not None and item.outcome == Outcome.WAITING and not _take_slot(ctx):
        return ctx.note(f"waiting: {shift.parallel} nodes of shift {shift.pk} move at once")
    handler = HANDLERS.get(node.state)
    if handler is None:
        kind = NodeStates.states[node.state].kind
        if kind == fsm.Kind.FAILED:
            return ctx.note(f"{node.state}: {node.last_error}")
        return "nothing to do"
    try:
        return handler(ctx)
    except EngineError as e:
        if e.permanent and NodeStates.states[node.state].kind == fsm.Kind.TRANSITIONAL:
            node.refresh_from_db()
            if NodeStates.states[node.state].kind == fsm.Kind.TRANSITIONAL:
                fsm.move(node, fsm.System.FAIL, reason=str(e))
            return ctx.note(f"failed: {e}")
        ctx.note(f"engine: {e}; trying again")
        raise


def _agent_identity() -> str:
    from allotment.agent.context import current_identity

    return current_identity() or f"allot-{os.getpid()}"


def _clear_dead_marker(node: Node, owner: str) -> None:
    """A step marker another agent left. Inside the agent this step holds the node's lease,
    which a live agent renews while its step runs: so the marker's owner died (or hung past
    its lease) and the step is taken again; every step observes first and is idempotent.
    Outside the agent (tests, the demo) a marker of a live agent is left alone."""
    if not node.step or node.step_owner == owner:
        return
    from allotment.agent.context import current_identity
    from allotment.agent.leases import live_agents

    if not current_identity() and node.step_owner in {a.identity for a in live_agents()}:
        return
    log.warning("%s: %s stopped inside step %s; taking it again", node, node.step_owner, node.step)
    fsm.end_step(node, node.step_owner)


def _take_slot(ctx: Context) -> bool:
    """Start this node's move if its shift has a free slot (its --parallel) and the site
    limit (ALLOTMENT_SHIFT_MAX_PARALLEL nodes moving at once over all shifts) allows."""
    from .services import max_parallel

    with transaction.atomic():
        shift = Shift.objects.select_for_update().get(pk=ctx.shift.pk)
        if shift.aborted:
            return False
        moving = ShiftNode.objects.filter(outcome=Outcome.MOVING)
        if moving.filter(shift=shift).count() >= shift.parallel:
            return False
        if moving.count() >= max_parallel():
            return False
        updated = ShiftNode.objects.filter(pk=ctx.item.pk, outcome=Outcome.WAITING).update(
            outcome=Outcome.MOVING, started_at=timezone.now()
        )
        ctx.item.outcome = Outcome.MOVING
        return bool(updated)


def _finish(ctx: Context, outcome: Outcome, detail: str) -> None:
    """The node's part in its shift is over: release it; close the shift when it was last."""
    node, shift = ctx.node, ctx.shift
    now = timezone.now()
    with transaction.atomic():
        ShiftNode.objects.filter(pk=ctx.item.pk).update(
            outcome=outcome if ctx.item.outcome != Outcome.ABORTED else Outcome.ABORTED,
            finished_at=now,
            detail=detail,
        )
        Node.objects.filter(pk=node.pk, shift=shift).update(shift=None, destination=None)
        node.shift = node.destination = None
        open_items = ShiftNode.objects.filter(
            shift=shift, outcome__in=[Outcome.WAITING, Outcome.MOVING]
        )
        if not open_items.exists():
            Shift.objects.filter(pk=shift.pk, finished_at__isnull=True).update(finished_at=now)


def crash_point(label: str) -> None:
    """Fault injection for the tests that SIGKILL the agent at every step of a shift:
    ALLOTMENT_CRASH_AT=LABEL kills this process when it gets there. Labels:
    STATE:STEP:before|after around each engine call, moved:STATE after each move."""
    if os.environ.get("ALLOTMENT_CRASH_AT") == label:
        os.kill(os.getpid(), signal.SIGKILL)


def _in_engine(ctx: Context, name: str):
    """Mark the step before calling an engine (what a restart finds if we die there); in a
    stable state the request is idempotent and the state says enough."""
    if NodeStates.states[ctx.node.state].kind == fsm.Kind.TRANSITIONAL:
        fsm.begin_step(ctx.node, name, ctx.owner)
    ctx.engine_step = f"{ctx.node.state}:{name}"
    crash_point(f"{ctx.engine_step}:before")


def _done_engine(ctx: Context) -> None:
    crash_point(f"{ctx.engine_step}:after")
    if ctx.node.step:
        fsm.end_step(ctx.node, ctx.owner)


def _move(node: Node, event, **kwargs) -> None:
    fsm.move(node, event, **kwargs)
    crash_point(f"moved:{node.state}")


def _aborted(ctx: Context) -> bool:
    return ctx.item is not None and (
        ctx.item.outcome == Outcome.ABORTED or (ctx.shift is not None and ctx.shift.aborted)
    )


# -- the provisioner ------------------------------------------------------------------------


def _provisioner_status(ctx: Context) -> ProvisionStatus:
    node = ctx.node
    port = drivers.provisioner(node.provisioner)
    if not node.provision_id:
        return ProvisionStatus(Provision.MISSING)
    return port.statuses([node.provision_id])[node.provision_id]


def _ensure_enrolled(ctx: Context) -> str:
    node = ctx.node
    if node.provisioner is None:
        raise EngineError(f"{node} has no provisioner", permanent=True)
    port = drivers.provisioner(node.provisioner)
    spec = NodeSpec(
        node.name, node.bmc_driver, node.bmc_address, tuple(node.macs), node.cpus, node.memory_mb
    )
    _in_engine(ctx, "enroll")
    ident = port.enroll(spec)
    _done_engine(ctx)
    if ident != node.provision_id:
        Node.objects.filter(pk=node.pk).update(provision_id=ident)
        node.provision_id = ident
    return ident


def _image(shift: Shift) -> ImageSpec:
    return ImageSpec(shift.image.name, shift.image.source_url, shift.image.checksum)


# -- the handlers, one per state with work to do --------------------------------------------


def on_enrolled(ctx: Context) -> str:
    if ctx.shift is None:
        return "nothing to do"
    _ensure_enrolled(ctx)
    _move(ctx.node, NodeStates.enroll, reason=f"enrolled with {ctx.node.provisioner}")
    return on_available(ctx)


def on_available(ctx: Context) -> str:
    node = ctx.node
    if ctx.shift is None:
        return "nothing to do"
    if _aborted(ctx):
        _finish(ctx, Outcome.ABORTED, "aborted: left available")
        return "aborted"
    if not node.provision_id or _provisioner_status(ctx).state == Provision.MISSING:
        _ensure_enrolled(ctx)
    _move(
        node,
        NodeStates.provision,
        reason=f"deploying {ctx.shift.image} for {ctx.shift.to_service} (shift {ctx.shift.pk})",
        changes={"image": ctx.shift.image},
    )
    return on_provisioning(ctx)


def on_provisioning(ctx: Context) -> str:
    node, shift = ctx.node, ctx.shift
    if shift is None:  # a retry after its shift was given up: nowhere to go
        fsm.move(node, fsm.System.FAIL, reason="no shift says where to deploy it; abort")
        return "failed: no destination"
    port = drivers.provisioner(node.provisioner)
    status = _provisioner_status(ctx)
    want = _image(shift)
    if status.state == Provision.MISSING:
        _ensure_enrolled(ctx)
        return ctx.note("enrolled again with the provisioner")
    if status.state == Provision.FAILED and status.image == want.source_url:
        fsm.move(node, fsm.System.FAIL, reason=f"the deploy failed: {status.error}")
        return ctx.note(f"deploy failed: {status.error}")
    if status.state in (Provision.AVAILABLE, Provision.FAILED):
        _in_engine(ctx, "deploy")
        port.deploy(node.provision_id, want)
        _done_engine(ctx)
        return ctx.note(f"deploying {shift.image}")
    if status.state == Provision.ACTIVE and status.image == want.source_url:
        with transaction.atomic():
            fsm.move(
                node,
                NodeStates.provisioned,
                reason=f"{shift.image} deployed; joining {shift.to_service}",
                changes={"service": shift.to_service},
            )
        crash_point("moved:joining")
        return on_joining(ctx)
    if status.state == Provision.ACTIVE:  # another image: take it off first
        _in_engine(ctx, "undeploy")
        port.undeploy(node.provision_id)
        _done_engine(ctx)
        return ctx.note(f"undeploying {status.image or 'another image'} first")
    return ctx.note(f"provisioner: {status.state}" + (f" ({status.error})" if status.error else ""))


def on_joining(ctx: Context) -> str:
    node = ctx.node
    service = node.service
    port = drivers.service(service)
    _in_engine(ctx, "boot")
    port.start(node.name)  # on a real site the image starts the daemon itself
    host = port.host(node.name)
    if host.known and host.drained_by_us:
        port.resume(node.name)
    _done_engine(ctx)
    why = port.health(node.name)
    if why:
        return ctx.note(f"joining {service}: {why}")
    with transaction.atomic():
        fsm.move(
            node,
            NodeStates.joined,
            reason=f"in service in {service}",
            changes={"destination": None},
        )
        capacity.change(service, node, +1, ctx.shift)
    crash_point("moved:in_service")
    if ctx.item is not None:
        _finish(ctx, Outcome.DONE, f"in service in {service}")
    return f"in service in {service}"


def on_in_service(ctx: Context) -> str:
    node, shift = ctx.node, ctx.shift
    if shift is None:
        return "nothing to do"
    port = drivers.service(node.service)
    if _aborted(ctx):  # back from an aborted drain: undo our drain, never another's
        _in_engine(ctx, "resume")
        port.resume(node.name)
        _done_engine(ctx)
        _finish(ctx, Outcome.ABORTED, f"aborted: back in service in {node.service}")
        return "aborted"
    if shift.to_service_id == node.service_id:  # forced into service after a failed join
        _finish(ctx, Outcome.DONE, f"in service in {node.service}")
        return "done"
    host = port.host(node.name)
    _in_engine(ctx, "drain")
    port.drain(node.name, shift.reason)
    _done_engine(ctx)
    drained_by = "" if not host.drained or host.drained_by_us else host.reason
    _move(
        node,
        NodeStates.drain,
        reason=f"draining out of {node.service} for shift {shift.pk}"
        + (f" (already drained by someone else: {drained_by})" if drained_by else ""),
    )
    return on_draining(ctx)


def on_draining(ctx: Context) -> str:
    node, shift = ctx.node, ctx.shift
    port = drivers.service(node.service)
    work = port.workload(node.name)
    if not work:
        _move(node, NodeStates.emptied, reason=f"nothing runs on it in {node.service}")
        return on_drained(ctx)
    if shift is None:
        return ctx.note(f"draining: {len(work)} still running")
    host = port.host(node.name)
    if not host.drained:  # someone resumed it meanwhile: the shift still wants it
        port.drain(node.name, shift.reason)
    _in_engine(ctx, "evacuate")
    moved = port.evacuate(node.name, force=False)
    _done_engine(ctx)
    waited = timezone.now() - node.state_changed_at
    names = ", ".join(w.id for w in work[:10]) + (" …" if len(work) > 10 else "")
    if waited >= shift.drain_timeout:
        if shift.force:
            _in_engine(ctx, "force")
            forced = port.evacuate(node.name, force=True)
            _done_engine(ctx)
            return ctx.note(
                f"drain timeout: forced {', '.join(forced.started) or 'nothing yet'}; "
                f"waiting for {names}"
            )
        minutes = int(shift.drain_timeout.total_seconds() // 60)
        _move(
            node,
            fsm.System.TIMEOUT,
            reason=f"{len(work)} still running after {minutes} min ({names}); retry to wait "
            "longer, force once they are gone by hand, or abort to return it to service",
        )
        return ctx.note(f"drain timeout: {names}")
    refused = "; ".join(f"{k}: {v}" for k, v in moved.refused.items())
    cannot = f"; cannot move {refused}" if refused else ""
    return ctx.note(f"draining: waiting for {len(work)} ({names}){cannot}")


def on_drained(ctx: Context) -> str:
    node, shift = ctx.node, ctx.shift
    if shift is None:
        return "nothing to do"
    if _aborted(ctx):  # stays the service's, taking no work (a join given up included)
        _in_engine(ctx, "drain")
        drivers.service(node.service).drain(node.name, shift.reason)
        _done_engine(ctx)
        _finish(ctx, Outcome.ABORTED, f"aborted: drained in {node.service}")
        return "aborted"
    if shift.to_service_id == node.service_id:  # back into service where it is
        _move(node, NodeStates.undrain, reason=f"back into service in {node.service}")
        return on_joining(ctx)
    with transaction.atomic():
        fsm.move(node, NodeStates.leave, reason=f"leaving {node.service} for {shift.to_service}")
        capacity.change(node.service, node, -1, shift)
    crash_point("moved:leaving")
    return on_leaving(ctx)


def on_leaving(ctx: Context) -> str:
    """Take the host out of the service, undeploy, and once the provisioner has the node
    back, make sure the service let it go. On a real site nova-compute runs until the
    node is undeployed, so the service is asked again after the undeploy, not waited for
    before it."""
    node = ctx.node
    port = drivers.service(node.service)
    _in_engine(ctx, "stop")
    port.stop(node.name)
    _done_engine(ctx)
    status = _provisioner_status(ctx)
    if status.state == Provision.MISSING:  # adopted nodes meet the provisioner here
        _ensure_enrolled(ctx)
        status = _provisioner_status(ctx)
    if status.state in (Provision.ACTIVE, Provision.FAILED):
        _in_engine(ctx, "undeploy")
        drivers.provisioner(node.provisioner).undeploy(node.provision_id)
        _done_engine(ctx)
        return ctx.note("undeploying")
    if status.state != Provision.AVAILABLE:
        return ctx.note(f"provisioner: {status.state}")
    if port.host(node.name).up:
        return ctx.note(f"waiting for {node.service} to let {node.name} go")
    _move(
        node,
        NodeStates.left,
        reason=f"out of {node.service}, image removed",
        changes={"service": None, "image": None},
    )
    return on_available(ctx)


HANDLERS = {
    "enrolled": on_enrolled,
    "available": on_available,
    "provisioning": on_provisioning,
    "joining": on_joining,
    "in_service": on_in_service,
    "draining": on_draining,
    "drained": on_drained,
    "leaving": on_leaving,
}


def run_until_settled(nodes, *, timeout: float = 600, pause: float = 0.2) -> None:
    """Step `nodes` until none has work left or `timeout` passes: for tests and the demo,
    where no agent runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = [n for n in targets() if n.pk in {x.pk for x in nodes}]
        if not busy or all(NodeStates.states[n.state].kind == fsm.Kind.FAILED for n in busy):
            return
        for node in busy:
            try:
                step(node)
            except EngineError as e:  # temporary: asked again next round, as the agent does
                log.info("%s: %s; trying again", node, e)
        time.sleep(pause)
    raise TimeoutError(f"nodes still moving after {timeout} s")
