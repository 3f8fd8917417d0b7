"""A bare-metal node's life between the batch system and the cloud, modelled on Ironic's
provision states (ironic/common/states.py) and MAAS's node lifecycle.

    enrolled → available → provisioning → joining → in_service → draining → drained
                   ↑                                                           │
                   └─────────────────────── leaving ←──────────────────────────┘

A node is in a service (its `service` is set) from `joining` until it has `left`; a
database constraint ties the two, so no node is ever in two services or none while it
runs one's work. Each transitional state has a deadline the sweep enforces; the shift's
own drain timeout (shorter, chosen per shift) is enforced by the reconcile step.
"""

from datetime import timedelta

from allotment.core import fsm


class NodeStates(fsm.Machine):
    initial = "enrolled"

    enrolled = fsm.Stable("In the inventory; the provisioner does not know it yet.")
    available = fsm.Stable("Known to the provisioner, nothing deployed, in no service.")
    provisioning = fsm.Transitional(
        target="in_service",
        timeout=timedelta(hours=1),
        fails_to="provision_failed",
        doc="The provisioner deploys the destination service's image.",
    )
    joining = fsm.Transitional(
        target="in_service",
        timeout=timedelta(minutes=30),
        fails_to="join_failed",
        doc="The image booted; waiting for the service to register the host and pass it fit.",
    )
    in_service = fsm.Stable("Taking the service's work.")
    draining = fsm.Transitional(
        target="drained",
        # The shift's --drain-timeout (at most MAX_DRAIN) fails it sooner; this bounds a
        # drain nobody asked a timeout of.
        timeout=timedelta(days=31),
        fails_to="drain_timeout",
        doc="New work refused; waiting for jobs to end or servers to move away.",
    )
    drained = fsm.Stable("Refusing work, empty; still the service's.")
    leaving = fsm.Transitional(
        target="available",
        timeout=timedelta(hours=1),
        fails_to="leave_failed",
        doc="Taken out of the service; the provisioner takes its image off.",
    )
    provision_failed = fsm.Failed("The deploy failed.", retry="provisioning", abort="available")
    join_failed = fsm.Failed(
        "The service did not take the host.", retry="joining", force="in_service", abort="drained"
    )
    drain_timeout = fsm.Failed(
        "Work still runs on it after the drain timeout.",
        retry="draining",
        force="drained",
        abort="in_service",
    )
    leave_failed = fsm.Failed(
        "Taking it out or undeploying failed.", retry="leaving", force="available"
    )

    enroll = fsm.Event("enrolled", "available", "The provisioner knows it.")
    adopt = fsm.Event(
        ["enrolled", "available"], "in_service", "Recorded as already in a service (an import)."
    )
    provision = fsm.Event("available", "provisioning")
    provisioned = fsm.Event("provisioning", "joining")
    joined = fsm.Event("joining", "in_service")
    drain = fsm.Event(["in_service", "drained"], "draining")
    emptied = fsm.Event("draining", "drained")
    leave = fsm.Event("drained", "leaving")
    undrain = fsm.Event("drained", "joining", "Back into the service it was drained in.")
    left = fsm.Event("leaving", "available")
    release = fsm.Event("available", "enrolled", "Forgotten by the provisioner.")


MAX_DRAIN = timedelta(days=30)

# The states in which a node belongs to a service (Node.service is set in these, and only
# in these: a database constraint).
IN_A_SERVICE = (
    "joining", "in_service", "draining", "drained", "leaving",
    "join_failed", "drain_timeout", "leave_failed",
)  # fmt: skip
