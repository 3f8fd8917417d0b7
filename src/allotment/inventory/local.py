"""Local engines for the embedded default and the demo: a provisioner and a service whose
state lives in JSON files under the var directory.

They behave as the real ones do where a shift can tell: requests start work and return at
once, work takes time (a deploy takes `deploy_seconds`, a boot `boot_seconds`), state
outlives the agent (a killed agent finds a deploy where it left it), and a host drained by
someone else keeps its reason. Tests can put work on a host (`add_work`) to make a drain
wait, as running jobs do.
"""

from __future__ import annotations

import fcntl
import json
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from .engines import (
    REASON_PREFIX,
    EngineError,
    Evacuation,
    HostState,
    ImageSpec,
    NodeSpec,
    Provision,
    ProvisionStatus,
    Workload,
)


def _root() -> Path:
    return Path(settings.VAR_DIR) / "local-engines"


@contextmanager
def _state(name: str) -> Iterator[dict]:
    """The engine's state, read and written back under an exclusive lock (several agents)."""
    root = _root()
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{name}.json"
    with open(root / f"{name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(path.read_text()) if path.exists() else {}
        yield data
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        tmp.replace(path)


class LocalProvisioner:
    """Deploys nothing, slowly enough to watch: `deploy_seconds` (default 3) per deploy and
    per undeploy. An image URL containing "fail" fails its deploy, for the failure paths."""

    def __init__(self, name: str = "local", options: dict | None = None):
        self.name = name
        self.seconds = float((options or {}).get("deploy_seconds", 3))

    def _file(self) -> str:
        return f"provisioner-{self.name}"

    def enroll(self, node: NodeSpec) -> str:
        with _state(self._file()) as nodes:
            for ident, rec in nodes.items():
                if rec["name"] == node.name:
                    return ident
            ident = str(uuid.uuid4())
            nodes[ident] = {"name": node.name, "state": "available", "image": "", "since": 0}
            return ident

    def requests(self, ident: str) -> dict:
        """How many deploys and undeploys were really started on a node (for tests)."""
        with _state(self._file()) as nodes:
            rec = nodes.get(ident, {})
            return {"deploys": rec.get("deploys", 0), "undeploys": rec.get("undeploys", 0)}

    def _settle(self, rec: dict, now: float) -> None:
        if rec["state"] in ("deploying", "undeploying") and now - rec["since"] >= self.seconds:
            if rec["state"] == "undeploying":
                rec.update(state="available", image="", error="")
            elif "fail" in rec["image"]:
                rec.update(state="failed", error=f"deploy of {rec['image']} failed (local)")
            else:
                rec["state"] = "active"

    def statuses(self, idents: Iterable[str]) -> dict[str, ProvisionStatus]:
        now = time.time()
        with _state(self._file()) as nodes:
            found = {}
            for ident in idents:
                rec = nodes.get(ident)
                if rec is None:
                    found[ident] = ProvisionStatus(Provision.MISSING)
                    continue
                self._settle(rec, now)
                power = "power on" if rec["state"] in ("active", "deploying") else "power off"
                found[ident] = ProvisionStatus(
                    Provision(rec["state"]), rec["image"], rec.get("error", ""), power
                )
            return found

    def _node(self, nodes: dict, ident: str) -> dict:
        rec = nodes.get(ident)
        if rec is None:
            raise EngineError(f"local provisioner: no node {ident}", permanent=True)
        self._settle(rec, time.time())
        return rec

    def deploy(self, ident: str, image: ImageSpec) -> None:
        with _state(self._file()) as nodes:
            rec = self._node(nodes, ident)
            if rec["state"] in ("deploying", "active") and rec["image"] == image.source_url:
                return
            if rec["state"] not in ("available", "failed"):
                raise EngineError(
                    f"local provisioner: {rec['name']} is {rec['state']}, cannot deploy",
                    permanent=True,
                )
            rec.update(state="deploying", image=image.source_url, since=time.time(), error="")
            rec["deploys"] = rec.get("deploys", 0) + 1  # what a test counts: never twice

    def undeploy(self, ident: str) -> None:
        with _state(self._file()) as nodes:
            rec = self._node(nodes, ident)
            if rec["state"] in ("available", "undeploying"):
                return
            rec.update(state="undeploying", since=time.time())
            rec["undeploys"] = rec.get("undeploys", 0) + 1


class LocalService:
    """A service that runs nothing: hosts appear `boot_seconds` (default 2) after `start`.
    Work put on a host with `add_work` ends after its seconds, or moves away when evacuated
    if it is movable (as a server is)."""

    def __init__(self, name: str, options: dict | None = None):
        self.name = name
        self.boot_seconds = float((options or {}).get("boot_seconds", 2))

    def _file(self) -> str:
        return f"service-{self.name}"

    @staticmethod
    def _live_work(rec: dict, now: float) -> list[dict]:
        rec["work"] = [w for w in rec.get("work", []) if w["ends"] > now]
        return rec["work"]

    def host(self, name: str) -> HostState:
        now = time.time()
        with _state(self._file()) as hosts:
            rec = hosts.get(name)
            if rec is None:
                return HostState(known=False)
            up = rec["running"] and now - rec["since"] >= self.boot_seconds
            state = ("DOWN" if not up else "IDLE") + ("+DRAIN" if rec["drained"] else "")
            return HostState(True, up, rec["drained"], rec["reason"], state)

    def drain(self, name: str, reason: str) -> None:
        with _state(self._file()) as hosts:
            rec = hosts.get(name)
            if rec is None:
                raise EngineError(f"local service {self.name}: no host {name}", permanent=True)
            if not rec["drained"]:
                rec.update(drained=True, reason=reason)

    def workload(self, name: str) -> list[Workload]:
        with _state(self._file()) as hosts:
            rec = hosts.get(name) or {}
            return [
                Workload(w["id"], w["id"], "RUNNING") for w in self._live_work(rec, time.time())
            ]

    def evacuate(self, name: str, *, force: bool) -> Evacuation:
        done = Evacuation()
        with _state(self._file()) as hosts:
            rec = hosts.get(name) or {}
            keep = []
            for w in self._live_work(rec, time.time()):
                if w.get("movable") or force:
                    done.started.append(w["id"])
                else:
                    keep.append(w)
            if rec:
                rec["work"] = keep
        return done

    def start(self, name: str) -> None:
        with _state(self._file()) as hosts:
            rec = hosts.setdefault(
                name, {"running": False, "since": 0, "drained": False, "reason": "", "work": []}
            )
            if not rec["running"]:
                rec.update(running=True, since=time.time())
                rec["starts"] = rec.get("starts", 0) + 1

    def stop(self, name: str) -> None:
        with _state(self._file()) as hosts:
            rec = hosts.get(name)
            if rec is not None:
                rec.update(running=False, work=[])
                if not rec["drained"]:
                    rec.update(drained=True, reason=f"{REASON_PREFIX}: stopped")

    def resume(self, name: str) -> None:
        with _state(self._file()) as hosts:
            rec = hosts.get(name)
            if rec is not None and rec["drained"] and rec["reason"].startswith(REASON_PREFIX):
                rec.update(drained=False, reason="")

    def health(self, name: str) -> str:
        state = self.host(name)
        if not state.known:
            return f"{self.name} does not know {name} yet"
        if not state.up:
            return f"{name} is not up in {self.name} yet"
        if state.drained:
            return f"{name} is drained in {self.name}: {state.reason}"
        return ""

    # -- for tests and the demo: what a real service does by itself ----------------------

    def add_work(self, name: str, ident: str, seconds: float, *, movable: bool = False) -> None:
        """Work on the host for `seconds` (a job), or until evacuated if `movable` (a VM)."""
        with _state(self._file()) as hosts:
            rec = hosts.setdefault(
                name, {"running": True, "since": 0, "drained": False, "reason": "", "work": []}
            )
            rec.setdefault("work", []).append(
                {"id": ident, "ends": time.time() + seconds, "movable": movable}
            )

    def starts(self, name: str) -> int:
        with _state(self._file()) as hosts:
            return hosts.get(name, {}).get("starts", 0)

    def drain_by_hand(self, name: str, reason: str) -> None:
        """An operator's own drain, as `scontrol update state=drain` by hand."""
        with _state(self._file()) as hosts:
            hosts[name].update(drained=True, reason=reason)
