"""Slurm's queue as burst decides on it (burst.engines.BatchQueue): the idle jobs of the
burst partitions counted in groups, the jobs running there, the burst nodes' states, and
the core-seconds each account used on a node (for sharing a VM's cost among projects).

Commands, environment and error words are those of nodes.SlurmNodes (the machine's
SLURM_CONF through sacctmgr.Cluster). A snapshot is three cheap calls: `scontrol show
partition` (the partitions exist), ONE `squeue` for the pending and running jobs, and
`scontrol --future show node` for the burst nodes. Measured on Slurm 22.05.8 (the
loopback cluster, `allot dev slurm`):

- squeue's compact `-O` form, fields ended by an ASCII unit separator (a feature string
  holds '|' for "or", a comment anything), comment last, so a stray separator in a
  comment stays in it. No JSON: at 300,000 pending jobs squeue --json is hundreds of MB.
- Arrays are NOT expanded (no `-r`): a pending array is one line, `8_[2-100%5]`, counted
  from its index expression (ranges, `:step`, lists), so a 1,000-element array costs one
  line, not 1,000. The expression is cut to 64 characters ("15_[1,4,9,...,100") unless
  SLURM_BITSTR_LEN=0, which is set. A `%N` throttle caps the count at N minus the
  array's elements running now (each running element is a line of its own, `8_1`).
- Memory: `MinMemory` is per node or per CPU with no mark of which in 22.05 (it drops
  the "c" that other versions print): `--mem-per-cpu=300M -n 2` shows 300M. slurmctld's
  own total is in the requested TRES (`cpu=2,mem=600M`), so the job's memory is that
  total when the job asked for memory, and 0 when MinMemory is 0 (the TRES then holds
  the node's whole memory, Slurm's default, which is not an ask). A "c" (per CPU) or "n"
  (per node) suffix, where a Slurm version prints one, is honoured.
- Demand is only a job waiting for nodes or cores (DEMAND_REASONS): more nodes would
  start it. Jobs waiting for anything else are left out: held (JobHeldUser,
  JobHeldAdmin: a person must release them), Dependency and DependencyNeverSatisfied
  (another job first), BeginTime (a time; also a requeued job's first moments),
  association and QOS limits (AssocGrp*, AssocMax*, QOSGrp*, QOSMax*: more nodes would
  not let them start), JobArrayTaskLimit (the array's throttle), Reservation, Licenses,
  PartitionDown/Inactive/TimeLimit/NodeLimit, InvalidAccount/InvalidQOS, BadConstraints.
  For a moment after sbatch, a dependent or begin-time job still shows the submit-time
  test's reason ("ReqNodeNotAvail, ...") until the scheduler's next pass says Dependency or
  BeginTime; its EligibleTime is already "N/A" or in the future. So a job is demand only
  when eligible (EligibleTime, epoch seconds, not after the snapshot's time), too: one
  just submitted may wait for the next snapshot, none is counted that cannot start.
  With every burst node FUTURE, a pending job's reason is "Nodes required for job are
  DOWN, DRAINED or reserved for jobs in higher priority partitions" or "ReqNodeNotAvail,
  May be reserved for other job"; once a node is up, "Resources" or "Priority".
- `squeue -p nosuch` is not an error (it lists nothing), so the partitions are checked
  against `scontrol show partition` first: a burst partition Slurm lacks is permanent.
- sinfo and `scontrol show node` hide FUTURE nodes; `scontrol --future -o show node
  burst[1-8]` prints every named node on one line each (and "Node x not found", exit 1,
  for a name it lacks, with the others still printed).
"""

from __future__ import annotations

import re
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import hostlist

from allotment.burst.engines import PendingGroup, QueueSnapshot, RunningJob
from allotment.inventory.engines import EngineError

from .nodes import SlurmNodes
from .sacctmgr import Cluster

SEP = "\x1f"  # ends each squeue field: in no account, partition or node name
FIELDS = [
    "JobArrayID", "State", "Reason", "EligibleTime", "Account", "NumCPUs", "MinMemory",
    "NumNodes",
    "tres-alloc", "Partition", "Feature", "NodeList", "Comment",
]  # fmt: skip
# Running, or holding nodes on the way in or out: a VM with such a job is not idle.
RUNNING_STATES = ("RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED")
# Waiting for nodes or cores: more nodes would start these (see the module's docstring).
DEMAND_REASONS = (
    "None",  # not yet looked at by the scheduler
    "Resources",
    "Priority",  # behind higher-priority jobs that wait for resources too
    "ReqNodeNotAvail",  # ", May be reserved for other job", ", UnavailableNodes:..."
    "Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority",
    "NodeDown",
    "PowerUpNodeDown",
)
_UNITS = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024**2, "P": 1024**3}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([KMGTP]?)([cn]?)$")
_ARRAY = re.compile(r"^(\d+)_\[([^\]]*)\]?$")
_REQUEST = re.compile(r"(?:^|\s)(image|flavor)=(\S+)")


