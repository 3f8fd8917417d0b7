"""What a shift needs of the engines: a provisioner and the services a node can be in.

A shift is a reconcile loop (inventory.reconcile): each tick observes the engines, compares
with the node's persisted state and takes the next step. So every method here is either an
observation or a request that *starts* something and returns at once, and every request is
idempotent: asking again for what is already done or under way is not an error. Nothing
here blocks waiting for an engine to finish; the loop comes back on its next tick.

Implementations: inventory.local (the embedded default and the demo: state in files under
the var directory, so it outlives the agent like a real engine's), integrations.ironic
(OpenStack Ironic through openstacksdk's baremetal proxy), integrations.slurm.nodes (the
batch service) and integrations.openstack.compute (Nova compute hosts).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

# Every drain or disable reason Allotment writes starts with this, so a node someone else
# drained (whose reason does not) is never resumed or enabled by a shift.
REASON_PREFIX = "allotment shift"


class EngineError(Exception):
    """An engine refused or failed a request; the message says which engine, what and why.

    `permanent`: asking again will not help (a bad image, an unknown node), so the node
    moves to its failed state at once; otherwise (a timeout, a connection refused) the loop
    retries on its next tick and the state's deadline bounds how long.
    """

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


# -- the provisioner (Ironic) -------------------------------------------------------------


@dataclass(frozen=True)
class NodeSpec:
    """What a provisioner needs to enrol a bare-metal node."""

    name: str
    bmc_driver: str = ""  # "ipmi", "redfish", ...; the fake hardware ignores it
    bmc_address: str = ""
    macs: tuple[str, ...] = ()
    cpus: int = 0
    memory_mb: int = 0


@dataclass(frozen=True)
class ImageSpec:
    """The image a service's nodes run, as the provisioner deploys it."""

    name: str
    source_url: str
    checksum: str  # "sha256:…" or a bare md5; passed to the provisioner as given


class Provision(StrEnum):
    """A provisioner's view of a node, reduced to what the shift decides on."""

    AVAILABLE = "available"  # enrolled, clean, nothing deployed: may be deployed
    DEPLOYING = "deploying"  # a deploy is under way
    ACTIVE = "active"  # an image is deployed (see ProvisionStatus.image)
    UNDEPLOYING = "undeploying"  # an undeploy (and cleaning) is under way
    FAILED = "failed"  # the last deploy or undeploy failed: see error
    OTHER = "other"  # enrolled but not ready (manageable, inspecting, ...): see error
    MISSING = "missing"  # the provisioner does not know this node


@dataclass(frozen=True)
class ProvisionStatus:
    state: Provision
    image: str = ""  # the deployed (or deploying) image's source URL, if any
    error: str = ""  # the provisioner's own last error, verbatim
    power: str = ""  # "power on", "power off" or "" when unknown


class Provisioner(Protocol):
    """Deploys images to bare-metal nodes (OpenStack Ironic; a local one for the demo)."""

    def enroll(self, node: NodeSpec) -> str:
        """Make the provisioner know `node` and bring it to AVAILABLE (starting what is
        needed); return its identity there (Ironic's node uuid). Idempotent: a node it
        already knows, by name, is found and its identity returned."""

    def statuses(self, idents: Iterable[str]) -> dict[str, ProvisionStatus]:
        """Each node's status, for many nodes at once (one listing, not a call per node);
        an identity the provisioner does not know maps to MISSING."""

    def deploy(self, ident: str, image: ImageSpec) -> None:
        """Start deploying `image` (instance_info: image source and checksum). A node
        already DEPLOYING or ACTIVE with that image is left alone."""

    def undeploy(self, ident: str) -> None:
        """Start taking the node's image off, back to AVAILABLE. A node already AVAILABLE or
        UNDEPLOYING is left alone; a FAILED deploy is undeployed too."""


# -- the services a node can be in (Slurm, OpenStack) ------------------------------------


@dataclass(frozen=True)
class HostState:
    """A service's view of one of its hosts (a Slurm node, a Nova compute host)."""

    known: bool  # the service has this host at all (a Slurm node name, a compute service)
    up: bool = False  # registered and answering (slurmd responding; nova-compute up)
    drained: bool = False  # new work refused (Slurm DRAIN/DRAINED; Nova service disabled)
    reason: str = ""  # the drain/disable reason, verbatim ("" when not drained)
    detail: str = ""  # the engine's own words for its state, for the page ("IDLE+DRAIN")

    @property
    def drained_by_us(self) -> bool:
        return self.drained and self.reason.startswith(REASON_PREFIX)


@dataclass(frozen=True)
class Workload:
    """Something running on a host that a drain must see end or move: a job, a server."""

    id: str
    name: str = ""
    state: str = ""  # the engine's word (RUNNING, ACTIVE, MIGRATING, VERIFY_RESIZE)
    detail: str = ""


@dataclass
class Evacuation:
    """What one `evacuate` call did; the host is empty once `workload` is."""

    started: list[str] = field(default_factory=list)  # moves, requeues or cancels asked now
    refused: dict[str, str] = field(default_factory=dict)  # workload id -> why it cannot move


class ServicePort(Protocol):
    """A service a node can be in: the batch system (Slurm) or the cloud (Nova).

    Hosts are named as the inventory names the node. `reason` always starts with
    REASON_PREFIX and names the shift, so anyone reading sinfo or `openstack compute
    service list` sees why and who.
    """

    def host(self, name: str) -> HostState:
        """What the service says of the host now."""

    def drain(self, name: str, reason: str) -> None:
        """Refuse new work on the host with `reason` (Slurm: DRAIN; Nova: disable the
        compute service). A host already drained, by anyone, is left as it is: its reason
        is not overwritten."""

    def workload(self, name: str) -> list[Workload]:
        """What still runs on the host (jobs; servers, including ones migrating away)."""

    def evacuate(self, name: str, *, force: bool) -> Evacuation:
        """Move work off the host, where the service can. Nova: live-migrate each server
        (cold-migrate where live is refused, and confirm finished resizes); the scheduler
        picks the destination. Slurm: nothing without `force` (jobs are waited for); with
        it, requeue what can be requeued and cancel the rest. Idempotent: work already on
        the move is not asked again."""

    def start(self, name: str) -> None:
        """The node's deployed image has booted: on a real site nothing (the image starts
        slurmd or nova-compute itself); on loopback this plays the boot by starting the
        daemon for that host name. Idempotent."""

    def stop(self, name: str) -> None:
        """Take the host out of the service before the node is undeployed: Slurm marks the
        node down with a reason naming the shift; Nova deletes the compute service record
        once nova-compute has stopped (on loopback, stops it). Idempotent."""

    def resume(self, name: str) -> None:
        """Let the host take work again (Slurm: resume; Nova: enable), but only when it was
        drained by a shift (reason starts with REASON_PREFIX); a host someone else drained
        stays drained, and `health` says so. Idempotent."""

    def health(self, name: str) -> str:
        """Why the host is not yet fit for work ("" when it is): registered, up, not
        drained, and for Nova a hypervisor with resources in Placement."""
