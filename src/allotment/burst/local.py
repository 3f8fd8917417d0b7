"""The local cloud and the local queue: burst with nothing outside Allotment.

`LocalCloud` keeps its servers in a JSON file under the var directory (inventory.local's
store), so they outlive the agent as a real cloud's do: a server is building for
`boot_seconds`, then active. On the loopback Slurm each active VM becomes a real slurmd
(the batch side's `start` plays the boot), so jobs really run on burst capacity; with the
local batch service it is a host of that service.

`LocalQueue` is the local batch machine's queue for the embedded demo: jobs added with
`submit` wait until a host of the local service is up and free, then run there for their
seconds; it remembers what ran where, for charging VM time.

A cloud can be made to stop answering (`set_down`), as a real one does, for failover.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from allotment.inventory.local import _state

from .engines import (
    VM_KEY,
    BootRequest,
    EngineError,
    FlavorInfo,
    ImageInfo,
    PendingGroup,
    QueueSnapshot,
    Quota,
    RunningJob,
    ServerInfo,
    ServerStatus,
)

DEFAULT_FLAVORS = [("local.small", 1, 1000), ("local.medium", 2, 2000)]
DEFAULT_IMAGE = "burst-worker"
# The burst-worker image's 64 KiB, the same bytes in every loopback cloud (local, the
# loopback OpenStack's Glance, moto's EC2), so its copies agree by checksum
# (md5 29f1919c16cbd2f244531310ca294616).
_LINE = b"allotment burst worker image: not bootable, the fake hypervisors need none\n"
DEFAULT_IMAGE_DATA = (_LINE * (65536 // len(_LINE) + 1))[:65536]


def image_checksum(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class LocalCloud:
    def __init__(self, name: str, options: dict | None = None):
        options = options or {}
        self.name = name
        self.boot_seconds = float(options.get("boot_seconds", 3))
        self.limits = options.get("quota", {"instances": 8, "cores": 16, "ram_mb": 16000})
        self.flavor_list = [
            FlavorInfo(n, n, c, r)
            for n, c, r in (tuple(f) for f in options.get("flavors", DEFAULT_FLAVORS))
        ]
        self.seed_images = options.get("images", [DEFAULT_IMAGE])

    def _file(self) -> str:
        return f"burst-cloud-{self.name}"

    def _open(self):
        return _state(self._file())

    def _check(self, data: dict, call: str) -> None:
        if data.get("down"):
            raise EngineError(f"local cloud {self.name}: {call}: not answering (it is down)")
        images = data.setdefault("images", {})
        if not data.get("seeded"):
            data["seeded"] = True
            for name in self.seed_images:
                ident = f"img-{name}"
                images[ident] = {
                    "name": name,
                    "checksum": image_checksum(DEFAULT_IMAGE_DATA),
                    "data": DEFAULT_IMAGE_DATA.decode(),
                }
        data.setdefault("servers", {})

    def _status(self, rec: dict, now: float) -> ServerStatus:
        if rec.get("error"):
            return ServerStatus.ERROR
        if now - rec["created"] < self.boot_seconds:
            return ServerStatus.BUILDING
        return ServerStatus.ACTIVE

    def quota(self) -> Quota:
        with self._open() as data:
            self._check(data, "quota")
            flavors = {f.id: f for f in self.flavor_list}
            servers = list(data["servers"].values())
            return Quota(
                instances=self.limits.get("instances"),
                cores=self.limits.get("cores"),
                ram_mb=self.limits.get("ram_mb"),
                used_instances=len(servers),
                used_cores=sum(flavors[s["flavor"]].cores for s in servers),
                used_ram_mb=sum(flavors[s["flavor"]].ram_mb for s in servers),
            )

    def flavors(self) -> list[FlavorInfo]:
        with self._open() as data:
            self._check(data, "flavors")
        return list(self.flavor_list)

    def images(self) -> list[ImageInfo]:
        with self._open() as data:
            self._check(data, "images")
            return [
                ImageInfo(rec["name"], ident, "active", _checksums(rec["checksum"]))
                for ident, rec in sorted(data["images"].items())
            ]

    def servers(self) -> list[ServerInfo]:
        now = time.time()
        with self._open() as data:
            self._check(data, "servers")
            return [
                ServerInfo(
                    ident,
                    rec["name"],
                    self._status(rec, now),
                    dict(rec["tags"]),
                    rec.get("error", ""),
                    rec["flavor"],
                )
                for ident, rec in sorted(data["servers"].items())
            ]

    def boot(self, request: BootRequest) -> str:
        with self._open() as data:
            self._check(data, "boot")
            for ident, rec in data["servers"].items():
                if rec["tags"].get(VM_KEY) == request.name:
                    return ident
            if request.flavor_id not in {f.id for f in self.flavor_list}:
                raise EngineError(
                    f"local cloud {self.name}: boot {request.name}: no flavor {request.flavor_id}",
                    permanent=True,
                )
            image = data["images"].get(request.image_id)
            if image is None:
                raise EngineError(
                    f"local cloud {self.name}: boot {request.name}: no image {request.image_id}",
                    permanent=True,
                )
            ident = str(uuid.uuid4())
            data["servers"][ident] = {
                "name": request.name,
                "flavor": request.flavor_id,
                "image": request.image_id,
                "tags": dict(request.tags),
                "created": time.time(),
                "error": ("fail" in image["name"] and "image marked to fail") or "",
                "user_data": request.user_data,
            }
            data["boots"] = data.get("boots", 0) + 1
            return ident

    def delete(self, server_id: str) -> None:
        with self._open() as data:
            self._check(data, "delete")
            data["servers"].pop(server_id, None)

    def fetch_image(self, image_id: str, dest: Path) -> Path:
        with self._open() as data:
            self._check(data, "fetch image")
            rec = data["images"].get(image_id)
            if rec is None:
                raise EngineError(f"local cloud {self.name}: no image {image_id}", permanent=True)
            path = Path(dest) / f"{image_id}.img"
            path.write_bytes(rec["data"].encode())
            return path

    def put_image(self, name: str, checksum: str, data_path: Path) -> str:
        body = Path(data_path).read_bytes()
        with self._open() as data:
            self._check(data, "put image")
            ident = f"img-{uuid.uuid4().hex[:12]}"
            data["images"][ident] = {"name": name, "checksum": checksum, "data": body.decode()}
            return ident

    # -- for tests and the demo --------------------------------------------------------

    def set_down(self, down: bool) -> None:
        """Make the cloud stop answering (every call fails), or answer again."""
        with self._open() as data:
            data["down"] = down

    def add_foreign_server(self, name: str, tags: dict | None = None) -> str:
        """A server someone else booted in the project (or one of ours the database lost)."""
        with self._open() as data:
            self._check(data, "add server")
            ident = str(uuid.uuid4())
            data["servers"][ident] = {
                "name": name, "flavor": self.flavor_list[0].id, "image": "", "tags": tags or {},
                "created": 0, "error": "",
            }  # fmt: skip
            return ident

    def add_image(self, name: str, body: bytes) -> str:
        with self._open() as data:
            self._check(data, "add image")
            ident = f"img-{uuid.uuid4().hex[:12]}"
            data["images"][ident] = {
                "name": name, "checksum": image_checksum(body), "data": body.decode()
            }  # fmt: skip
            return ident

    def boots(self) -> int:
        with self._open() as data:
            return data.get("boots", 0)


def _checksums(checksum: str) -> dict[str, str]:
    algo, _, value = checksum.partition(":")
    return {algo: value} if value else {"md5": checksum}


class LocalQueue:
    """The local batch machine's queue (the embedded demo): jobs wait in a file until a
    burst host of the local service is up and has room, then run there for their time."""

    def __init__(self, machine):
        from allotment.inventory.local import LocalService

        self.machine = machine.name
        self.service = LocalService(machine.name, machine.engine_options)

    def _file(self) -> str:
        return f"queue-{self.machine}"

    def submit(self, account: str, cores: int = 1, seconds: float = 60, count: int = 1,
               memory_mb: int = 0, image: str = "", partition: str = "burst") -> None:  # fmt: skip
        with _state(self._file()) as data:
            jobs = data.setdefault("pending", [])
            for _ in range(count):
                data["next"] = data.get("next", 0) + 1
                jobs.append({
                    "id": str(data["next"]), "account": account, "cores": cores,
                    "seconds": seconds, "memory_mb": memory_mb, "image": image,
                    "partition": partition,
                })  # fmt: skip

    def _schedule(self, data: dict, hosts: dict[str, tuple[int, int]], now: float) -> None:
        """Start pending jobs on up, undrained hosts with room: best fit (the host left with
        the least room), as a packing scheduler would."""
        running = data.setdefault("running", [])
        ended = [j for j in running if j["end"] <= now]
        running[:] = [j for j in running if j["end"] > now]
        _keep_ended(data, ended)
        used: dict[str, list[int]] = {n: [0, 0] for n in hosts}
        for j in running:
            if j["node"] in used:
                used[j["node"]][0] += j["cores"]
                used[j["node"]][1] += j.get("memory_mb", 0)
        still = []
        for job in data.get("pending", []):
            room = [
                (cores - used[n][0], ram - used[n][1], n)
                for n, (cores, ram) in hosts.items()
                if cores - used[n][0] >= job["cores"] and ram - used[n][1] >= job["memory_mb"]
            ]
            if not room:
                still.append(job)
                continue
            node = min(room)[2]
            used[node][0] += job["cores"]
            used[node][1] += job["memory_mb"]
            running.append({**job, "node": node, "start": now, "end": now + job["seconds"]})
            self.service.add_work(node, f"job-{job['id']}", job["seconds"])
        data["pending"] = still

    def snapshot(self, partitions: Iterable[str], nodes: Iterable[str]) -> QueueSnapshot:
        from .models import VM

        now = time.time()
        names = list(nodes)
        states: dict[str, str] = {}
        hosts: dict[str, tuple[int, int]] = {}
        sizes = {
            name: (cores, ram)
            for name, cores, ram in VM.objects.filter(batch__name=self.machine, name__in=names)
            .exclude(state="deleted")
            .values_list("name", "cores", "ram_mb")
        }
        for name in names:
            host = self.service.host(name)
            if not host.known:
                continue
            states[name] = "down" if not host.up else ("drain" if host.drained else "idle")
            if host.up and not host.drained:
                hosts[name] = sizes.get(name, (1, 1000))
        wanted = set(partitions)
        with _state(self._file()) as data:
            self._schedule(data, hosts, now)
            groups: Counter = Counter()
            for j in data["pending"]:
                if j["partition"] in wanted:
                    groups[(j["cores"], j["memory_mb"], j["partition"], j["account"],
                            j["image"])] += 1  # fmt: skip
            running = [RunningJob(j["id"], j["account"], j["cores"], (j["node"],))
                       for j in data["running"] if j["end"] > now]  # fmt: skip
        for job in running:
            for node in job.nodes:
                if states.get(node) == "idle":
                    states[node] = "alloc"
        pending = [PendingGroup(cores=c, memory_mb=m, partition=p, account=a, image=i, count=n)
                   for (c, m, p, a, i), n in sorted(groups.items())]  # fmt: skip
        return QueueSnapshot(self.machine, pending, running, states, now)

    def core_seconds(self, node: str, start: int, end: int) -> dict[str, int]:
        with _state(self._file()) as data:
            done = data.get("done", []) + data.get("running", [])
        used: Counter = Counter()
        for j in done:
            if j["node"] != node:
                continue
            span = min(j["end"], end) - max(j["start"], start)
            if span > 0:
                used[j["account"]] += int(span) * j["cores"]
        return dict(used)

    def pending_count(self) -> int:
        with _state(self._file()) as data:
            return len(data.get("pending", []))


def _keep_ended(data: dict, jobs: list[dict]) -> None:
    """Keep ended jobs in the record of what ran (the last 5,000, for charging)."""
    done = data.setdefault("done", [])
    done.extend(jobs)
    del done[:-5000]