class QueueCluster(Cluster):
    """The machine's cluster, with squeue's and sacct's output in the forms read here:
    array index expressions whole, times as epoch seconds, and times given in UTC."""

    def env(self) -> dict[str, str]:
        return {**super().env(), "SLURM_BITSTR_LEN": "0", "SLURM_TIME_FORMAT": "%s",
                "TZ": "UTC"}  # fmt: skip


# -- reading squeue, sacct and scontrol (pure, tested without Slurm) ----------------------


def size_mb(text: str, cores: int = 1, nodes: int = 1) -> int:
    """Slurm's size forms in MB: "1000M", "2G", "1.50G", "512K", "1T", a bare number (MB);
    "300Mc" per CPU (times cores), "300Mn" per node (times nodes). Raises ValueError otherwise."""
    found = _SIZE.match(text.strip())
    if not found:
        raise ValueError(f"not a Slurm memory size: {text!r}")
    number, unit, per = found.groups()
    mb = float(number) * _UNITS[unit or "M"]
    return round(mb * (cores if per == "c" else nodes if per == "n" else 1))


def job_memory_mb(min_memory: str, tres: str, cores: int, nodes: int) -> int:
    """The memory a job asked for in all, in MB; 0 when it asked for none."""
    if size_mb(min_memory.rstrip("cn") or "0") == 0:
        return 0
    if min_memory[-1:] in ("c", "n"):
        return size_mb(min_memory, cores, nodes)
    total = next((t.removeprefix("mem=") for t in tres.split(",") if t.startswith("mem=")), "")
    return size_mb(total) if total else size_mb(min_memory) * max(nodes, 1)


def array_tasks(job_id: str) -> tuple[str, int, int | None] | None:
    """A pending array's line, "8_[2-100%5]": (array job id, element count, throttle or
    None). None for a job that is not a pending array (a plain id, or one element "8_3")."""
    found = _ARRAY.match(job_id)
    if not found:
        return None
    spec, _, throttle = found.group(2).partition("%")
    count = 0
    for part in spec.split(","):
        span, _, step = part.partition(":")
        first, _, last = span.partition("-")
        count += (int(last) - int(first)) // int(step or 1) + 1 if last else 1
    return found.group(1), count, int(throttle) if throttle else None


def is_demand(reason: str) -> bool:
    """Whether a pending job with this reason waits for nodes (see DEMAND_REASONS)."""
    return reason.startswith(DEMAND_REASONS)


def requested(comment: str) -> tuple[str, str]:
    """The (image, flavor) a job's comment asks for ("image=NAME flavor=NAME")."""
    asked = {key: value for key, value in _REQUEST.findall(comment)}
    return asked.get("image", ""), asked.get("flavor", "")


def _null(text: str) -> str:
    return "" if text == "(null)" else text


@dataclass
class _Array:
    """A pending array line whose count waits for its running elements to be known."""

    key: tuple
    count: int
    throttle: int


