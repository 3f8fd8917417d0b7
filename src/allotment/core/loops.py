"""The state machines' reconcile loop, run by `allot agent` over every stateful model.

core.fsm can fail a transitional state past its deadline (`sweep`) and settle a step an
agent died inside (`recover`), but neither happens unless something calls them. This loop
does both, once a minute per model: recovery first, for the steps whose owner is no live
agent (a live one is still inside its step and will finish it), then the sweep. A model
may observe its engine while recovering by defining `observe_step(obj) -> fsm.Observed`;
without it an interrupted step fails with a reason naming the step, for an operator to
retry or abort.

Its effects are only in the database, so it runs `atomic`: exactly once per pass.
"""

from __future__ import annotations

from allotment.agent.registry import Loop

from . import fsm


def model_label(model) -> str:
    return model._meta.label_lower


def settle_states(model) -> dict:
    """Recover the steps of agents that are gone, then fail what is past its deadline."""
    from allotment.agent.leases import live_agents

    live = {agent.identity for agent in live_agents()}
    observe = getattr(model, "observe_step", None)
    recovered = fsm.recover(model, exclude_owners=live, observe=observe)
    swept = fsm.sweep(model)
    return {"recovered": len(recovered), "timed_out": len(swept)}


STATES = Loop(
    name="fsm.settle",
    interval=60,
    targets=fsm.stateful_models,
    key=model_label,
    step=settle_states,
    lease=120,
    atomic=True,
    target_kind="model",
)
