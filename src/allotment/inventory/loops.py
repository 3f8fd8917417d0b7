"""The shift loop, run by `allot agent`: one step per moving node every couple of seconds.

It talks to engines, so it is at-least-once (not `atomic`): every step observes first and
asks only for what is missing (see reconcile). The lease keeps two agents off one node.
"""

from allotment.agent.registry import Loop


def moving_nodes():
    from .reconcile import targets

    return targets()


def node_name(node) -> str:
    return node.name


def step_node(node) -> str:
    from .reconcile import step

    return step(node)


SHIFT = Loop(
    name="inventory.shift",
    interval=2,
    targets=moving_nodes,
    key=node_name,
    step=step_node,
    lease=120,
    target_kind="node",
)
