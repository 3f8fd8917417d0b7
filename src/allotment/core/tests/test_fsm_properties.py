"""Property tests over state-machine declarations: every transitional state can finish (reach
a stable state through declared events, or stop in its failed state) and every failed state
offers the operator an action. `fsm.problems` is what a declaration runs when its class is
created; here hypothesis drives it with generated declarations, valid and invalid, and an
independent closure (Warshall's) is the oracle."""

import itertools
import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from allotment.core import fsm
from allotment.core.fsm import Kind
from allotment.core.tests.fsm_examples import NodeStates, VMStates


@dataclass
class Declaration:
    initial: str
    states: dict[str, fsm.State]
    events: dict[str, fsm.Event]

    def build(self) -> type[fsm.Machine]:
        """The declaration as a class, as a workflow would write it."""
        return type(
            "Generated", (fsm.Machine,), {"initial": self.initial, **self.states, **self.events}
        )


@st.composite
def valid_declarations(draw, extra_events: bool = True) -> Declaration:
    """Stable states, each reached from the first by a workflow: a chain of transitional
    states (each with its own failed state and a few operator actions) ending in a stable
    state; plus, optionally, any extra events (more edges never strand anything)."""
    stables = [f"s{i}" for i in range(draw(st.integers(1, 4)))]
    states: dict[str, fsm.State] = {s: fsm.Stable() for s in stables}
    events: dict[str, fsm.Event] = {}
    reached = [stables[0]]
    extra = draw(st.lists(st.sampled_from(stables), max_size=2))
    for target in stables[1:] + extra:
        source = draw(st.sampled_from(reached))
        chain = [f"t{len(states)}_{i}" for i in range(draw(st.integers(0, 3)))]
        for t in chain:
            failed = f"f_{t}"
            chosen = draw(st.sets(st.sampled_from(list(fsm.Action)), min_size=1))
            actions = {
                str(a): t if a == fsm.Action.RETRY else draw(st.sampled_from(stables))
                for a in chosen
            }
            seconds = draw(st.integers(1, 86_400))
            states[t] = fsm.Transitional(
                target=target, timeout=timedelta(seconds=seconds), fails_to=failed
            )
            states[failed] = fsm.Failed(**actions)
        path = [source, *chain, target]
        for a, b in itertools.pairwise(path):
            events[f"e{len(events)}"] = fsm.Event(a, b)
        reached.append(target)
    if extra_events:
        names = list(states)
        for a, b in draw(st.lists(st.tuples(st.sampled_from(names), st.sampled_from(names)))):
            events[f"x{len(events)}"] = fsm.Event(a, b)
    return Declaration(stables[0], states, events)


def closure(names: list[str], edges: set[tuple[str, str]]) -> dict[str, set[str]]:
    """Which states each state reaches (itself included), by Warshall's algorithm."""
    reach = {a: {b for b in names if a == b or (a, b) in edges} for a in names}
    for k in names:
        for i in names:
            if k in reach[i]:
                reach[i] |= reach[k]
    return reach


def event_edges(decl: Declaration) -> set[tuple[str, str]]:
    return {(s, e.dest) for e in decl.events.values() for s in e.sources}


def can_finish(decl: Declaration) -> bool:
    """The issue's two invariants: a transitional state reaches a stable state through
    events and can stop in a failed state; a failed state offers a way out of failure."""
    names = list(decl.states)
    reach = closure(names, event_edges(decl) & {(a, b) for a in names for b in names})
    kind = {n: s.kind for n, s in decl.states.items()}
    for name, state in decl.states.items():
        if state.kind == Kind.TRANSITIONAL:
            if not any(kind[r] == Kind.STABLE for r in reach[name]):
                return False
            if kind.get(state.fails_to) != Kind.FAILED:
                return False
        if state.kind == Kind.FAILED:
            dests = [kind.get(d) for a, d in state.actions.items() if a in set(fsm.Action)]
            if not any(d in (Kind.STABLE, Kind.TRANSITIONAL) for d in dests):
                return False
    return True


def test_the_example_node_and_vm_declarations_are_valid():
    for machine in (NodeStates, VMStates):
        assert fsm.problems(machine.initial, machine.states, machine.events) == []


