"""What burst needs of a cloud and of the batch system it feeds.

A cloud (`CloudDriver`) is asked for its quota, flavors, images and servers, and to boot
and delete servers; a batch system (`BatchQueue`) for a snapshot of its queue and for
what its burst nodes did. As for shift (inventory.engines), every call either observes or
starts something and returns at once, and every request is idempotent: `boot` of a name
that already has a server of ours returns that server, `delete` of a server that is gone
is not an error. Nothing waits for a VM to come up: the burst loop comes back next tick.

Errors are `EngineError` (inventory.engines): `permanent` when asking again will not help
(a flavor the cloud does not have), otherwise the cloud may be down and the call is
retried; repeated temporary errors mark the cloud unhealthy.

Implementations: burst.local (each VM a real slurmd of the loopback Slurm, or nothing at
all), integrations.openstack.burst (openstacksdk: Nova, Glance, limits), integrations.ec2
(boto3), and integrations.slurm.queue (the queue snapshot).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from allotment.inventory.engines import EngineError

__all__ = [
    "TAG_KEY",
    "VM_KEY",
    "BatchQueue",
    "BootRequest",
    "CloudDriver",
    "EngineError",
    "FlavorInfo",
    "ImageInfo",
    "PendingGroup",
    "QueueSnapshot",
    "Quota",
    "RunningJob",
    "ServerInfo",
    "ServerStatus",
]

# Every server Allotment boots carries these tags (Nova metadata, EC2 tags): TAG_KEY holds
# the site's tag (settings.BURST_TAG), VM_KEY the VM's name. The orphan sweep deletes
# servers tagged with our site's tag that the database does not know, and only those.
TAG_KEY = "allotment"
VM_KEY = "allotment-vm"


@dataclass(frozen=True)
class Quota:
    """A cloud's limits and what is used of them, as the cloud itself says (None: no
    limit). Used counts every server in the project, ours or not."""

    instances: int | None = None
    cores: int | None = None
    ram_mb: int | None = None
    used_instances: int = 0
    used_cores: int = 0
    used_ram_mb: int = 0


@dataclass(frozen=True)
class FlavorInfo:
    name: str
    id: str
    cores: int
    ram_mb: int
    disk_gb: int = 0


@dataclass(frozen=True)
class ImageInfo:
    """An image as the cloud lists it. `checksums` maps an algorithm ("md5", "sha256",
    "sha512") to its hex digest, as far as the cloud knows them; an image Allotment copied
    also carries the catalog's checksum in its properties, reported here too."""

    name: str
    id: str
    status: str  # "active" when servers can boot from it; the cloud's word otherwise
    checksums: dict[str, str] = field(default_factory=dict)
    size: int = 0


class ServerStatus(StrEnum):
    """A cloud's view of a server, reduced to what the lifecycle decides on."""

    BUILDING = "building"  # asked for, not running yet (Nova BUILD, EC2 pending)
    ACTIVE = "active"  # running (Nova ACTIVE, EC2 running)
    ERROR = "error"  # the cloud failed it: see ServerInfo.fault
    DELETING = "deleting"  # on its way out (EC2 shutting-down, Nova task deleting)
    OTHER = "other"  # stopped, paused, shelved...: not ours to run jobs on


@dataclass(frozen=True)
class ServerInfo:
    id: str
    name: str
    status: ServerStatus
    tags: dict[str, str] = field(default_factory=dict)  # TAG_KEY / VM_KEY when ours
    fault: str = ""  # the cloud's own words for an ERROR
    flavor: str = ""  # flavor id or name, for the orphan report
    created: str = ""  # ISO time the cloud gives, for the orphan report


@dataclass(frozen=True)
class BootRequest:
    name: str  # the VM's name: also its hostname and its node name in the batch system
    flavor_id: str
    image_id: str
    user_data: str  # cloud-init, rendered by burst.contextualize
    tags: dict[str, str]  # TAG_KEY and VM_KEY at least


class CloudDriver(Protocol):
    """One cloud project (OpenStack project and region, EC2 account and region, or the
    local cloud), with the credentials its Cloud row refers to."""

    def quota(self) -> Quota:
        """Limits and usage as the cloud says (Nova /limits; EC2 vCPU limit)."""

    def flavors(self) -> list[FlavorInfo]:
        """The flavors (instance types) servers may be booted with."""

    def images(self) -> list[ImageInfo]:
        """The images servers may be booted from."""

    def servers(self) -> list[ServerInfo]:
        """Every server of the project that is not gone, ours (tagged) or not."""

    def boot(self, request: BootRequest) -> str:
        """Start booting a server and return its id. Idempotent by name: when a server of
        ours with `request.name` exists (not deleted), its id is returned and nothing is
        booted, so a boot asked again after the agent died is never a second VM."""

    def delete(self, server_id: str) -> None:
        """Start deleting the server; one that is gone already is not an error."""

    def fetch_image(self, image_id: str, dest: Path) -> Path:
        """Download the image's data into the folder `dest`; return the file."""

    def put_image(self, name: str, checksum: str, data: Path) -> str:
        """Upload `data` as an image named `name`, recording the catalog `checksum` in
        its properties; return its id. The image may take a while to become active."""


@dataclass(frozen=True)
class PendingGroup:
    """Idle jobs alike in what decides where they can run, counted, not listed."""

    cores: int  # per job and node (a VM must hold one node of a job at least)
    memory_mb: int  # per job and node, 0 when the job asked for none
    partition: str
    account: str  # the batch system's account: the ledger project's unix group
    features: str = ""  # constraint string, verbatim
    image: str = ""  # the image the job asks for ("" : the cloud's default)
    flavor: str = ""  # the flavor the job asks for ("" : the smallest that fits)
    count: int = 0
    # nodes per job: a job of several nodes starts only once that many VMs are up, one
    # node of it on each (Slurm's -N; HTCondor jobs are of one)
    nodes: int = 1


@dataclass(frozen=True)
class RunningJob:
    job_id: str
    account: str
    cores: int
    nodes: tuple[str, ...]


@dataclass
class QueueSnapshot:
    """A batch system's queue as far as burst decides on it."""

    machine: str
    pending: list[PendingGroup]
    running: list[RunningJob]
    # the state of each burst node the batch system knows: "idle", "alloc", "mix",
    # "down", "drain", "future", ... (its own short words), absent if unknown to it
    nodes: dict[str, str] = field(default_factory=dict)
    taken_at: float = 0.0


class BatchQueue(Protocol):
    """The batch system burst feeds (Slurm; the local one)."""

    def snapshot(self, partitions: Iterable[str], nodes: Iterable[str]) -> QueueSnapshot:
        """Idle jobs of the burst partitions grouped (PendingGroup), the jobs running in
        them, and the states of the burst nodes named; only what the decision needs."""

    def core_seconds(self, node: str, start: int, end: int) -> dict[str, int]:
        """Core-seconds each account's jobs used on `node` between `start` and `end`
        (epoch seconds, clipped to that span), for sharing a VM's time among projects."""
