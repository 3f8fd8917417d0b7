"""Slurm as a service a node can be in (inventory.engines.ServicePort): one Slurm node's
state, drain, jobs, evacuation, leaving, joining and resume, through scontrol, squeue
and scancel with the machine's SLURM_CONF (as sacctmgr.Cluster runs them).

Hosts are Slurm node names. Every call observes or asks once and returns: a shift's
reconcile loop comes back on its next tick. What Slurm 22.05.8 does, measured on the
loopback cluster (`allot dev slurm`, ReturnToService=2), and what follows from it:

- `scontrol show node` hides FUTURE nodes ("Node extra1 not found", even with -a);
  `scontrol --future show node` shows them (State=FUTURE). So `host` asks with --future,
  and "not found" there means Slurm has no such node. `squeue -w` refuses a FUTURE node
  ("Invalid node name"): it runs nothing.
- Static node leaving: `state=down` on a drained node keeps the flag (DOWN+DRAIN, our
  reason). With its slurmd stopped it stays so (+NOT_RESPONDING after SlurmdTimeout).
  When its slurmd starts again, ReturnToService=2 clears DOWN but not DRAIN: the node is
  IDLE+DRAIN with our reason, so `resume` is needed and the reason tells it ours. A node
  DOWN without DRAIN comes back IDLE and takes jobs at once: so `stop` drains first.
- FUTURE node: its slurmd starting makes it register and go IDLE by itself within a
  second; nothing to resume. `state=future` clears DRAIN and the reason. A FUTURE node
  drained before it joins (FUTURE+DRAIN) registers as IDLE+DRAIN but with its reason
  gone, so a shift could no longer tell its own drain: `drain` leaves a node in FUTURE
  state alone (it takes no work), and `stop` returns a FUTURE node of slurm.conf to
  FUTURE (hidden from sinfo), after which it rejoins idle when its slurmd starts.
- `state=resume` of a node that is neither drained nor down is refused ("Invalid node
  state specified"); DOWN and DRAIN need a reason. Resuming a DOWN node whose slurmd has
  not registered yet makes it IDLE to the scheduler, which may send it jobs that then
  fail: `resume` waits until the slurmd has registered since the node was marked down.
- `scontrol requeue` of a job that may not be requeued (--no-requeue, or JobRequeue=0)
  says "Requested operation is presently disabled"; such a job is cancelled instead. A
  requeued job is COMPLETING on the node for a moment, then PENDING (Reason=BeginTime).
  A job spanning several nodes is requeued or cancelled as a whole.
- Without slurmctld every command retries for MessageTimeout seconds, then says "Unable
  to contact slurm controller (connect failure)": a temporary error.

Which nodes are FUTURE nodes is read from slurm.conf (NodeName lines with State=FUTURE,
following Include lines): once such a node has joined, Slurm shows it like any other.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path

import hostlist

from allotment.inventory.engines import (
    REASON_PREFIX,
    EngineError,
    Evacuation,
    HostState,
    Workload,
)

from .sacctmgr import Cluster

# Slurm's words when slurmctld does not answer: asking again later may work.
_UNREACHABLE = (
    "Unable to contact slurm controller",
    "Socket timed out",
    "Connection refused",
    "Connection timed out",
    "Zero Bytes were transmitted",
    "Transport endpoint",
)
# ...and when asking again cannot help.
_PERMANENT = (
    "Invalid node name",
    "not found",
    "Invalid node state",
    "Access/permission denied",
    "Invalid user",
)
# A node that is not up: these base states, or any of these flags.
_NOT_UP_BASE = {"DOWN", "FUTURE", "UNKNOWN"}
_NOT_UP_FLAGS = {"NOT_RESPONDING", "POWERED_DOWN", "POWERING_DOWN", "POWER_DOWN"}
# Jobs that occupy the node (squeue -t), and those of them a forced evacuation acts on
# (a COMPLETING job is already ending: asking again is not needed).
_OCCUPYING = "RUNNING,COMPLETING,SUSPENDED"
_MOVABLE = {"RUNNING", "SUSPENDED"}
# Slurm's note after a reason: " [root@2026-12-04T20:47:00]".
_REASON_NOTE = re.compile(r"^(.*?)\s*\[([^\]@\s]*)@(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\]$", re.S)
# One node name, not a host list (which scontrol would expand to several nodes).
_NODE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Leaving without a shift's drain (stop called first): the reason still names us.
LEAVE_REASON = f"{REASON_PREFIX}: taken out of service"


@dataclass(frozen=True)
class SlurmNode:
    """One node as `scontrol show node` prints it, reduced to what a shift decides on."""

    name: str
    state: str  # "IDLE+DRAIN", "DOWN+DRAIN+NOT_RESPONDING", "FUTURE"
    reason: str = ""  # without Slurm's " [user@time]" note
    reason_time: datetime | None = None
    slurmd_started: datetime | None = None

    @property
    def base(self) -> str:
        return self.state.split("+", 1)[0]

    @property
    def flags(self) -> set[str]:
        return set(self.state.split("+")[1:])

    @property
    def future(self) -> bool:
        return self.base == "FUTURE"

    @property
    def down(self) -> bool:
        return self.base == "DOWN"

    @property
    def up(self) -> bool:
        return self.base not in _NOT_UP_BASE and not self.flags & _NOT_UP_FLAGS

    @property
    def drained(self) -> bool:
        return bool(self.flags & {"DRAIN", "FAIL"})

    @property
    def ours(self) -> bool:
        """Drained or downed by a shift (its reason says so)."""
        return self.reason.startswith(REASON_PREFIX)

    @property
    def registered_since_marked(self) -> bool:
        """Its slurmd answers and registered after the reason was set: a node marked down
        by a shift is back (ReturnToService=0 or 1 leave it DOWN after registering)."""
        if not self.up and not self.down:
            return False
        if "NOT_RESPONDING" in self.flags:
            return False
        if not self.down:
            return True
        return bool(
            self.slurmd_started and self.reason_time and self.slurmd_started > self.reason_time
        )


def parse_node(text: str, name: str) -> SlurmNode | None:
    """Node `name` from `scontrol show node` (the multi-line form: Reason, OS, Comment and
    Extra sit on lines of their own and may hold spaces)."""
    for block in re.split(r"\n(?=NodeName=)", text.strip()):
        fields: dict[str, str] = {}
        reason = ""
        for line in block.splitlines():
            line = line.strip()
            if line.startswith("Reason="):
                reason = line.removeprefix("Reason=")
            elif line.startswith(("OS=", "Comment=", "Extra=")):
                continue
            else:
                for token in line.split():
                    key, sep, value = token.partition("=")
                    if sep:
                        fields.setdefault(key, value)
        if fields.get("NodeName") != name:
            continue
        note = _REASON_NOTE.match(reason)
        return SlurmNode(
            name=name,
            state=fields.get("State", "UNKNOWN"),
            reason=note.group(1) if note else reason,
            reason_time=_time(note.group(3)) if note else None,
            slurmd_started=_time(fields.get("SlurmdStartTime", "")),
        )
    return None


def _time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:  # "None", "Unknown", ""
        return None


def future_nodes(slurm_conf: Path, _depth: int = 0) -> set[str]:
    """The nodes slurm.conf declares with State=FUTURE (following Include lines); none
    when the file cannot be read (such nodes are then taken out as DOWN, which is safe)."""
    try:
        text = slurm_conf.read_text()
    except OSError:
        return set()
    found: set[str] = set()
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        words = line.split()
        if not words:
            continue
        if words[0].lower() == "include" and len(words) > 1 and _depth < 8:
            included = Path(words[1])
            found |= future_nodes(slurm_conf.parent / included, _depth + 1)
            continue
        fields = {k.lower(): v for k, _, v in (w.partition("=") for w in words)}
        if "nodename" in fields and fields.get("state", "").upper() == "FUTURE":
            try:
                found |= set(hostlist.expand_hostlist(fields["nodename"]))
            except hostlist.BadHostlist:
                continue
    return found


class SlurmNodes:
    """engines.ServicePort for a ledger machine whose engine is Slurm.

    engine_options as sacctmgr.Cluster reads them ("cluster", "slurm_conf"), and
    "loopback": true for the dev cluster, where `start` and `stop` also start and stop
    the node's slurmd (playing the deployed image's boot and the node's leaving)."""

    def __init__(self, machine) -> None:
        if machine.engine != "slurm":
            raise EngineError(
                f"Machine {machine.name} runs {machine.engine!r}, not Slurm: "
                "it has no Slurm nodes to drain or resume.",
                permanent=True,
            )
        options = machine.engine_options or {}
        self.cluster = Cluster.of(machine)
        self.loopback = bool(options.get("loopback"))

    # -- observing --------------------------------------------------------------------

    def node(self, name: str) -> SlurmNode | None:
        """The node as slurmctld sees it now, FUTURE ones included; None if it has none
        of that name."""
        if not _NODE_NAME.match(name):
            return None
        code, out, err = self._run("scontrol", "--future", "show", "node", name)
        if code != 0:
            if f"Node {name} not found" in err:
                return None
            raise self._error(f"read node {name}", ["scontrol", "show", "node", name], err)
        return parse_node(out, name)

    def host(self, name: str) -> HostState:
        node = self.node(name)
        if node is None:
            return HostState(known=False, detail=f"no node {name} in Slurm cluster {self.name}")
        return HostState(
            known=True,
            up=node.up,
            drained=node.drained,
            reason=node.reason if node.drained else "",
            detail=node.state,
        )

    def workload(self, name: str) -> list[Workload]:
        self._valid(name)
        command = ["squeue", "-h", "-r", "-w", name, "-t", _OCCUPYING, "-o", "%i|%T|%j"]
        code, out, err = self._run(*command)
        if code != 0:
            if "Invalid node name" in err and self._known(name):
                return []  # a FUTURE node: squeue refuses it, and it runs nothing
            raise self._error(f"list the jobs on node {name}", command, err)
        jobs = []
        for line in out.splitlines():
            if line.strip():
                job, state, job_name = line.split("|", 2)
                jobs.append(Workload(id=job, name=job_name, state=state))
        return jobs

    def health(self, name: str) -> str:
        node = self.node(name)
        if node is None:
            return f"Slurm cluster {self.name} has no node {name}"
        why = f"Slurm node {name} is {node.state}"
        if node.future:
            return f"{why}: its slurmd has not registered"
        if not node.up:
            return why + (f" ({node.reason})" if node.reason else "")
        if node.drained:
            if node.ours:
                return f"{why}: drained by a shift ({node.reason})"
            return f"{why}: drained by someone else, never resumed by a shift ({node.reason})"
        return ""

    # -- asking -----------------------------------------------------------------------

    def drain(self, name: str, reason: str) -> None:
        node = self._existing(name, "drain")
        if node.drained or node.future:  # someone's drain stays; a FUTURE node takes no work
            return
        self._update(name, "drain", reason)

    def evacuate(self, name: str, *, force: bool) -> Evacuation:
        done = Evacuation()
        if not force:  # Slurm cannot move a running job: its end is waited for
            return done
        for job in self.workload(name):
            if job.state not in _MOVABLE:
                continue
            code, _, err = self._run("scontrol", "requeue", job.id)
            if code == 0:
                done.started.append(f"requeue {job.id}")
                continue
            if _unreachable(err):
                raise self._error(f"requeue job {job.id} on node {name}",
                                  ["scontrol", "requeue", job.id], err)  # fmt: skip
            code, _, err = self._run("scancel", job.id)
            if code == 0:
                done.started.append(f"cancel {job.id}")
            elif _unreachable(err):
                raise self._error(f"cancel job {job.id} on node {name}", ["scancel", job.id], err)
            else:
                done.refused[job.id] = f"neither requeued nor cancelled: {err.strip()}"
        return done

    def stop(self, name: str) -> None:
        node = self._existing(name, "take out")
        running = [w.id for w in self.workload(name)]
        if running:  # marking it down would kill them: the loop drains first
            raise EngineError(
                f"Slurm cluster {self.name}: node {name} still runs jobs "
                f"{', '.join(running[:10])}; not taking it out until they end."
            )
        if name in self._future_nodes:
            if self.loopback:
                self._devcluster("stop_node", name)
            if not node.future:  # back to FUTURE: hidden, joins again when slurmd starts
                self._update(name, "future", node.reason or LEAVE_REASON)
            return
        # Drained first, so the node does not take work when its slurmd registers again;
        # someone else's drain reason is kept, so no shift resumes it.
        reason = node.reason if node.drained and node.reason else LEAVE_REASON
        if not node.drained:
            self._update(name, "drain", reason)
        if not node.down:
            self._update(name, "down", reason)
        if self.loopback:
            self._devcluster("stop_node", name)

    def start(self, name: str) -> None:
        if self.loopback:
            self._devcluster("start_node", name)

    def resume(self, name: str) -> None:
        node = self._existing(name, "resume")
        if not (node.drained or node.down) or not node.ours:
            return  # not out, or someone else's: their drain stays
        if not node.registered_since_marked:
            return  # its slurmd is not back yet: resuming now would send it jobs
        self._update(name, "resume", "")

    # -- the machinery ----------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.cluster.name

    @cached_property
    def _future_nodes(self) -> set[str]:
        conf = self.cluster.slurm_conf or os.environ.get("SLURM_CONF") or "/etc/slurm/slurm.conf"
        return future_nodes(Path(conf))

    def _valid(self, name: str) -> None:
        if not _NODE_NAME.match(name):
            raise EngineError(
                f"Slurm cluster {self.name}: {name!r} is not a node name (one name, not a "
                "host list).",
                permanent=True,
            )

    def _known(self, name: str) -> bool:
        return self.node(name) is not None

    def _existing(self, name: str, what: str) -> SlurmNode:
        self._valid(name)
        node = self.node(name)
        if node is None:
            raise EngineError(
                f"Slurm cluster {self.name}: cannot {what} node {name}: `scontrol show node "
                f"{name}` says the cluster has no such node.",
                permanent=True,
            )
        return node

    def _update(self, name: str, state: str, reason: str) -> None:
        command = ["scontrol", "update", f"nodename={name}", f"state={state}"]
        if reason:
            command.append(f"reason={reason}")
        code, _, err = self._run(*command)
        if code != 0:
            raise self._error(f"set node {name} {state}", command, err)

    def _run(self, *command: str) -> tuple[int, str, str]:
        try:
            done = subprocess.run(
                list(command), env=self.cluster.env(), capture_output=True, text=True,
                timeout=120,
            )  # fmt: skip
        except FileNotFoundError:
            raise EngineError(
                f"Slurm cluster {self.name}: {command[0]} is not installed on this host.",
                permanent=True,
            ) from None
        except subprocess.TimeoutExpired:
            raise EngineError(
                f"Slurm cluster {self.name}: `{' '.join(command)}` did not answer in 120 s."
            ) from None
        if done.returncode != 0:  # scontrol says some refusals ("not found") on stdout
            return done.returncode, done.stdout, f"{done.stderr.strip()}\n{done.stdout.strip()}"
        return done.returncode, done.stdout, done.stderr

    def _error(self, what: str, command: list[str], err: str) -> EngineError:
        said = err.strip() or "nothing"
        return EngineError(
            f"Slurm cluster {self.name}: could not {what}: `{' '.join(command)}` said: {said}",
            permanent=not _unreachable(err) and any(p in err for p in _PERMANENT),
        )

    def _devcluster(self, action: str, name: str) -> None:
        """Start or stop the node's slurmd of the loopback cluster this machine uses."""
        from . import devcluster

        where = (
            devcluster.Layout(Path(self.cluster.slurm_conf).parent.parent)
            if self.cluster.slurm_conf
            else devcluster.layout()
        )
        try:
            getattr(devcluster, action)(name, where)
        except devcluster.ClusterError as e:
            raise EngineError(
                f"Slurm cluster {self.name} (loopback): could not {action.replace('_', ' ')} "
                f"{name}: {e}",
                permanent="is not a node of" in str(e),
            ) from None


def _unreachable(err: str) -> bool:
    return any(word in err for word in _UNREACHABLE)