@given(valid_declarations())
def test_a_valid_declaration_is_accepted_and_every_state_can_finish(decl):
    assert fsm.problems(decl.initial, decl.states, decl.events) == []
    machine = decl.build()
    assert can_finish(decl)
    for name, state in machine.states.items():
        if state.kind == Kind.FAILED:
            assert {a for (s, a) in machine.table if s == name} >= set(state.actions)
        if state.kind == Kind.TRANSITIONAL:
            assert machine.table[(name, "timeout")] == state.fails_to


FLAWS = [
    "no_action",
    "retry_to_stable",
    "abort_to_transitional",
    "cut_chain",
    "no_timeout",
    "fails_to_stable",
    "target_transitional",
]


@given(valid_declarations(extra_events=False), st.sampled_from(FLAWS), st.data())
def test_a_declaration_with_one_flaw_is_refused_at_class_creation_naming_it(decl, flaw, data):
    transitional = [n for n, s in decl.states.items() if s.kind == Kind.TRANSITIONAL]
    assume(transitional)
    t = data.draw(st.sampled_from(transitional))
    old = decl.states[t]
    f = old.fails_to
    if flaw == "no_action":
        decl.states[f] = fsm.Failed()
        expected = f'failed state "{f}" offers the operator no action'
    elif flaw == "retry_to_stable":
        decl.states[f] = fsm.Failed(retry=decl.initial)
        expected = f'failed state "{f}": retry must lead to a transitional state'
    elif flaw == "abort_to_transitional":
        decl.states[f] = fsm.Failed(retry=t, abort=t)
        expected = f'failed state "{f}": abort must lead to a stable state'
    elif flaw == "cut_chain":
        decl.events = {n: e for n, e in decl.events.items() if t not in e.sources}
        expected = f'transitional state "{t}" cannot reach its target "{old.target}"'
    elif flaw == "no_timeout":
        decl.states[t] = fsm.Transitional(target=old.target, timeout=timedelta(0), fails_to=f)
        expected = f'transitional state "{t}" has no positive timeout'
    elif flaw == "fails_to_stable":
        decl.states[t] = fsm.Transitional(
            target=old.target, timeout=old.timeout, fails_to=decl.initial
        )
        expected = f'transitional state "{t}": fails_to "{decl.initial}" is not failed'
    else:
        decl.states[t] = fsm.Transitional(target=t, timeout=old.timeout, fails_to=f)
        expected = f'transitional state "{t}": target "{t}" is not stable'
    assert any(p.startswith(expected) for p in fsm.problems(decl.initial, decl.states, decl.events))
    with pytest.raises(fsm.DeclarationError, match="^Generated: .*" + re.escape(expected)):
        decl.build()


NAMES = ["a", "b", "c", "d", "e"]


@st.composite
def any_declarations(draw) -> Declaration:
    """Declarations with no structure at all: random kinds, targets, actions and events."""
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, unique=True))
    pick = st.sampled_from(names)
    states: dict[str, fsm.State] = {}
    for name in names:
        kind = draw(st.sampled_from(list(Kind)))
        if kind == Kind.STABLE:
            states[name] = fsm.Stable()
        elif kind == Kind.TRANSITIONAL:
            seconds = draw(st.sampled_from([0, 60]))
            states[name] = fsm.Transitional(
                target=draw(pick), timeout=timedelta(seconds=seconds), fails_to=draw(pick)
            )
        else:
            keys = st.sampled_from([*map(str, fsm.Action), "reboot"])
            states[name] = fsm.Failed(**draw(st.dictionaries(keys, pick, max_size=3)))
    pairs = draw(st.lists(st.tuples(st.lists(pick, min_size=1, max_size=2), pick), max_size=8))
    events = {f"e{i}": fsm.Event(sources, dest) for i, (sources, dest) in enumerate(pairs)}
    return Declaration(draw(pick), states, events)


@given(any_declarations())
def test_any_declaration_is_accepted_only_if_every_state_can_finish(decl):
    found = fsm.problems(decl.initial, decl.states, decl.events)
    if not found:
        assert can_finish(decl)
        decl.build()
    if not can_finish(decl):
        assert found
        with pytest.raises(fsm.DeclarationError):
            decl.build()
