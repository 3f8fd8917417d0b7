"""HTCondor's queue as burst decides on it (burst.engines.BatchQueue), through the
htcondor2 bindings (PyPI `htcondor` 25.x): the idle jobs counted by autocluster, the jobs
running, the burst VMs' startd states, and the core-seconds each account used on a VM.

A snapshot is three queries whatever the queue's length:

- ONE schedd query for the idle jobs, aggregated by the schedd into autoclusters over
  the attributes that make a burst group (`Schedd.query(opts=QueryOpt.GroupBy,
  projection=[...])`): one ad per autocluster with `Id` and `JobCount`, the projected
  attributes as the jobs hold them (a literal, or the expression itself, with the
  attributes it refers to), never one ad per job. GroupBy, not `QueryOpt.AutoCluster`:
  with AutoCluster the schedd returns its *negotiation* autoclusters, whose attributes
  are whatever the negotiator found significant (AcctGroup or a VM image need not be
  among them) and whose JobCount counts every job in the autocluster, running and held
  ones too, with the constraint tested against the autocluster ad, not the jobs
  (condor_schedd.V6/autocluster.cpp, schedd.cpp command_query_job_aggregates). GroupBy
  builds the same autoclusters (JobCluster) on the fly from the jobs that pass the
  constraint, so JobCount is exactly the idle jobs of the group. The schedd also tests
  the constraint against each aggregate ad, so every attribute the constraint names is
  projected too.
- ONE schedd query for the running jobs (JobStatus 2 running, 6 transferring output,
  7 suspended: each still holds its slot), RemoteHost "slot1_3@vm.domain" → node "vm".
- ONE collector query for the startd ads of burst VMs (those whose startd advertises
  AllotmentVM, which burst.contextualize puts in STARTD_ATTRS).

Demand is vanilla-universe (JobUniverse 5, containers and docker included) jobs in
JobStatus 1 (idle): held (5), removed, scheduler- and local-universe jobs (DAGMan) never
need a VM. The site names in the machine's engine_options which job attribute holds
each part of a group; its own HTCondor has no partitions, so a burst "partition" is an
attribute the jobs carry (`+BurstPartition = "burst"` in the submit file or a schedd job
transform), or, when the site names none, all idle jobs belong to the one burst
partition:

    {"collector": "cm.example.org:9618", "schedd": "submit.example.org",
     "account_attr": "AcctGroup", "partition_attr": "BurstPartition",
     "image_attr": "VMImage", "flavor_attr": "VMFlavor", "features_attr": "BurstFeatures",
     "job_constraint": "..."}

Memory: RequestMemory in MiB when the job asked for it (condor_submit writes the number);
an expression that refers to MemoryUsage is HTCondor's default for a job that asked for
none (JOB_DEFAULT_REQUESTMEMORY grows with what the job used), counted 0 as Slurm counts
a job with no --mem. Other expressions are evaluated in the ad.

Errors: htcondor2 raises HTCondorException (and, in some versions, OSError) when a
daemon cannot be reached or fails a query: temporary, the burst loop asks again. A bad
attribute name or constraint in the options is permanent.

No HTCondor daemon can run on the machines this is built on (Debian 12 packages none;
the wheel holds client bindings only), so it is tested against recorded results in the
bindings' real shapes (integrations/htcondor/testing.py, tests/data): the only stand-in.
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import classad2
import hostlist

from allotment.burst.engines import PendingGroup, QueueSnapshot, RunningJob
from allotment.inventory.engines import EngineError

IDLE = 1
RUNNING_STATUSES = (2, 6, 7)  # running, transferring output, suspended: the slot is held
VANILLA = 5
VM_ATTR = "AllotmentVM"  # in STARTD_ATTRS of every burst VM (burst.contextualize)
_ATTR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_ADDRESS = re.compile(r"[\d.]+|[\dA-Fa-f:]*:[\dA-Fa-f:.]*")  # IPv4, IPv6
BUSY_STATES = ("Claimed", "Matched", "Preempting")
STARTD_PROJECTION = ["Name", "Machine", VM_ATTR, "State", "Activity", "SlotType", "Cpus",
                     "Draining", "Absent"]  # fmt: skip
USAGE_PROJECTION = ["ClusterId", "ProcId", "JobStatus", "RequestCpus", "RemoteWallClockTime",
                    "JobCurrentStartDate", "CompletionDate", "EnteredCurrentStatus"]  # fmt: skip


@dataclass(frozen=True)
class Options:
    """Where the pool is and which job attributes make a burst group (engine_options)."""

    collector: str = ""  # "host:port"; "" is the bindings' COLLECTOR_HOST
    schedd: str = ""  # the schedd's Name in the collector; "" is the pool's default
    account_attr: str = "AcctGroup"
    partition_attr: str = ""
    image_attr: str = ""
    flavor_attr: str = ""
    features_attr: str = ""
    job_constraint: str = ""

    @classmethod
    def of(cls, machine_name: str, engine_options: dict | None) -> Options:
        given = {k: v for k, v in (engine_options or {}).items() if k in cls.__dataclass_fields__}
        options = cls(**{k: str(v or "") for k, v in given.items()})
        for key in ("account_attr", "partition_attr", "image_attr", "flavor_attr",
                    "features_attr"):  # fmt: skip
            name = getattr(options, key)
            if name and not _ATTR_NAME.fullmatch(name):
                raise EngineError(
                    f"HTCondor machine {machine_name}: engine_options {key} {name!r} is not a "
                    "ClassAd attribute name.",
                    permanent=True,
                )
        if not options.account_attr:
            raise EngineError(f"HTCondor machine {machine_name}: engine_options account_attr "
                              "is empty: name the job attribute that holds the project.",
                              permanent=True)  # fmt: skip
        return options


# -- building the queries (pure) ---------------------------------------------------------


def _string_list(values: Iterable[str]) -> str:
    return "{" + ", ".join(classad2.quote(v) for v in values) + "}"


def _refs(expression: str) -> list[str]:
    """The attributes a constraint names (ClassAd's own parser: a bad one is ValueError)."""
    try:
        tree = classad2.ExprTree(expression)
    except Exception as e:  # classad2 raises ClassAdException or ValueError by version
        raise ValueError(f"not a ClassAd expression: {expression!r} ({e})") from e
    return sorted({ref.split(".")[-1] for ref in classad2.ClassAd().externalRefs(tree)})


def _partition_clause(options: Options, partitions: list[str]) -> str:
    if options.partition_attr:
        return f" && member({options.partition_attr}, {_string_list(partitions)})"
    return ""


def _extra_clause(options: Options) -> str:
    return f" && ({options.job_constraint})" if options.job_constraint else ""


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(n for n in names if n))


