"""The inventory's writers: importing and editing nodes, asking for shifts, and the
operator's retry, abort and force. The CLI, the API, the pages and the agent call these;
none calls an engine (the agent's reconcile step does that), so a web request only ever
changes desired state.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import hostlist
import yaml
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from allotment.core import fsm
from allotment.core.validation import apply_changes, error_messages, get_named
from allotment.resources.models import Machine, MachineKind

from . import capacity
from .models import NODE_NAME_RE, Image, Node, Outcome, Provisioner, Shift, ShiftNode
from .states import IN_A_SERVICE, MAX_DRAIN, NodeStates

MAX_NODES_PER_REQUEST = 10_000  # a range such as n[1-99999999] is refused, not expanded


# -- host ranges ----------------------------------------------------------------------------


def expand(text: str) -> list[str]:
    """Host names from a range list such as "n[001-016],cnode[1-2]" (python-hostlist, as
    Slurm writes them), in order, without repeats; a malformed range is an error naming it."""
    text = (text or "").strip()
    if not text:
        raise ValidationError("Name at least one node (a name or a range such as n[001-016]).")
    try:
        names = hostlist.expand_hostlist(text)
    except hostlist.BadHostlist as e:
        raise ValidationError(f'"{text}" is not a node name or range: {e}.') from None
    if len(names) > MAX_NODES_PER_REQUEST:
        raise ValidationError(
            f'"{text}" names {len(names):,} nodes; at most {MAX_NODES_PER_REQUEST:,} at once.'
        )
    # hostlist takes any text between commas as a name ("0\n0", "a b"): no node is called
    # that, and such a name must be refused here, not crash the error message that lists it
    bad = [n for n in names if not re.match(NODE_NAME_RE, n)]
    if bad:
        raise ValidationError(
            f"{bad[0]!r} is not a node name (letters, digits, '_', '.' or '-', starting with a "
            "letter or digit, at most 63 characters)."
        )
    return list(dict.fromkeys(names))


def collapse(names: Iterable[str]) -> str:
    return hostlist.collect_hostlist(list(names))


def nodes_named(text: str, queryset=None) -> list[Node]:
    """The nodes a range names, in its order; unknown names are an error that lists them."""
    names = expand(text)
    queryset = Node.objects.all() if queryset is None else queryset
    found = {n.name: n for n in queryset.filter(name__in=names)}
    missing = [n for n in names if n not in found]
    if missing:
        raise ValidationError(
            f"No node named {collapse(missing)} in the inventory"
            + (f" ({len(missing)} names)." if len(missing) > 1 else ".")
        )
    return [found[n] for n in names]


# -- editing --------------------------------------------------------------------------------

SETTABLE = (
    "site", "rack", "rack_unit", "bmc_address", "bmc_driver", "macs", "cpus", "memory_mb",
    "gpus", "disks", "tags", "protected", "maintenance", "maintenance_reason", "provisioner",
)  # fmt: skip


def set_nodes(nodes: Sequence[Node], changes: dict) -> list[Node]:
    """The same changes on every node, all or none. Turning maintenance off clears its
    reason; a node in maintenance is never shifted."""
    if changes.get("maintenance") is False:
        changes.setdefault("maintenance_reason", "")
    with transaction.atomic():
        return [apply_changes(node, SETTABLE, dict(changes)) for node in nodes]


# -- import ---------------------------------------------------------------------------------

FIELDS = {
    "name", "site", "rack", "rack_unit", "bmc_address", "bmc_driver", "macs", "cpus",
    "memory_mb", "gpus", "disks", "tags", "protected", "maintenance", "maintenance_reason",
    "provisioner", "service",
}  # fmt: skip
LISTS = ("macs", "disks", "tags")
INTS = ("rack_unit", "cpus", "memory_mb", "gpus")
BOOLS = ("protected", "maintenance")


@dataclass
class ImportResult:
    created: list[str]
    updated: list[str]
    adopted: list[str]


class _LineLoader(yaml.SafeLoader):
    """Keeps each mapping's line, so an error can name file:line."""


def _mapping_with_line(loader, node):
    data = loader.construct_mapping(node, deep=True)
    data["__line__"] = node.start_mark.line + 1
    return data


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)