class QueueReader:
    """squeue's lines in, PendingGroup counts and RunningJobs out, one line at a time:
    memory stays per group, not per job, at any queue length."""

    def __init__(self, partitions: Iterable[str], now: float):
        self.partitions = list(partitions)
        self.now = now
        self.counts: Counter[tuple] = Counter()
        self.running: list[RunningJob] = []
        self._arrays: list[tuple[str, _Array]] = []
        self._running_elements: Counter[str] = Counter()

    def feed(self, line: str) -> None:
        line = line.rstrip("\n")
        if not line.strip():
            return
        fields = line.split(SEP, len(FIELDS) - 1)
        if len(fields) != len(FIELDS):
            raise ValueError(f"squeue line with {len(fields)} fields, not {len(FIELDS)}: "
                             f"{line!r}")  # fmt: skip
        job, state, reason, eligible, account, cpus, memory, nodes, tres, partition = fields[:10]
        features, node_list, comment = fields[10], fields[11], fields[12].removesuffix(SEP)
        cores = int(cpus)
        if state in RUNNING_STATES:
            self.running.append(RunningJob(
                job_id=job, account=account, cores=cores,
                nodes=tuple(hostlist.expand_hostlist(node_list)) if node_list else (),
            ))  # fmt: skip
            if "_" in job:
                self._running_elements[job.split("_", 1)[0]] += 1
            return
        if state != "PENDING" or not is_demand(reason):
            return
        if not eligible.isdigit() or int(eligible) > self.now:
            return  # held, dependent or begin-time, not yet marked so (see the docstring)
        image, flavor = requested(_null(comment))
        # A job of N nodes is N VMs' worth: demand per node, never the whole on one VM
        # (Slurm would not start it there). NumCPUs and the memory are the job's total.
        per_job = max(int(nodes or 1), 1)
        key = (
            -(-cores // per_job),
            -(-job_memory_mb(memory, tres, cores, per_job) // per_job),
            next((p for p in partition.split(",") if p in self.partitions), partition),
            account,
            _null(features),
            image,
            flavor,
            per_job,
        )
        tasks = array_tasks(job)
        if tasks is None:
            self.counts[key] += 1
        elif tasks[2] is None:
            self.counts[key] += tasks[1]
        else:
            self._arrays.append((tasks[0], _Array(key, tasks[1], tasks[2])))

    def pending(self) -> list[PendingGroup]:
        counts = self.counts.copy()
        for array_id, array in self._arrays:
            room = array.throttle - self._running_elements[array_id]
            if room > 0:
                counts[array.key] += min(array.count, room)
        return [
            PendingGroup(*key[:7], count=n, nodes=key[7])  # the key's order is PendingGroup's
            for key, n in sorted(counts.items())
            if n
        ]


_NODE_LINE = re.compile(r"^NodeName=(\S+)\s.*?\sState=(\S+)")
_BASE = {"IDLE": "idle", "ALLOCATED": "alloc", "MIXED": "mix", "DOWN": "down",
         "FUTURE": "future", "UNKNOWN": "unk", "ERROR": "err"}  # fmt: skip
_SUFFIX = {"NOT_RESPONDING": "*", "POWERED_DOWN": "~", "POWERING_UP": "#",
           "POWERING_DOWN": "%", "POWER_DOWN": "!"}  # fmt: skip


def short_state(state: str) -> str:
    """scontrol's long state ("MIXED+DRAIN", "IDLE+CLOUD+POWERED_DOWN") in sinfo's short
    words: idle, alloc, mix, down, future, unk; comp while completing; drain (drained
    and idle or down) and drng (draining: drained with jobs); fail; then sinfo's marks:
    "*" not responding, "~" powered down, "#" powering up, "%" powering down."""
    base, *flags = state.split("+")
    word = _BASE.get(base, base.lower())
    if "COMPLETING" in flags and word in ("idle", "alloc", "mix"):
        word = "comp"
    if "FAIL" in flags:
        word = "failg" if word in ("alloc", "mix", "comp") else "fail"
    elif "DRAIN" in flags:
        word = "drng" if word in ("alloc", "mix", "comp") else "drain"
    return word + "".join(mark for flag, mark in _SUFFIX.items() if flag in flags)


def node_states(text: str) -> dict[str, str]:
    """`scontrol -o show node` lines → {node: short state}."""
    found = {}
    for line in text.splitlines():
        if match := _NODE_LINE.match(line):
            found[match.group(1)] = short_state(match.group(2))
    return found


def partition_names(text: str) -> set[str]:
    """`scontrol -o show partition` lines → the partitions' names."""
    return {m.group(1) for m in re.finditer(r"^PartitionName=(\S+)", text, re.M)}


def core_seconds_of(lines: Iterable[str], start: int, end: int) -> dict[str, int]:
    """sacct's "JobID|Account|AllocCPUS|NNodes|Start|End" lines (times as epoch seconds)
    → core-seconds per account within [start, end]. A run still going (End "Unknown")
    counts up to `end`; one that never started counts nothing. A job on several nodes
    counts its cores evenly shared among them (sacct gives no per-node split)."""
    used: defaultdict[str, int] = defaultdict(int)
    for line in lines:
        if not line.strip():
            continue
        _, account, cpus, nnodes, began, ended = line.split("|")[:6]
        if not began.isdigit():
            continue
        first = max(int(began), start)
        last = min(int(ended) if ended.isdigit() else end, end)
        if last > first:
            used[account] += int(cpus) * (last - first) // max(int(nnodes or 1), 1)
    return dict(used)


# -- asking Slurm ------------------------------------------------------------------------


class SlurmQueue:
    """burst.engines.BatchQueue for a ledger machine whose engine is Slurm."""

    def __init__(self, machine) -> None:
        if machine.engine != "slurm":
            raise EngineError(
                f"Machine {machine.name} runs {machine.engine!r}, not Slurm: it has no Slurm "
                "queue to burst from.",
                permanent=True,
            )
        self.machine = machine.name
        self.slurm = SlurmNodes(machine)
        base = self.slurm.cluster
        self.slurm.cluster = QueueCluster(base.name, base.slurm_conf)

    @property
    def name(self) -> str:
        return self.slurm.name

    def snapshot(self, partitions: Iterable[str], nodes: Iterable[str]) -> QueueSnapshot:
        partitions = list(partitions)
        self._check_partitions(partitions)
        taken = time.time()
        reader = QueueReader(partitions, taken)
        command = ["squeue", "-h", "--noconvert", "-p", ",".join(partitions),
                   "-t", ",".join(("PENDING", *RUNNING_STATES)),
                   "-O", ",".join(f"{f}:0{SEP}" for f in FIELDS)]  # fmt: skip
        for line in self._stream(command, "read the queue"):
            try:
                reader.feed(line)
            except ValueError as e:
                raise EngineError(f"Slurm cluster {self.name}: could not read squeue: {e}") from e
        return QueueSnapshot(
            machine=self.machine,
            pending=reader.pending(),
            running=reader.running,
            nodes=self.node_states(nodes),
            taken_at=taken,
        )

    def node_states(self, nodes: Iterable[str]) -> dict[str, str]:
        """Each named node's state (FUTURE ones too); a node Slurm lacks is left out.
        `nodes` may hold host lists ("burst[1-8]")."""
        names = [n for spec in nodes for n in hostlist.expand_hostlist(spec)]
        if not names:
            return {}
        command = ["scontrol", "--future", "-o", "show", "node",
                   hostlist.collect_hostlist(names)]  # fmt: skip
        code, out, err = self.slurm._run(*command)
        missing = {m for m in re.findall(r"Node (\S+) not found", err)}
        if code != 0 and not missing:
            raise self.slurm._error("read the burst nodes' states", command, err)
        wanted = set(names)
        return {n: s for n, s in node_states(out).items() if n in wanted}

    def core_seconds(self, node: str, start: int, end: int) -> dict[str, int]:
        self.slurm._valid(node)
        command = ["sacct", "-n", "-P", "-a", "-X", "-D", "-N", node,
                   "-S", _iso_utc(start), "-E", _iso_utc(end),
                   "-o", "JobID,Account,AllocCPUS,NNodes,Start,End"]  # fmt: skip
        code, out, err = self.slurm._run(*command)
        if code != 0:
            raise self.slurm._error(f"read the jobs of node {node}", command, err)
        return core_seconds_of(out.splitlines(), start, end)

    # -- the machinery ----------------------------------------------------------------

    def _check_partitions(self, partitions: list[str]) -> None:
        if not partitions:
            raise EngineError(f"Slurm cluster {self.name}: no burst partition named.",
                              permanent=True)  # fmt: skip
        command = ["scontrol", "-o", "show", "partition"]
        code, out, err = self.slurm._run(*command)
        if code != 0:
            raise self.slurm._error("list the partitions", command, err)
        known = partition_names(out)
        if unknown := [p for p in partitions if p not in known]:
            raise EngineError(
                f"Slurm cluster {self.name} has no partition {', '.join(unknown)} (it has "
                f"{', '.join(sorted(known)) or 'none'}): fix the machine's burst partitions.",
                permanent=True,
            )

    def _stream(self, command: list[str], what: str) -> Iterator[str]:
        """The command's output line by line as it comes; its failure as EngineError."""
        try:
            pending = self.slurm.cluster.start(*command)
        except FileNotFoundError:
            raise EngineError(f"Slurm cluster {self.name}: {command[0]} is not installed on "
                              "this host.", permanent=True) from None  # fmt: skip
        child = pending.child
        try:
            yield from child.stdout
            err = child.stderr.read()
            child.wait(timeout=120)
        except subprocess.TimeoutExpired:
            child.kill()
            raise EngineError(f"Slurm cluster {self.name}: `{command[0]}` did not end in "
                              "120 s.") from None  # fmt: skip
        finally:
            if child.poll() is None:  # the caller stopped reading: do not leave it behind
                child.kill()
                child.wait()
        if child.returncode != 0:
            raise self.slurm._error(what, command, err)


def _iso_utc(ts: int) -> str:
    """An epoch time as sacct reads it with TZ=UTC (QueueCluster's environment)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))