def idle_query(options: Options, partitions: list[str]) -> tuple[str, list[str]]:
    """(constraint, projection) of the idle-jobs autocluster query."""
    constraint = (f"JobStatus == {IDLE} && JobUniverse == {VANILLA}"
                  + _partition_clause(options, partitions) + _extra_clause(options))  # fmt: skip
    projection = _unique([
        "JobStatus", "JobUniverse", "RequestCpus", "RequestMemory", options.account_attr,
        options.partition_attr, options.image_attr, options.flavor_attr, options.features_attr,
        *(_refs(options.job_constraint) if options.job_constraint else []),
    ])  # fmt: skip
    return constraint, projection


def running_query(options: Options, partitions: list[str]) -> tuple[str, list[str]]:
    statuses = " || ".join(f"JobStatus == {s}" for s in RUNNING_STATUSES)
    constraint = (f"({statuses}) && JobUniverse == {VANILLA}"
                  + _partition_clause(options, partitions) + _extra_clause(options))  # fmt: skip
    projection = _unique(["ClusterId", "ProcId", "JobStatus", "RequestCpus", "RemoteHost",
                          options.account_attr])  # fmt: skip
    return constraint, projection


def _on_node(attr: str, node: str) -> str:
    """`attr` ("slot1_2@vm" or "slot1_2@vm.domain") names a slot of `node` ("vm")."""
    pattern = node.replace(".", "[.]")
    return f'regexp("@{pattern}([.]|$)", {attr})'