def _records(path: Path, text: str) -> list[tuple[int, dict]]:
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            data = yaml.load(text, Loader=_LineLoader)  # a SafeLoader subclass
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else str(path)
            raise ValidationError(f"{where}: not YAML: {getattr(e, 'problem', e)}") from None
        if isinstance(data, dict) and "nodes" in data:
            data = data["nodes"]
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise ValidationError(f"{path}: give a list of nodes (or a mapping with `nodes:`).")
        # an alias (*a) repeats the same mapping: copy each before taking its line off
        return [(r.get("__line__", 0), {k: v for k, v in r.items() if k != "__line__"})
                for r in data]  # fmt: skip
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "name" not in reader.fieldnames:
        raise ValidationError(f"{path}:1: the header needs a `name` column.")
    unknown = set(reader.fieldnames) - FIELDS
    if unknown:
        raise ValidationError(f"{path}:1: unknown columns {', '.join(sorted(unknown))}.")
    records = []
    for row in reader:
        if None in row:  # csv puts cells beyond the header under None
            raise ValidationError(
                f"{path}:{reader.line_num}: more cells than the header has columns."
            )
        records.append((reader.line_num, {k: v for k, v in row.items() if v not in (None, "")}))
    return records


MAX_INT = 2**31 - 1


def _text(raw) -> str:
    if isinstance(raw, dict | list | tuple | set) or raw is None:
        raise ValueError("give a text value")
    text = str(raw)
    if "\x00" in text:
        raise ValueError("a NUL character is not allowed")
    return text


def _value(field: str, raw):
    if field in LISTS:
        if isinstance(raw, str):
            return [part.strip() for part in _text(raw).replace(";", " ").split() if part.strip()]
        if not isinstance(raw, list):
            raise ValueError("give a list")
        return [_text(v) for v in raw]
    if field in INTS:
        if isinstance(raw, bool | dict | list):
            raise ValueError("give a whole number")
        number = int(raw)
        if not 0 <= number <= MAX_INT:
            raise ValueError(f"give a whole number from 0 to {MAX_INT}")
        return number
    if field in BOOLS:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "y"):
            return True
        if text in ("0", "false", "no", "n", ""):
            return False
        raise ValueError("give true or false")
    return _text(raw)


