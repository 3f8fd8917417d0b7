"""State machines for long workflows: declared once per model, moved in one place.

A workflow (a node shifting between Slurm and OpenStack, a burst VM) is a `Machine`
subclass: its states are stable (nothing is happening), transitional (an agent is working
towards a target stable state, within a deadline) or failed (waiting for an operator, who
is offered named actions). Events are declared objects, so code says `move(node,
NodeStates.provision)`, never a bare string. The declaration is checked when its class is
created, so a machine that could strand an object fails at start-up, not in production.

`move` is the only writer of a `core.models.Stateful` row's state: it locks the row, checks
the event is declared from the state the row is in now (not the one the caller read), and
records the move as a `StateChange`. `sweep` fails transitional states past their deadline,
and `recover` settles the steps an agent was inside when it died, as Ironic's conductor
does on start. Why our own module and not a library: docs/architecture.md.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import ClassVar

from auditlog.context import auditlog_value
from django.apps import apps as django_apps
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import models, transaction
from django.db.models.signals import pre_save
from django.utils import timezone

from allotment.core.models import StateChange, Stateful

log = logging.getLogger(__name__)

NAME = re.compile(r"\A[a-z][a-z0-9_]{0,39}\Z")


class Kind(StrEnum):
    STABLE = "stable"
    TRANSITIONAL = "transitional"
    FAILED = "failed"


class Action(StrEnum):
    """What an operator may do with an object in a failed state."""

    RETRY = "retry"  # try the step again: back to a transitional state
    ABORT = "abort"  # give the workflow up: to a stable state
    FORCE = "force"  # the operator did the work by hand: to a stable state


class System(StrEnum):
    """Events the mechanism fires itself, from any transitional state to its failed state."""

    FAIL = "fail"  # the step reported a permanent error
    TIMEOUT = "timeout"  # the sweep found the state past its deadline
    INTERRUPTED = "interrupted"  # the agent died inside the step and could not resume it


ACTION_KINDS = {
    Action.RETRY: Kind.TRANSITIONAL,
    Action.ABORT: Kind.STABLE,
    Action.FORCE: Kind.STABLE,
}
RESERVED = {str(a) for a in Action} | {str(s) for s in System}


class State:
    """A declared state; its name is the attribute it is assigned to."""

    kind: ClassVar[Kind]
    name = ""
    target = ""
    timeout: timedelta | None = None
    fails_to = ""
    actions: Mapping[str, str] = {}

    def __init__(self, doc: str = ""):
        self.doc = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.kind} state {self.name}>"


class Stable(State):
    kind = Kind.STABLE


class Transitional(State):
    """Work in progress towards `target`, failing to `fails_to` if it outlives `timeout`."""

    kind = Kind.TRANSITIONAL

    def __init__(self, *, target: str, timeout: timedelta, fails_to: str, doc: str = ""):
        super().__init__(doc)
        self.target, self.timeout, self.fails_to = target, timeout, fails_to


class Failed(State):
    """Waiting for an operator: `actions` maps an `Action` name to the state it leads to."""

    kind = Kind.FAILED

    def __init__(self, doc: str = "", **actions: str):
        super().__init__(doc)
        self.actions = actions


class Event:
    """A declared transition: from any of `source` to `dest`."""

    name = ""

    def __init__(self, source: str | Iterable[str], dest: str, doc: str = ""):
        self.sources = (source,) if isinstance(source, str) else tuple(source)
        self.dest, self.doc = dest, doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<event {self.name}: {', '.join(self.sources)} → {self.dest}>"


class DeclarationError(ImproperlyConfigured):
    """A machine declaration that could strand an object; raised when its class is created."""


def problems(initial: str, states: Mapping[str, State], events: Mapping[str, Event]) -> list[str]:
    """Everything wrong with a declaration, as sentences naming the state or event.

    Each transitional state must name a stable target it can reach through declared events
    (so the workflow can finish) and a failed state (so a stuck one can stop); each failed
    state must offer an operator at least one action, of the right kind; every state must be
    reachable from the initial one (an unreachable state is usually a typo).
    """
    found: list[str] = []
    kind = {name: s.kind for name, s in states.items()}
    for name in [*states, *events]:
        if not NAME.match(name):
            found.append(f'"{name}" is not a name (a-z, 0-9 and _, at most 40 characters)')
    if kind.get(initial) not in (Kind.STABLE, Kind.TRANSITIONAL):
        found.append(
            f'the initial state "{initial}" is not a declared stable or transitional state'
        )
    for name, event in events.items():
        if name in RESERVED:
            found.append(f'event "{name}" has a name the mechanism reserves')
        if not event.sources:
            found.append(f'event "{name}" has no source state')
        for state in [*event.sources, event.dest]:
            if state not in kind:
                found.append(f'event "{name}" names an undeclared state "{state}"')
    for name, state in states.items():
        if state.kind == Kind.TRANSITIONAL:
            if kind.get(state.target) != Kind.STABLE:
                found.append(f'transitional state "{name}": target "{state.target}" is not stable')
            if kind.get(state.fails_to) != Kind.FAILED:
                found.append(
                    f'transitional state "{name}": fails_to "{state.fails_to}" is not failed'
                )
            if not isinstance(state.timeout, timedelta) or state.timeout <= timedelta(0):
                found.append(f'transitional state "{name}" has no positive timeout')
        if state.kind == Kind.FAILED:
            if not state.actions:
                found.append(f'failed state "{name}" offers the operator no action')
            for action, dest in state.actions.items():
                if action not in ACTION_KINDS:
                    found.append(f'failed state "{name}": "{action}" is not an operator action')
                elif kind.get(dest) != ACTION_KINDS[Action(action)]:
                    want = ACTION_KINDS[Action(action)]
                    found.append(f'failed state "{name}": {action} must lead to a {want} state')
    by_events = _edges(states, events, events_only=True)
    for name, state in states.items():
        if state.kind != Kind.TRANSITIONAL or kind.get(state.target) != Kind.STABLE:
            continue
        if state.target not in _reachable(name, by_events):
            found.append(
                f'transitional state "{name}" cannot reach its target "{state.target}" '
                "through declared events"
            )
    if initial not in states:
        return found
    unreachable = set(states) - _reachable(initial, _edges(states, events, events_only=False))
    for name in sorted(unreachable):
        found.append(f'state "{name}" cannot be reached from the initial state "{initial}"')
    return found


def _edges(states, events, *, events_only: bool) -> dict[str, set[str]]:
    """Which states lead to which; names that resolve to no state (reported) are left out."""
    pairs = [(src, e.dest) for e in events.values() for src in e.sources]
    if not events_only:
        for name, state in states.items():
            pairs += [(name, dest) for dest in [state.fails_to, *state.actions.values()]]
    edges: dict[str, set[str]] = {name: set() for name in states}
    for source, dest in pairs:
        if source in states and dest in states:
            edges[source].add(dest)
    return edges


def _reachable(start: str, edges: Mapping[str, set[str]]) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in edges[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


class Machine:
    """A workflow's declaration. Subclass it; never instantiate it.

    Class attributes that are `State`s and `Event`s are collected when the subclass is
    created and checked by `problems`; `initial` names the state a new row starts in (a
    transitional one when creating the row is the request, as for a burst VM).
    """

    initial: ClassVar[str]
    states: ClassVar[dict[str, State]]
    events: ClassVar[dict[str, Event]]
    table: ClassVar[dict[tuple[str, str], str]]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        attrs: dict[str, object] = {}
        for klass in reversed(cls.__mro__):
            attrs.update(vars(klass))
        cls.states = {k: v for k, v in attrs.items() if isinstance(v, State)}
        cls.events = {k: v for k, v in attrs.items() if isinstance(v, Event)}
        found = problems(getattr(cls, "initial", ""), cls.states, cls.events)
        if found:
            raise DeclarationError(f"{cls.__name__}: " + "; ".join(found) + ".")
        table = {(src, name): e.dest for name, e in cls.events.items() for src in e.sources}
        for name, state in cls.states.items():
            table.update({(name, action): dest for action, dest in state.actions.items()})
            if state.kind == Kind.TRANSITIONAL:
                table.update({(name, str(event)): state.fails_to for event in System})
        cls.table = table

    @classmethod
    def allowed_from(cls, event: str) -> list[str]:
        return sorted(src for (src, name) in cls.table if name == event)


def _event_name(event: Event | Action | System) -> str:
    return event.name if isinstance(event, Event) else str(event)


class TransitionRefused(ValidationError):
    """A move the declaration does not allow from the object's current state.

    A ValidationError, so the CLI and the API report it like any other refused change.
    """

    def __init__(self, obj: Stateful, event: str, why: str = ""):
        machine = type(obj).machine
        state = machine.states.get(obj.state)
        where = f'{obj._meta.verbose_name} "{obj}" is {obj.state}'
        if state is not None and state.kind == Kind.TRANSITIONAL:
            where += f" (heading for {state.target})"
        elif state is not None and state.kind == Kind.FAILED:
            where += f" (failed: {obj.last_error})" if obj.last_error else " (failed)"
        if not why:
            sources = machine.allowed_from(event)
            why = f'"{event}" is allowed only from {", ".join(sources) or "no state"}'
        super().__init__(f"{where}; {why}.")
        self.obj, self.state, self.event = obj, obj.state, event


REASON_MAX = 2000  # an engine's error text can be a page; the page shows the start

FIELDS = [
    "state", "target_state", "state_changed_at", "last_error", "step", "step_owner",
    "step_started_at",
]  # fmt: skip


def move(
    obj: Stateful,
    event: Event | Action | System,
    *,
    reason: str = "",
    actor=None,
    via: str = "",
    guard: Callable[[Stateful], str | None] | None = None,
    changes: Mapping[str, object] | Callable[[Stateful, str], Mapping[str, object]] | None = None,
) -> StateChange:
    """Move `obj` by `event`: the only way a stateful object changes state.

    The row is locked and re-read, so two callers that both saw the same state cannot both
    move it: the second sees the first one's result and is refused unless the event is
    declared from there too. `guard` may refuse on the locked row (return why). Entering a
    failed state needs a reason: it is what the operator will read. `actor` and `via`
    default to the audit context (the request's person, `via` of the CLI or the agent).
    `changes` are other fields written in the same UPDATE as the state, for rules a database
    constraint ties to it (a node's service is set exactly while it is in one); a callable
    is given the locked row and the destination state and returns them. `obj` is updated in
    place.
    """
    model = type(obj)
    machine = model.machine
    name = _event_name(event)
    if len(reason) > REASON_MAX:
        reason = reason[: REASON_MAX - 1] + "…"
    foreign = isinstance(event, Event) and machine.events.get(name) is not event
    if foreign or not any(n == name for (_, n) in machine.table):
        raise ValueError(f"{machine.__name__} declares no event {name!r}")
    if actor is None or not via:
        context_actor, context_via = _audit_context()
        actor, via = actor or context_actor, via or context_via
    via = via[:20]
    with transaction.atomic(using=obj._state.db):
        locked = model._base_manager.select_for_update().get(pk=obj.pk)
        dest = machine.table.get((locked.state, name))
        if dest is None:
            raise TransitionRefused(locked, name)
        if guard is not None and (why := guard(locked)):
            raise TransitionRefused(locked, name, why)
        new = machine.states[dest]
        if new.kind == Kind.FAILED and not reason:
            raise ValueError(f"moving {locked} to the failed state {dest} needs a reason")
        if callable(changes):
            changes = changes(locked, dest)
        source = locked.state
        now = timezone.now()
        locked.state, locked.state_changed_at = dest, now
        if new.kind == Kind.STABLE:
            locked.target_state, locked.last_error = "", ""
        elif new.kind == Kind.TRANSITIONAL:
            locked.target_state = new.target
        else:
            locked.last_error = reason  # target_state stays: what it failed to reach
        locked.step, locked.step_owner, locked.step_started_at = "", "", None
        for field, value in (changes or {}).items():
            setattr(locked, field, value)
        locked.save(update_fields=[*FIELDS, *(changes or {})])
        change = StateChange.objects.using(obj._state.db).create(
            content_type=ContentType.objects.db_manager(obj._state.db).get_for_model(model),
            object_id=locked.pk,
            from_state=source,
            to_state=dest,
            event=name,
            reason=reason,
            actor=actor,
            via=via,
            at=now,
        )
    for field in [*FIELDS, *(changes or {})]:
        setattr(obj, field, getattr(locked, field))
    return change


def _audit_context() -> tuple[object | None, str]:
    """The actor and channel the audit log will record for this change, if any is set.

    auditlog leaves its context variable set after a request or `set_extra_data` ends and
    only disconnects its signal receiver; a context whose receiver is gone is stale (another
    request's person) and is ignored.
    """
    try:
        context = auditlog_value.get()
    except LookupError:
        return None, ""
    uid = context.get("signal_duid")
    if not any(isinstance(r[0], tuple) and r[0][0] == uid for r in pre_save.receivers):
        return None, ""
    actor = context.get("actor")
    via = (context.get("additional_data") or {}).get("via", "")
    return (actor if isinstance(actor, get_user_model()) else None), str(via)[:20]


def stateful_models(registry=django_apps) -> list[type[Stateful]]:
    """Every concrete stateful model, for the agent to sweep and recover at start."""
    return [m for m in registry.get_models() if issubclass(m, Stateful)]


def history(obj: Stateful) -> models.QuerySet[StateChange]:
    """The object's moves, oldest first."""
    content_type = ContentType.objects.get_for_model(type(obj))
    return StateChange.objects.filter(content_type=content_type, object_id=obj.pk)


def deadline(obj: Stateful) -> datetime | None:
    """When a transitional state becomes its failed state; None for any other state."""
    timeout = type(obj).machine.states[obj.state].timeout
    return obj.state_changed_at + timeout if timeout else None


def actions(obj: Stateful) -> list[Action]:
    """The operator actions offered now (empty unless the object is in a failed state)."""
    return [Action(a) for a in type(obj).machine.states[obj.state].actions]


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _offer(state: State) -> str:
    names = list(state.actions)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def sweep(model: type[Stateful], now: datetime | None = None) -> list[StateChange]:
    """Fail every transitional state past its deadline, with a reason an operator can act on.

    Candidates are found with one query per state; each is then moved under its lock only if
    it is still in that state and still past the deadline, so a row that finished or was
    retried meanwhile is left alone.
    """
    now = now or timezone.now()
    moved = []
    for name, state in model.machine.states.items():
        if state.kind != Kind.TRANSITIONAL:
            continue
        limit = now - state.timeout
        failed = model.machine.states[state.fails_to]
        reason = f"{name} took longer than {_duration(state.timeout)}; {_offer(failed)}"

        def overdue(row: Stateful, name=name, limit=limit) -> str | None:
            if row.state != name or row.state_changed_at > limit:
                return "it is no longer overdue"
            return None

        for obj in model._base_manager.filter(state=name, state_changed_at__lte=limit):
            try:
                moved.append(move(obj, System.TIMEOUT, reason=reason, guard=overdue))
            except TransitionRefused:
                continue  # moved on meanwhile
    return moved


class Outcome(StrEnum):
    GOING = "going"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class Observed:
    """What a recovery hook saw in the engine about an interrupted step.

    `going`: the engine is still doing it (the step marker is cleared and the next tick
    carries on); `done`: it finished, and `event` moves the object on; `failed`: it did not,
    and `reason` says why.
    """

    outcome: Outcome
    event: Event | None = None
    reason: str = ""

    @classmethod
    def going(cls) -> Observed:
        return cls(Outcome.GOING)

    @classmethod
    def done(cls, event: Event, reason: str = "") -> Observed:
        return cls(Outcome.DONE, event, reason)

    @classmethod
    def failed(cls, reason: str) -> Observed:
        return cls(Outcome.FAILED, reason=reason)


def begin_step(obj: Stateful, step: str, owner: str) -> None:
    """Record, before calling the engine, that `owner` is inside `step` of `obj`'s state.

    Commit this before the engine call: it is what `recover` finds if the agent dies there.
    Refused unless the object is still in the transitional state the caller saw and no
    other owner is inside a step of it.
    """
    seen = obj.state
    with transaction.atomic(using=obj._state.db):
        locked = type(obj)._base_manager.select_for_update().get(pk=obj.pk)
        if locked.state != seen or locked.machine.states[seen].kind != Kind.TRANSITIONAL:
            raise TransitionRefused(locked, step, f"step {step} needs it {seen}")
        if locked.step and locked.step_owner != owner:
            raise TransitionRefused(
                locked, step, f"{locked.step_owner} is inside step {locked.step}"
            )
        locked.step, locked.step_owner, locked.step_started_at = step, owner, timezone.now()
        locked.save(update_fields=["step", "step_owner", "step_started_at"])
    obj.step, obj.step_owner, obj.step_started_at = step, owner, locked.step_started_at


def end_step(obj: Stateful, owner: str) -> None:
    """Clear `owner`'s step marker when a step returned without moving the object."""
    type(obj)._base_manager.filter(pk=obj.pk, step_owner=owner).update(
        step="", step_owner="", step_started_at=None
    )
    obj.step, obj.step_owner, obj.step_started_at = "", "", None


def recover(
    model: type[Stateful],
    *,
    owner: str | None = None,
    exclude_owners: Collection[str] = (),
    observe: Callable[[Stateful], Observed] | None = None,
) -> list[tuple[Stateful, Observed]]:
    """Settle the steps an agent was inside when it died (all owners', or `owner`'s, less
    those of `exclude_owners`: agents still alive, which are inside their steps).

    With `observe`, the engine decides: still going, done, or failed. Without it, or when it
    says failed, the object moves to its failed state with a reason naming the step. A hook
    that raises leaves the object as it is: the engine could not be asked, and the sweep
    fails the state at its deadline if no later start settles it.
    """
    transitional = [n for n, s in model.machine.states.items() if s.kind == Kind.TRANSITIONAL]
    rows = model._base_manager.filter(state__in=transitional).exclude(step="")
    if owner is not None:
        rows = rows.filter(step_owner=owner)
    if exclude_owners:
        rows = rows.exclude(step_owner__in=exclude_owners)
    settled = []
    for obj in rows.order_by("pk"):
        step, who, state = obj.step, obj.step_owner, obj.state
        try:
            seen = observe(obj) if observe else Observed.failed("")
        except Exception:
            log.exception("recovery could not observe %s %s (step %s)", model.__name__, obj, step)
            continue

        def unchanged(row: Stateful, was=(state, step, who)) -> str | None:
            if (row.state, row.step, row.step_owner) != was:
                return "it changed while it was being recovered"
            return None

        failed = model.machine.states[model.machine.states[state].fails_to]
        try:
            if seen.outcome == Outcome.GOING:
                end_step(obj, who)
            elif seen.outcome == Outcome.DONE:
                move(obj, seen.event, reason=seen.reason or f"{step} found done", guard=unchanged)
            else:
                why = seen.reason or "the agent stopped before it finished"
                reason = f"interrupted inside step {step} of {state} ({who}): {why}; "
                move(obj, System.INTERRUPTED, reason=reason + _offer(failed), guard=unchanged)
        except TransitionRefused:
            continue
        settled.append((obj, seen))
    return settled