def history_constraint(node: str, start: int, end: int) -> str:
    return (f"{_on_node('LastRemoteHost', node)} && JobCurrentStartDate <= {end}"
            f" && (CompletionDate >= {start} || EnteredCurrentStatus >= {start})")  # fmt: skip


def running_on_constraint(node: str) -> str:
    statuses = " || ".join(f"JobStatus == {s}" for s in RUNNING_STATUSES)
    return f"({statuses}) && {_on_node('RemoteHost', node)}"


# -- reading the ads (pure) --------------------------------------------------------------


def value(ad: classad2.ClassAd, attr: str):
    """The attribute's value, an expression evaluated in the ad; None when it is absent,
    undefined or an error."""
    if not attr or attr not in ad:
        return None
    found = ad[attr]
    if isinstance(found, classad2.ExprTree):
        found = ad.eval(attr)
    if isinstance(found, classad2.Value):  # Undefined, Error
        return None
    return found


def _number(ad: classad2.ClassAd, attr: str, default: int = 0) -> int:
    found = value(ad, attr)
    if isinstance(found, bool) or not isinstance(found, (int, float)):
        return default
    return round(found)


def _text(ad: classad2.ClassAd, attr: str) -> str:
    found = value(ad, attr)
    return "" if found is None else str(found)


def memory_mb(ad: classad2.ClassAd) -> int:
    """RequestMemory (MiB) when the job asked for memory, else 0 (see the docstring)."""
    asked = ad.get("RequestMemory")
    if isinstance(asked, classad2.ExprTree):
        refs = {r.split(".")[-1].lower() for r in ad.externalRefs(asked)}
        refs |= {r.lower() for r in ad.internalRefs(asked)}
        if "memoryusage" in refs:
            return 0
    return max(_number(ad, "RequestMemory"), 0)


def group_key(ad: classad2.ClassAd, options: Options, partitions: list[str]) -> tuple:
    """The PendingGroup fields (less the count), in PendingGroup's order, of an
    autocluster ad."""
    return (
        max(_number(ad, "RequestCpus", 1), 1),
        memory_mb(ad),
        _text(ad, options.partition_attr) if options.partition_attr else partitions[0],
        _text(ad, options.account_attr),
        _text(ad, options.features_attr),
        _text(ad, options.image_attr),
        _text(ad, options.flavor_attr),
    )


def pending_groups(ads: Iterable[classad2.ClassAd], options: Options,
                   partitions: list[str]) -> list[PendingGroup]:  # fmt: skip
    """Autocluster ads → PendingGroups, autoclusters alike for burst summed (they may
    differ in an attribute burst does not group by), sorted as Slurm's are."""
    counts: Counter[tuple] = Counter()
    for ad in ads:
        counts[group_key(ad, options, partitions)] += _number(ad, "JobCount")
    return [PendingGroup(*key, count=n) for key, n in sorted(counts.items()) if n > 0]


def node_of(slot_name: str, names: Iterable[str] = ()) -> str:
    """A slot's host as burst names the node: "slot1_3@vm7" → "vm7"; the host's short
    name when that is a burst node's ("slot1_3@vm7.novalocal" → "vm7", where the image
    overrides the NETWORK_HOSTNAME burst.contextualize sets); else the host whole (an
    address too)."""
    host = slot_name.rpartition("@")[2]
    if host in names or _ADDRESS.fullmatch(host):
        return host
    short = host.split(".", 1)[0]
    return short if short in names else host