def import_nodes(path: str | Path, text: str | None = None) -> ImportResult:
    """Nodes from a CSV (a header row naming the fields) or YAML (a list of mappings) file.

    A `name` may be a range (n[001-016]) giving every node the same fields. Existing nodes
    (by name) are updated; a `service` records a new node as already in that service. All
    or nothing: the first bad row stops the import with file:line, the field and why.
    """
    path = Path(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ValidationError(f"{path}: cannot read it: {e}") from None
    result = ImportResult([], [], [])
    provisioners = {p.name: p for p in Provisioner.objects.all()}
    seen: dict[str, int] = {}
    with transaction.atomic():
        for line, record in _records(path, text):
            where = f"{path}:{line}"
            unknown = set(record) - FIELDS
            if unknown:
                raise ValidationError(f"{where}: unknown fields {', '.join(sorted(unknown))}.")
            if "name" not in record:
                raise ValidationError(f"{where}: name: a node needs a name.")
            try:
                names = expand(str(record["name"]))
            except ValidationError as e:
                raise ValidationError(f"{where}: name: {' '.join(e.messages)}") from None
            values = {}
            for field, raw in record.items():
                if field in ("name", "service", "provisioner"):
                    continue
                try:
                    values[field] = _value(field, raw)
                except (ValueError, TypeError) as e:
                    raise ValidationError(f"{where}: {field}: {raw!r}: {e}.") from None
            if "provisioner" in record:
                p = provisioners.get(str(record["provisioner"]))
                if p is None:
                    known = ", ".join(provisioners) or "none yet"
                    raise ValidationError(
                        f'{where}: provisioner: no provisioner "{record["provisioner"]}" '
                        f"(known: {known})."
                    )
                values["provisioner"] = p
            service = None
            if "service" in record:
                service = Machine.objects.filter(name=str(record["service"])).first()
                if service is None:
                    raise ValidationError(
                        f'{where}: service: there is no machine "{record["service"]}".'
                    )
            for name in names:
                if name in seen:
                    raise ValidationError(f"{where}: name: {name} is also on line {seen[name]}.")
                seen[name] = line
                try:
                    _import_one(name, values, service, result)
                except ValidationError as e:
                    raise ValidationError(
                        f"{where}: node {name}: " + "; ".join(error_messages(e))
                    ) from None
    return result


def _import_one(name: str, values: dict, service: Machine | None, result: ImportResult):
    node = Node.objects.filter(name=name).first()
    if node is None:
        node = Node(name=name, **values)
        node.provisioner = node.provisioner or default_provisioner()
        node.full_clean()
        node.save()
        result.created.append(name)
    else:
        apply_changes(node, SETTABLE, values)
        result.updated.append(name)
    if service is not None:
        if node.service_id == service.pk:
            return
        if node.state not in ("enrolled", "available"):
            raise ValidationError(
                f"service: it is {node.state}"
                + (f" in {node.service}" if node.service else "")
                + f"; shift it to {service} instead"
            )
        _require_service(service)
        fsm.move(node, NodeStates.adopt, reason="imported as in service",
                 changes={"service": service, "counted_in": service})  # fmt: skip
        result.adopted.append(name)


def default_provisioner() -> Provisioner | None:
    """The site's provisioner when it has exactly one."""
    found = list(Provisioner.objects.all()[:2])
    return found[0] if len(found) == 1 else None


# -- shifts ---------------------------------------------------------------------------------


def _require_service(machine: Machine) -> None:
    if machine.kind not in (MachineKind.BATCH, MachineKind.CLOUD):
        raise ValidationError(
            f'"{machine}" is a {machine.get_kind_display().lower()} machine; nodes shift '
            "between batch (Slurm) and cloud (OpenStack) services."
        )
    if machine.end_date and machine.end_date < timezone.localdate():
        raise ValidationError(f'"{machine}" was retired on {machine.end_date}.')


def image_for(service: Machine, name: str | None = None) -> Image:
    """The image named, else the service's own (engine_options "image"), else the only image
    of its kind; it must serve that kind of service."""
    if name:
        image = get_named(Image.objects, "image", name)
    elif (service.engine_options or {}).get("image"):
        image = get_named(Image.objects, "image", service.engine_options["image"])
    else:
        images = list(Image.objects.filter(kind=service.kind)[:2])
        if len(images) != 1:
            raise ValidationError(
                f"Name the image for {service} with --image: there are {len(images) or 'no'}"
                f"{'+' if len(images) == 2 else ''} {service.kind} images and {service} names "
                'none (engine_options "image").'
            )
        image = images[0]
    if image.kind != service.kind:
        raise ValidationError(
            f'Image "{image}" is for {image.kind} services; {service} is a {service.kind} service.'
        )
    return image


def max_parallel() -> int:
    return int(getattr(settings, "ALLOTMENT_SHIFT_MAX_PARALLEL", 100))


def request_shift(
    nodes: Sequence[Node],
    to_service: Machine,
    *,
    image: str | None = None,
    drain_timeout: timedelta = timedelta(hours=2),
    force: bool = False,
    parallel: int = 10,
    actor=None,
    via: str = "",
) -> Shift:
    """Ask for `nodes` to be moved into `to_service`. Refused as a whole, naming each node
    and why, if any cannot go: protected, in maintenance, already shifting, already there,
    in a failed state, without a provisioner, or leaving its service below its minimum."""
    _require_service(to_service)
    chosen = image_for(to_service, image)
    if not timedelta(0) <= drain_timeout <= MAX_DRAIN:
        raise ValidationError(f"The drain timeout must be between 0 and {MAX_DRAIN.days} days.")
    if not 1 <= parallel <= max_parallel():
        raise ValidationError(f"Nodes moving at once must be between 1 and {max_parallel()}.")
    if not nodes:
        raise ValidationError("Name at least one node.")
    with transaction.atomic():
        locked = list(
            Node.objects.select_for_update(of=("self",))
            .filter(pk__in=[n.pk for n in nodes])
            .select_related("service", "provisioner")
            .order_by("name")
        )
        fallback = default_provisioner()
        problems = []
        for node in locked:
            why = _refusal(node, to_service, fallback)
            if why:
                problems.append(f"{node.name}: {why}")
        problems += _below_minimum(locked)
        if problems:
            raise ValidationError(problems)
        shift = Shift.objects.create(
            to_service=to_service, image=chosen, drain_timeout=drain_timeout, force=force,
            parallel=parallel, created_by=actor, via=via[:20],
        )  # fmt: skip
        ShiftNode.objects.bulk_create(
            [ShiftNode(shift=shift, node=n, from_service=n.service) for n in locked]
        )
        for node in locked:
            node.shift, node.destination = shift, to_service
            if node.provisioner is None:
                node.provisioner = fallback
            node.save(update_fields=["shift", "destination", "provisioner"])
    return shift


def _refusal(node: Node, to: Machine, fallback: Provisioner | None) -> str:
    if node.protected:
        return "it is protected (unprotect it to allow shifts)"
    if node.maintenance:
        return f"it is in maintenance ({node.maintenance_reason or 'no reason given'})"
    if node.shift_id:
        return f"it is already in shift {node.shift_id}"
    if node.service_id == to.pk and node.state != "drained":
        return f"it is already in {to}"
    if node.state not in ("enrolled", "available", "in_service", "drained"):
        return f"it is {node.state}; retry, force or abort it first"
    if node.provisioner is None and fallback is None:
        return "it has no provisioner (give it one)"
    return ""


def _below_minimum(nodes: Sequence[Node]) -> list[str]:
    """A service's engine_options "min_nodes": never drain it below that many in service."""
    leaving: dict[int, list[Node]] = {}
    for node in nodes:
        if node.service_id and node.state == "in_service":
            leaving.setdefault(node.service_id, []).append(node)
    problems = []
    for service_id, going in leaving.items():
        service = going[0].service
        floor = int((service.engine_options or {}).get("min_nodes", 0))
        if not floor:
            continue
        staying = (
            Node.objects.filter(service_id=service_id, state="in_service", shift__isnull=True)
            .exclude(pk__in=[n.pk for n in going])
            .count()
        )
        if staying < floor:
            problems.append(
                f"{service} keeps at least {floor} nodes in service (engine_options "
                f'"min_nodes"); shifting {collapse(n.name for n in going)} would leave {staying}'
            )
    return problems


def operator_action(node: Node, action: fsm.Action, *, actor=None, via: str = "") -> Node:
    """Retry, abort or force a node in a failed state. Abort ends its part in the shift: the
    agent then puts it back as it was (resumes a node it drained, undeploys a half-done
    deploy) and releases it; retry and force let the shift carry on."""
    reason = {
        fsm.Action.RETRY: "retried by the operator",
        fsm.Action.ABORT: "aborted by the operator",
        fsm.Action.FORCE: "forced by the operator: the work was done by hand",
    }[action]

    def membership(locked: Node, dest: str) -> dict:
        # An action that takes a node out of its service (leave_failed, forced to available)
        # clears it with the state, as the constraint demands.
        if dest not in IN_A_SERVICE and locked.service_id:
            return {"service": None, "image": None, "counted_in": None}
        return {}

    with transaction.atomic():
        fsm.move(node, action, reason=reason, actor=actor, via=via, changes=membership)
        if node.state == "in_service":  # forced in after a failed join: it counts now
            capacity.change(node.service, node, +1, node.shift)
        if action == fsm.Action.ABORT and node.shift_id:
            ShiftNode.objects.filter(shift_id=node.shift_id, node=node).update(
                outcome=Outcome.ABORTED, detail=reason
            )
    return node


def abort_shift(shift: Shift, *, actor=None, via: str = "") -> Shift:
    """Stop a shift: nodes not started stay where they are; draining nodes go back into
    service (the agent resumes them); failed nodes are aborted; nodes provisioning, joining
    or leaving finish that step and stop at the next stable state."""
    with transaction.atomic():
        shift = Shift.objects.select_for_update().get(pk=shift.pk)
        if shift.finished_at:
            raise ValidationError(f"Shift {shift.pk} has finished; there is nothing to abort.")
        shift.aborted = True
        shift.save(update_fields=["aborted"])
        for item in shift.items.select_related("node").filter(
            outcome__in=[Outcome.WAITING, Outcome.MOVING]
        ):
            node = item.node
            if item.outcome == Outcome.WAITING:
                item.outcome, item.detail = Outcome.ABORTED, "aborted before it started"
                item.finished_at = timezone.now()
                item.save(update_fields=["outcome", "detail", "finished_at"])
                Node.objects.filter(pk=node.pk, shift=shift).update(shift=None, destination=None)
                continue
            if node.state == "draining":
                fsm.move(node, fsm.System.FAIL, reason="the shift was aborted", actor=actor,
                         via=via)  # fmt: skip
            if fsm.Action.ABORT in fsm.actions(node):
                operator_action(node, fsm.Action.ABORT, actor=actor, via=via)
        if not shift.items.filter(outcome__in=[Outcome.WAITING, Outcome.MOVING]).exists():
            shift.finished_at = timezone.now()  # no node left for the agent to close it
            shift.save(update_fields=["finished_at"])
    return shift


def shift_progress(shift: Shift) -> dict:
    """Counts of its nodes by outcome, and whether it has finished."""
    counts = {o.value: 0 for o in Outcome}
    for row in shift.items.values("outcome").annotate(n=Count("pk")).order_by():
        counts[row["outcome"]] = row["n"]
    counts["total"] = sum(counts[o.value] for o in Outcome)
    counts["finished"] = bool(shift.finished_at)
    return counts
