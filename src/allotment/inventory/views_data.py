"""Nodes and shifts as plain dicts, for the CLI's tables and JSON (and the API's)."""

from __future__ import annotations

from allotment.core import fsm

from .models import Node, Shift
from .services import shift_progress


def node_dict(node: Node) -> dict:
    return {
        "name": node.name,
        "state": node.state,
        "service": node.service.name if node.service else None,
        "destination": node.destination.name if node.destination else None,
        "shift": node.shift_id,
        "site": node.site,
        "rack": node.rack,
        "rack_unit": node.rack_unit,
        "cpus": node.cpus,
        "memory_mb": node.memory_mb,
        "gpus": node.gpus,
        "disks": node.disks,
        "macs": node.macs,
        "tags": node.tags,
        "bmc_driver": node.bmc_driver,
        "bmc_address": node.bmc_address,
        "protected": node.protected,
        "maintenance": node.maintenance,
        "maintenance_reason": node.maintenance_reason,
        "provisioner": node.provisioner.name if node.provisioner else None,
        "provision_id": node.provision_id,
        "image": node.image.name if node.image else None,
        "last_error": node.last_error,
        "step": node.step,
        "state_changed_at": node.state_changed_at,
        "actions": [str(a) for a in fsm.actions(node)],
    }


def history_dicts(node: Node, limit: int = 200) -> list[dict]:
    changes = fsm.history(node).select_related("actor").order_by("-at", "-pk")[:limit]
    return [
        {"at": c.at, "from": c.from_state, "to": c.to_state, "event": c.event,
         "reason": c.reason, "by": c.actor.username if c.actor else None, "via": c.via}
        for c in changes
    ]  # fmt: skip


def shift_dict(shift: Shift, *, items: bool = True) -> dict:
    data = {
        "id": shift.pk,
        "to_service": shift.to_service.name,
        "image": shift.image.name,
        "drain_timeout_seconds": int(shift.drain_timeout.total_seconds()),
        "force": shift.force,
        "parallel": shift.parallel,
        "created_at": shift.created_at,
        "created_by": shift.created_by.username if shift.created_by else None,
        "via": shift.via,
        "finished_at": shift.finished_at,
        "aborted": shift.aborted,
        "progress": shift_progress(shift),
    }
    if items:
        data["items"] = [
            {"node": i.node.name, "from": i.from_service.name if i.from_service else None,
             "outcome": i.outcome, "state": i.node.state, "step": i.node.step,
             "detail": i.detail, "error": i.node.last_error,
             "started_at": i.started_at, "finished_at": i.finished_at}
            for i in shift.items.select_related("node", "from_service")
        ]  # fmt: skip
    return data
