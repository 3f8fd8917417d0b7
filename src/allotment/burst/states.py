"""A burst VM's life, from the decision that asked for it to its deletion.

    requested → booting → idle ⇄ busy → retiring → deleting → deleted
         └─────────┴────────┴─────┴──────────┴──→ deleting       (boot error, timeouts)
    any live state → abandoned (its cloud stopped answering) → deleting (the cloud is back)

`requested` is written before the cloud is asked, with the VM's name: the boot is asked by
that name and the cloud's own idempotency (a server of ours with that name, an EC2 client
token) makes asking again after a crash find the first server, never boot a second.
`idle` and `busy` are the batch system's word for the node (registered, with or without
jobs). The burst loop enforces the cloud's own boot and registration timeouts (minutes);
the deadlines here are only the backstop the agent's sweep applies if that loop is
stopped for long, failing the VM for an operator.
"""

from datetime import timedelta

from allotment.core import fsm


class VMStates(fsm.Machine):
    initial = "requested"

    requested = fsm.Transitional(
        target="idle",
        timeout=timedelta(hours=6),
        fails_to="failed",
        doc="Decided; the cloud is asked to boot it by its name.",
    )
    booting = fsm.Transitional(
        target="idle",
        timeout=timedelta(hours=6),
        fails_to="failed",
        doc="The cloud builds it, then it boots and joins the batch system.",
    )
    idle = fsm.Stable("Registered with the batch system, running no job.")
    busy = fsm.Stable("Registered with the batch system, running jobs.")
    retiring = fsm.Transitional(
        target="deleted",
        timeout=timedelta(days=8),
        fails_to="failed",
        doc="Drained: takes no new job; its running jobs finish first.",
    )
    deleting = fsm.Transitional(
        target="deleted",
        timeout=timedelta(hours=6),
        fails_to="failed",
        doc="Taken out of the batch system; the cloud deletes the server.",
    )
    deleted = fsm.Stable("Gone from the cloud; its time is charged.")
    abandoned = fsm.Stable(
        "Its cloud stopped answering: counted as gone; deleted when the cloud returns."
    )
    failed = fsm.Failed(
        "Stuck past its deadline: the burst loop did not finish it.",
        retry="deleting",
        abort="deleted",
    )

    boot = fsm.Event("requested", "booting", "The cloud took the boot request.")
    registered = fsm.Event("booting", "idle", "The batch system has the node, up.")
    took_work = fsm.Event("idle", "busy")
    went_idle = fsm.Event("busy", "idle")
    retire = fsm.Event(["idle", "busy"], "retiring", "Drained for retirement.")
    delete = fsm.Event(
        ["requested", "booting", "idle", "busy", "retiring"],
        "deleting",
        "Out of the batch system; delete the server.",
    )
    gone = fsm.Event("deleting", "deleted", "The cloud no longer lists the server.")
    abandon = fsm.Event(
        ["requested", "booting", "idle", "busy", "retiring", "deleting"],
        "abandoned",
        "Its cloud is unhealthy.",
    )
    reclaim = fsm.Event("abandoned", "deleting", "Its cloud answers again.")


# States whose VMs count against the cloud's quota and the throttles (a server exists or
# may exist). `abandoned` does not: its cloud is counted out.
LIVE = ("requested", "booting", "idle", "busy", "retiring", "deleting")
# VMs that will (still) take new jobs: the supply a decision subtracts from demand.
SUPPLY = ("requested", "booting", "idle")
STARTING = ("requested", "booting")