def running_jobs(ads: Iterable[classad2.ClassAd], options: Options,
                 names: Iterable[str] = ()) -> list[RunningJob]:  # fmt: skip
    names = set(names)
    jobs = []
    for ad in ads:
        host = _text(ad, "RemoteHost")
        jobs.append(RunningJob(
            job_id=f"{_number(ad, 'ClusterId')}.{_number(ad, 'ProcId')}",
            account=_text(ad, options.account_attr),
            cores=max(_number(ad, "RequestCpus", 1), 1),
            nodes=(node_of(host, names),) if host else (),
        ))  # fmt: skip
    return jobs


def node_state(slots: list[classad2.ClassAd]) -> str:
    """A VM's startd slot ads → Slurm's short words, as the burst loop reads them:
    idle (every slot Unclaimed), alloc (claimed, nothing left), mix (claimed, and the
    partitionable slot still has cores), drain (Drained or Owner: takes no job) and drng
    (draining with jobs still running), down (the collector's absent ad)."""
    if any(value(s, "Absent") is True for s in slots):
        return "down"
    states = [_text(s, "State") for s in slots]
    busy = any(state in BUSY_STATES for state in states)
    if any(state in ("Drained", "Owner") for state in states) or any(
        value(s, "Draining") is True for s in slots
    ):
        return "drng" if busy else "drain"
    if busy:
        room = any(_text(s, "SlotType") == "Partitionable" and _number(s, "Cpus") > 0
                   for s in slots)  # fmt: skip
        return "mix" if room else "alloc"
    return "idle"


def node_states(ads: Iterable[classad2.ClassAd], wanted: Iterable[str]) -> dict[str, str]:
    """Startd ads → {burst node: state} for the nodes named; a node with no ad is left
    out (absent, as Slurm leaves out a node it lacks)."""
    names = set(wanted)
    slots: defaultdict[str, list[classad2.ClassAd]] = defaultdict(list)
    for ad in ads:
        name = _text(ad, VM_ATTR) or node_of(_text(ad, "Machine"), names)
        if name in names:
            slots[name].append(ad)
    return {name: node_state(found) for name, found in sorted(slots.items())}


def core_seconds_of(ads: Iterable[classad2.ClassAd], account_attr: str, start: int,
                    end: int) -> dict[str, int]:  # fmt: skip
    """Job ads of a node (the history's finished ones, the queue's running ones) →
    core-seconds per account within [start, end]. A finished job's last run on the node
    ended at CompletionDate (EnteredCurrentStatus when it was removed) and lasted its
    RemoteWallClockTime, never from before JobCurrentStartDate (an evicted job's earlier
    runs were elsewhere); a running job counts from JobCurrentStartDate up to `end`.
    Cores are RequestCpus, as for Slurm's AllocCPUS."""
    used: defaultdict[str, int] = defaultdict(int)
    for ad in ads:
        began = value(ad, "JobCurrentStartDate")
        if _number(ad, "JobStatus") in RUNNING_STATUSES:
            if not isinstance(began, int):
                continue
            first, last = began, end
        else:
            last = _number(ad, "CompletionDate") or _number(ad, "EnteredCurrentStatus")
            first = last - _number(ad, "RemoteWallClockTime")
            if isinstance(began, int):
                first = max(first, began)
        first, last = max(first, start), min(last, end)
        if last > first:
            used[_text(ad, account_attr)] += max(_number(ad, "RequestCpus", 1), 1) * (last - first)
    return dict(used)


# -- asking HTCondor ---------------------------------------------------------------------


class HTCondorQueue:
    """burst.engines.BatchQueue for a ledger machine whose engine is HTCondor. `collector`
    and `schedd` are the bindings' objects, made from engine_options when not given
    (tests give recorded ones: integrations.htcondor.testing)."""

    def __init__(self, machine, collector=None, schedd=None) -> None:
        if machine.engine != "htcondor":
            raise EngineError(
                f"Machine {machine.name} runs {machine.engine!r}, not HTCondor: it has no "
                "HTCondor queue to burst from.",
                permanent=True,
            )
        self.machine = machine.name
        self.options = Options.of(machine.name, machine.engine_options)
        self._collector = collector
        self._schedd = schedd

    @property
    def where(self) -> str:
        pool = self.options.collector or "the default pool"
        return f"HTCondor machine {self.machine} (schedd {self.options.schedd or '?'} of {pool})"

    def snapshot(self, partitions: Iterable[str], nodes: Iterable[str]) -> QueueSnapshot:
        import htcondor2

        partitions = list(partitions)
        if not partitions:
            raise EngineError(f"{self.where}: no burst partition named.", permanent=True)
        if len(partitions) > 1 and not self.options.partition_attr:
            raise EngineError(
                f"{self.where}: {len(partitions)} burst partitions ({', '.join(partitions)}) "
                "but no engine_options partition_attr to tell their jobs apart.",
                permanent=True,
            )
        names = [n for spec in nodes for n in hostlist.expand_hostlist(spec)]
        taken = time.time()
        with self._calling("read the idle jobs' autoclusters"):
            constraint, projection = idle_query(self.options, partitions)
            groups = self.schedd().query(constraint, projection, opts=htcondor2.QueryOpt.GroupBy)
        with self._calling("read the running jobs"):
            constraint, projection = running_query(self.options, partitions)
            running = self.schedd().query(constraint, projection)
        return QueueSnapshot(
            machine=self.machine,
            pending=pending_groups(groups, self.options, partitions),
            running=running_jobs(running, self.options, names),
            nodes=self.node_states(names),
            taken_at=taken,
        )

    def node_states(self, nodes: Iterable[str]) -> dict[str, str]:
        """Each named burst node's state from its startd ads; `nodes` may hold host lists."""
        import htcondor2

        names = [n for spec in nodes for n in hostlist.expand_hostlist(spec)]
        if not names:
            return {}
        with self._calling("read the burst VMs' startd ads"):
            constraint = f"{VM_ATTR} isnt undefined"
            ads = self.collector().query(htcondor2.AdType.Startd, constraint, STARTD_PROJECTION)
        return node_states(ads, names)

    def core_seconds(self, node: str, start: int, end: int) -> dict[str, int]:
        if not _NODE_NAME.fullmatch(node):
            raise EngineError(f"{self.where}: {node!r} is not a node name.", permanent=True)
        projection = _unique([*USAGE_PROJECTION, "LastRemoteHost", self.options.account_attr])
        with self._calling(f"read the jobs of node {node}"):
            ads = list(self.schedd().history(history_constraint(node, start, end), projection))
            ads += self.schedd().query(running_on_constraint(node), [*projection, "RemoteHost"])
        return core_seconds_of(ads, self.options.account_attr, start, end)

    # -- the machinery ----------------------------------------------------------------

    def collector(self):
        if self._collector is None:
            import htcondor2

            with self._calling("reach the collector"):
                self._collector = htcondor2.Collector(self.options.collector or None)
        return self._collector

    def schedd(self):
        if self._schedd is None:
            import htcondor2

            kind = htcondor2.DaemonType.Schedd
            with self._calling("locate the schedd"):
                if self.options.schedd:
                    location = self.collector().locate(kind, self.options.schedd)
                else:
                    location = self.collector().locate(kind)
                self._schedd = htcondor2.Schedd(location)
        return self._schedd

    @contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        """The bindings' failures as EngineError: a daemon that does not answer is
        temporary; a query HTCondor cannot parse (the site's options) is permanent."""
        import htcondor2

        try:
            yield
        except EngineError:
            raise
        except (htcondor2.HTCondorException, OSError, TimeoutError) as e:
            raise EngineError(f"{self.where}: could not {what}: {e}") from e
        except (RuntimeError, ValueError, TypeError, classad2.ClassAdException) as e:
            raise EngineError(f"{self.where}: could not {what}: {e} (check the machine's "
                              "engine_options)", permanent=True) from e  # fmt: skip
