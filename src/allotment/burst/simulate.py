"""Replaying a real workload trace through burst in virtual time: what a policy would do
before a site runs it (`allot burst simulate`).

The jobs of an SWF trace arrive at their submit times; every `cycle_s` seconds of virtual
time the decision is taken by `demand.decide`, the agent's own function, on cloud views
built by `lifecycle.cloud_view` as the agent builds them, and the VMs' lives follow
`lifecycle`'s rules (boot and registration timeouts, back-off, idle retirement with
headroom). What the agent learns from engines is played here: a VM's boot and its
registration take times drawn from the cloud's distributions (clouds.yaml, seeded), and
the simulator is the batch system: a job starts on a registered VM with room as soon as
there is one (best fit), and a VM's time is charged to the projects whose jobs used it
(charging.shares), as the agent charges it.

Cost is per group and per event, never per job per cycle: jobs wait in their demand
group (the agent's grouping), events (arrivals, boots, job ends) are taken in time order
from a heap, and a cycle in which nothing changed since a decision that booted nothing
would decide the same again, so it is counted (its refusals too) without being taken.
"""

from __future__ import annotations

import bisect
import gzip
import heapq
import math
import random
import time
import zoneinfo
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import yaml

from allotment.usage.parsing.common import ParseError, parse_instant
from allotment.usage.parsing.swf import FIELDS, _is_number

from . import demand, lifecycle
from .charging import shares
from .engines import PendingGroup
from .services import BACKOFF_BASE, BACKOFF_MAX

DEFAULT_IMAGE = "burst-worker"
MAX_POINTS = 1000  # samples in a run's series, whatever its span


class ConfigError(ValueError):
    """clouds.yaml says something the simulator cannot use: where, and what was expected."""


# -- clouds.yaml ------------------------------------------------------------------------


@dataclass(frozen=True)
class Dist:
    """Seconds drawn from a distribution: fixed, uniform or lognormal (by median and
    95th percentile, as people describe boot times)."""

    kind: str
    a: float
    b: float = 0.0

    def draw(self, rng: random.Random) -> float:
        if self.kind == "fixed":
            return self.a
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b)
        return rng.lognormvariate(self.a, self.b)

    @classmethod
    def parse(cls, spec, where: str) -> Dist:
        if isinstance(spec, int | float):
            return cls("fixed", float(spec))
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: expected a number or {{dist: ...}}, got {spec!r}")
        kind = spec.get("dist")

        def num(key: str) -> float:
            value = spec.get(key)
            if not isinstance(value, int | float) or value < 0:
                raise ConfigError(f"{where}: {key}: expected seconds (a number ≥ 0), got {value!r}")
            return float(value)

        if kind == "fixed":
            return cls("fixed", num("s"))
        if kind == "uniform":
            low, high = num("min_s"), num("max_s")
            if high < low:
                raise ConfigError(f"{where}: max_s {high} is below min_s {low}")
            return cls("uniform", low, high)
        if kind == "lognormal":
            median, p95 = num("median_s"), num("p95_s")
            if not 0 < median <= p95:
                raise ConfigError(f"{where}: expected 0 < median_s ≤ p95_s")
            return cls("lognormal", math.log(median), math.log(p95 / median) / 1.6448536)
        raise ConfigError(f"{where}: dist: expected fixed, uniform or lognormal, got {kind!r}")


def _model_default(name: str):
    """The agent's default for a cloud setting: the Cloud model's own field default."""
    from .models import Cloud

    return Cloud._meta.get_field(name).get_default()


@dataclass
class SimCloud:
    """A cloud as clouds.yaml describes it: the site's settings (the attributes of
    burst.models.Cloud the rules read), the cloud's quota and flavors, and the
    distributions of its boot and registration times."""

    name: str
    flavors: list[demand.FlavorView]
    quota: dict
    priority: int = 10
    price_per_core_hour: Decimal = Decimal(0)
    tags: list[str] = field(default_factory=list)
    default_image: str = DEFAULT_IMAGE
    images: frozenset[str] = frozenset({DEFAULT_IMAGE})
    max_instances: int | None = None
    max_cores: int | None = None
    max_ram_mb: int | None = None
    max_starting: int = 5
    max_boots_per_cycle: int = 10
    idle_keep: int = 600
    idle_headroom: int = 0
    boot_timeout: int = 900
    register_timeout: int = 900
    enabled: bool = True
    boot_time: Dist = Dist("fixed", 60.0)
    registration_time: Dist = Dist("fixed", 30.0)


SETTINGS = ("priority", "max_instances", "max_cores", "max_ram_mb", "max_starting",
            "max_boots_per_cycle", "idle_keep", "idle_headroom", "boot_timeout",
            "register_timeout")  # fmt: skip
NULLABLE = ("max_instances", "max_cores", "max_ram_mb")  # the site's caps: None is none


@dataclass
class Config:
    clouds: list[SimCloud]
    cycle_s: float = 10.0
    seed: int = 0
    budgets: dict[str, Decimal] = field(default_factory=dict)  # account -> VM hours


def load_config(path: str | Path) -> Config:
    """Read clouds.yaml (see examples/clouds.yaml); errors name the file and the field."""
    source = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as e:
        raise ConfigError(f"{source}: cannot read it: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: not YAML: {e}") from None
    return parse_config(data, source)


def _int(value, where: str, *, none: bool = False) -> int | None:
    if value is None and none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{where}: expected a whole number ≥ 0, got {value!r}")
    return value


def parse_config(data, source: str = "clouds.yaml") -> Config:
    if not isinstance(data, dict) or not isinstance(data.get("clouds"), list) or not data["clouds"]:
        raise ConfigError(f"{source}: expected a mapping with a list of clouds under 'clouds'")
    clouds = []
    for i, c in enumerate(data["clouds"]):
        where = f"{source}: clouds[{i}]"
        if not isinstance(c, dict) or not c.get("name"):
            raise ConfigError(f"{where}: expected a mapping with a name")
        where = f"{source}: cloud {c['name']}"
        flavors = []
        for j, f in enumerate(c.get("flavors") or []):
            fw = f"{where}: flavors[{j}]"
            if not isinstance(f, dict) or not f.get("name"):
                raise ConfigError(f"{fw}: expected {{name, cores, ram_mb}}")
            cores, ram = (
                _int(f.get("cores"), f"{fw}: cores"),
                _int(f.get("ram_mb"), f"{fw}: ram_mb"),
            )
            flavors.append(demand.FlavorView(str(f["name"]), cores, ram))
        if not flavors:
            raise ConfigError(f"{where}: flavors: expected at least one flavor")
        quota = c.get("quota") or {}
        for key in quota:
            if key not in ("instances", "cores", "ram_mb"):
                raise ConfigError(
                    f"{where}: quota: unknown limit {key!r} (instances, cores, ram_mb)"
                )
            _int(quota[key], f"{where}: quota: {key}", none=True)
        settings = {k: _model_default(k) for k in SETTINGS}
        for key in SETTINGS:
            if key in c:
                settings[key] = _int(c[key], f"{where}: {key}", none=key in NULLABLE)
        image = str(c.get("default_image") or DEFAULT_IMAGE)
        try:
            price = Decimal(str(c.get("price_per_core_hour", 0)))
        except ArithmeticError:
            raise ConfigError(f"{where}: price_per_core_hour: expected a number") from None
        clouds.append(
            SimCloud(
                name=str(c["name"]),
                flavors=flavors,
                quota=dict(quota),
                price_per_core_hour=price,
                tags=[str(t) for t in c.get("tags") or []],
                default_image=image,
                images=frozenset([image, *(c.get("images") or [])]),
                boot_time=Dist.parse(c.get("boot_time", 60), f"{where}: boot_time"),
                registration_time=Dist.parse(
                    c.get("registration_time", 30), f"{where}: registration_time"
                ),
                **settings,
            )
        )
    names = [c.name for c in clouds]
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: clouds: a name is used twice ({', '.join(names)})")
    budgets = {}
    for account, hours in (data.get("budgets") or {}).items():
        try:
            budgets[str(account)] = Decimal(str(hours))
        except ArithmeticError:
            raise ConfigError(f"{source}: budgets: {account}: expected VM hours") from None
    cycle = data.get("cycle_s", 10)
    if not isinstance(cycle, int | float) or cycle <= 0:
        raise ConfigError(f"{source}: cycle_s: expected seconds > 0, got {cycle!r}")
    return Config(clouds, float(cycle), int(data.get("seed", 0)), budgets)


# -- the trace ---------------------------------------------------------------------------


@dataclass
class Trace:
    """Jobs of a trace in submit order, as parallel lists (a year is half a million)."""

    name: str
    epoch: int = 0
    zone: str = "UTC"
    submit: list[float] = field(default_factory=list)
    run: list[float] = field(default_factory=list)
    cores: list[int] = field(default_factory=list)
    memory_mb: list[int] = field(default_factory=list)
    account: list[str] = field(default_factory=list)
    partition: list[str] = field(default_factory=list)
    invalid: int = 0  # no submit time, or no processors known

    def __len__(self) -> int:
        return len(self.submit)


def read_swf(path: str | Path, start: str | None = None, end: str | None = None,
             speedup: float = 1.0) -> Trace:  # fmt: skip
    """The jobs of an SWF file (.gz or plain) submitted in [start, end) (ISO times in the
    trace's own time zone, or epochs). A job needs cores = its requested processors (else
    allocated) and memory = requested memory per processor times those cores; its account
    is its group (g<n>, else its user u<n>), its partition its queue (q<n>). `speedup`
    divides the time between arrivals (the load scaled up), not the jobs' run times."""
    source = str(path)
    opener = gzip.open if source.endswith(".gz") else open
    trace = Trace(Path(source).name)
    rows = []
    with opener(source, "rt") as lines:
        for number, line in enumerate(lines, start=1):
            if line.startswith(";"):
                key, _, value = line[1:].partition(":")
                if key.strip() == "UnixStartTime":
                    trace.epoch = int(value)
                elif key.strip() == "TimeZoneString" and value.strip():
                    trace.zone = value.strip()
                continue
            f = line.split()
            if not f:
                continue
            if len(f) != 18:
                raise ParseError(source, number, "line", line.strip(), "18 numbers")
            try:
                submit, run = float(f[1]), float(f[3])
                alloc, requested, mem_kb = int(f[4]), int(f[7]), float(f[9])
                user, group, queue = int(f[11]), int(f[12]), int(f[14])
            except ValueError:
                bad = next(i for i, v in enumerate(f) if not _is_number(v))
                raise ParseError(source, number, FIELDS[bad], f[bad], "a number") from None
            cores = requested if requested > 0 else alloc
            if submit < 0 or cores <= 0:
                trace.invalid += 1
                continue
            account = f"g{group}" if group >= 0 else (f"u{user}" if user >= 0 else "unknown")
            memory = math.ceil(mem_kb * cores / 1024) if mem_kb > 0 else 0
            rows.append((submit, max(run, 0.0), cores, memory, account,
                         f"q{queue}" if queue >= 0 else "burst"))  # fmt: skip
    lo = parse_instant(start, trace.zone) - trace.epoch if start else -math.inf
    hi = parse_instant(end, trace.zone) - trace.epoch if end else math.inf
    rows = sorted(r for r in rows if lo <= r[0] < hi)
    first = rows[0][0] if rows else 0.0
    for submit, run, cores, memory, account, partition in rows:
        trace.submit.append(first + (submit - first) / speedup)
        trace.run.append(run)
        trace.cores.append(cores)
        trace.memory_mb.append(memory)
        trace.account.append(account)
        trace.partition.append(partition)
    return trace


# -- the simulator ---------------------------------------------------------------------


class SimVM:
    __slots__ = ("account", "cloud", "cores", "flavor", "free_cores", "free_ram", "group",
                 "idle_since", "image", "jobs", "name", "ram_mb", "requested_at", "seq",
                 "state", "used")  # fmt: skip

    def __init__(self, seq: int, cloud: str, boot: demand.Boot, at: float):
        self.seq, self.cloud, self.name = seq, cloud, f"{cloud}-vm{seq}"
        self.flavor, self.image, self.group = boot.flavor, boot.image, boot.group
        self.account, self.cores, self.ram_mb = boot.account, boot.cores, boot.ram_mb
        self.free_cores, self.free_ram = boot.cores, boot.ram_mb
        self.state, self.requested_at, self.idle_since = "booting", at, None
        self.jobs = 0
        self.used: Counter = Counter()  # account -> core-seconds of its jobs here


@dataclass
class Group:
    pending: PendingGroup  # count 0: a template
    key: str
    waiting: deque = field(default_factory=deque)  # job indexes, first come first


# event kinds, in the heap as (time, seq, kind, vm, payload)
JOB_END, ACTIVE, REGISTERED, FAILED, IDLE_DUE, BACKOFF_END = range(6)


class Simulator:
    """One replay. Public steps (`add_job`, `decision`, `apply`, `run`) so a test can set
    a state and compare the decision with the agent's."""

    def __init__(self, config: Config, trace: Trace | None = None):
        self.config = config
        self.trace = trace or Trace("")
        self.clouds = {c.name: c for c in config.clouds}
        self.rng = {c.name: random.Random(f"{config.seed}:{c.name}") for c in config.clouds}
        self.live = {c.name: lifecycle.LiveCounts() for c in config.clouds}
        self.backoffs: dict[str, dict[tuple[str, str], list]] = {c: {} for c in self.clouds}
        self.idle: dict[str, dict[int, SimVM]] = {c: {} for c in self.clouds}
        self.kept: dict[str, set[int]] = {c: set() for c in self.clouds}
        self.last_refusals: Counter = Counter()
        self.vms: dict[int, SimVM] = {}  # live
        self.supply: dict[int, SimVM] = {}  # booting or idle (states.SUPPLY)
        self.open: dict[tuple[int, int], dict[int, SimVM]] = {}  # room -> VMs with it
        self.open_keys: list[tuple[int, int]] = []
        self.groups: dict[tuple, Group] = {}
        self.job_group: list[Group] = []
        self.waiting: dict[str, Group] = {}  # group key -> group with jobs waiting
        self.pending = 0
        self.running = 0
        self.heap: list = []
        self.seq = 0
        self.now = 0.0
        self.dirty = True
        self.fit_anywhere: dict[tuple[int, int], bool] = {}
        self.charged: Counter = Counter()  # account -> VM-seconds charged
        self.stats = Stats(config.clouds)
        self.flavors = [f for c in config.clouds for f in c.flavors]
        for i in range(len(self.trace)):
            self._classify(i)
        self.arrived = 0  # jobs of the trace that arrived so far
        self.last: tuple[int, Counter] | None = None  # see _repeat

    # -- jobs and the batch system -----------------------------------------------------

    def _classify(self, i: int) -> None:
        """The job's demand group, or None (counted) when no flavor of any cloud fits it."""
        t = self.trace
        shape = (t.cores[i], t.memory_mb[i])
        ok = self.fit_anywhere.get(shape)
        if ok is None:
            probe = PendingGroup(cores=shape[0], memory_mb=shape[1], partition="", account="")
            ok = self.fit_anywhere[shape] = any(demand.fits(f, probe) for f in self.flavors)
        if not ok:
            self.stats.jobs_fit_nowhere += 1
            self.job_group.append(None)
            return
        key = (t.account[i], t.partition[i], shape)
        group = self.groups.get(key)
        if group is None:
            template = PendingGroup(cores=shape[0], memory_mb=shape[1],
                                    partition=t.partition[i], account=t.account[i])  # fmt: skip
            group = self.groups[key] = Group(template, demand.group_key(template))
        self.job_group.append(group)

    def add_job(self, submit: float, run: float, cores: int, memory_mb: int = 0,
                account: str = "a", partition: str = "burst") -> int:  # fmt: skip
        """Append a job to the trace, in submit order; returns its index."""
        t = self.trace
        if len(t) and submit < t.submit[-1]:
            raise ValueError(f"job submitted at {submit} after one submitted at {t.submit[-1]}")
        for name, value in (("submit", submit), ("run", run), ("cores", cores),
                            ("memory_mb", memory_mb), ("account", account),
                            ("partition", partition)):  # fmt: skip
            getattr(t, name).append(value)
        self._classify(len(t) - 1)
        return len(t) - 1

    def _arrive(self, j: int) -> None:
        group = self.job_group[j]
        if group is None:
            return
        self.stats.jobs_arrived += 1
        self.dirty = True
        t = self.trace
        cores, memory = t.cores[j], t.memory_mb[j]
        if not group.waiting:
            # No job of its group waits, so the queue is first come first served: it
            # starts at once on the best fitting VM with room, if there is one.
            k = bisect.bisect_left(self.open_keys, (cores, memory))
            for key in self.open_keys[k:]:
                if key[1] >= memory:
                    vm = next(iter(self.open[key].values()))
                    self._start(j, vm)
                    return
        group.waiting.append(j)
        self.waiting[group.key] = group
        self.pending += 1

    def _fill(self, vm: SimVM) -> None:
        """Start the waiting jobs that fit the VM's room, the longest waiting first."""
        submit = self.trace.submit
        while vm.free_cores > 0 and self.waiting:
            best = None
            for group in self.waiting.values():
                g = group.pending
                if (g.cores <= vm.free_cores and g.memory_mb <= vm.free_ram
                        and (best is None
                             or submit[group.waiting[0]] < submit[best.waiting[0]])):  # fmt: skip
                    best = group
            if best is None:
                return
            j = best.waiting.popleft()
            if not best.waiting:
                del self.waiting[best.key]
            self.pending -= 1
            self._start(j, vm)

    def _start(self, j: int, vm: SimVM) -> None:
        t = self.trace
        cores, run = t.cores[j], t.run[j]
        self._unindex(vm)
        vm.free_cores -= cores
        vm.free_ram -= t.memory_mb[j]
        vm.jobs += 1
        if vm.state == "idle":
            vm.state, vm.idle_since = "busy", None
            self.supply.pop(vm.seq, None)
            self.idle[vm.cloud].pop(vm.seq, None)
            self.kept[vm.cloud].discard(vm.seq)
        self._index(vm)
        vm.used[t.account[j]] += int(run * cores)
        self.running += 1
        self.stats.job_started(self.now, self.now - t.submit[j], run * cores)
        self._push(self.now + run, JOB_END, vm, j)

    def _job_end(self, vm: SimVM, j: int) -> None:
        t = self.trace
        self.running -= 1
        self.stats.jobs_run += 1
        self.dirty = True
        self._unindex(vm)
        vm.free_cores += t.cores[j]
        vm.free_ram += t.memory_mb[j]
        vm.jobs -= 1
        self._index(vm)
        self._fill(vm)
        if vm.jobs == 0:
            self._went_idle(vm)

    def _index(self, vm: SimVM) -> None:
        if vm.free_cores <= 0 or vm.state not in ("idle", "busy"):
            return
        key = (vm.free_cores, vm.free_ram)
        bucket = self.open.get(key)
        if bucket is None:
            bucket = self.open[key] = {}
            bisect.insort(self.open_keys, key)
        bucket[vm.seq] = vm

    def _unindex(self, vm: SimVM) -> None:
        key = (vm.free_cores, vm.free_ram)
        bucket = self.open.get(key)
        if bucket is not None and bucket.pop(vm.seq, None) is not None and not bucket:
            del self.open[key]
            self.open_keys.pop(bisect.bisect_left(self.open_keys, key))

    # -- VMs' lives (lifecycle's rules) --------------------------------------------------

    def _push(self, at: float, kind: int, vm: SimVM | None, payload=None) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at, self.seq, kind, vm, payload))

    def _boot(self, boot: demand.Boot) -> SimVM:
        cloud = self.clouds[boot.cloud]
        self.seq += 1
        vm = SimVM(self.seq, cloud.name, boot, self.now)
        self.vms[vm.seq] = vm
        self.supply[vm.seq] = vm
        live = self.live[cloud.name]
        live.instances += 1
        live.cores += vm.cores
        live.ram_mb += vm.ram_mb
        live.starting += 1
        self.stats.booted(self.now, cloud.name, live)
        took = cloud.boot_time.draw(self.rng[cloud.name])
        if lifecycle.boot_timed_out(took, cloud.boot_timeout):
            self._push(self.now + cloud.boot_timeout, FAILED, vm, "boot timeout")
        else:
            self._push(self.now + took, ACTIVE, vm)
        return vm

    def _active(self, vm: SimVM) -> None:
        cloud = self.clouds[vm.cloud]
        took = cloud.registration_time.draw(self.rng[cloud.name])
        if lifecycle.registration_timed_out(took, cloud.register_timeout):
            self._push(self.now + cloud.register_timeout, FAILED, vm, "registration timeout")
        else:
            self._push(self.now + took, REGISTERED, vm)

    def _registered(self, vm: SimVM) -> None:
        self.live[vm.cloud].starting -= 1
        self.backoffs[vm.cloud].pop((vm.flavor, vm.image), None)  # services.clear_backoff
        self.dirty = True
        vm.state = "idle"
        self._index(vm)
        self._fill(vm)
        if vm.jobs == 0:
            self._went_idle(vm)

    def _went_idle(self, vm: SimVM) -> None:
        cloud = self.clouds[vm.cloud]
        vm.state, vm.idle_since = "idle", self.now
        self.supply[vm.seq] = vm
        self.idle[vm.cloud][vm.seq] = vm
        self.dirty = True
        self._push(self.now + cloud.idle_keep, IDLE_DUE, vm, self.now)
        # One more recently idle VM: an older one kept as headroom may go now.
        for seq in sorted(self.kept[vm.cloud]):
            self._check_idle(self.idle[vm.cloud][seq])

    def _check_idle(self, vm: SimVM) -> None:
        cloud = self.clouds[vm.cloud]
        idle = self.idle[vm.cloud]

        def newer() -> int:
            return sum(1 for other in idle.values() if other.idle_since > vm.idle_since)

        last = self.last_refusals

        if lifecycle.idle_to_retire(
            self.now - vm.idle_since, cloud.idle_keep, cloud.idle_headroom, newer,
            lambda: lifecycle.starved_of_room(last),
        ):  # fmt: skip
            self._end(vm, lifecycle.retire_reason(asked=False, cloud=cloud.name, enabled=True,
                                                  idle_too_long=True,
                                                  idle_keep_s=cloud.idle_keep))  # fmt: skip
        else:
            self.kept[vm.cloud].add(vm.seq)

    def _give_way(self) -> bool:
        """VMs kept idle as headroom give way to jobs refused for want of room (the
        lifecycle rule, asked again now that the decision refused); True if any went."""
        before = len(self.vms)
        for name in self.clouds:
            for seq in sorted(self.kept[name]):
                if seq in self.idle[name]:
                    self._check_idle(self.idle[name][seq])
        return len(self.vms) < before

    def _failed(self, vm: SimVM, why: str) -> None:
        self.live[vm.cloud].starting -= 1
        marks = self.backoffs[vm.cloud].setdefault((vm.flavor, vm.image), [0.0, 0])
        marks[1] += 1
        span = lifecycle.backoff_span(marks[1], BACKOFF_BASE, BACKOFF_MAX).total_seconds()
        marks[0] = self.now + span
        self._push(marks[0], BACKOFF_END, None)
        self.stats.failures[why] += 1
        self._end(vm, why)

    def _end(self, vm: SimVM, why: str) -> None:
        """Delete the VM and charge its time, shared by its jobs' core-seconds (all of it
        to the project it was booted for when it ran none)."""
        self._unindex(vm)
        self.vms.pop(vm.seq)
        self.supply.pop(vm.seq, None)
        self.idle[vm.cloud].pop(vm.seq, None)
        self.kept[vm.cloud].discard(vm.seq)
        live = self.live[vm.cloud]
        live.instances -= 1
        live.cores -= vm.cores
        live.ram_mb -= vm.ram_mb
        seconds = max(0, round(self.now - vm.requested_at))
        split = shares(seconds, dict(vm.used)) or ({vm.account: seconds} if seconds else {})
        self.charged.update(split)
        self.stats.ended(vm, self.now, split, self.clouds[vm.cloud].price_per_core_hour)
        vm.state = "deleted"
        self.dirty = True

    # -- the decision --------------------------------------------------------------------

    def cloud_views(self) -> list[demand.CloudView]:
        views = []
        for cloud in self.config.clouds:
            backoffs = frozenset(k for k, (until, _) in self.backoffs[cloud.name].items()
                                 if until > self.now)  # fmt: skip
            views.append(
                lifecycle.cloud_view(
                    cloud,
                    usable=cloud.enabled,
                    flavors=cloud.flavors,
                    images=cloud.images,
                    backoffs=backoffs,
                    quota=cloud.quota,
                    live=self.live[cloud.name],
                )
            )
        return views

    def remaining(self, accounts: Iterable[str]) -> dict[str, Decimal | None]:
        budgets = self.config.budgets
        return {
            a: (budgets[a] - Decimal(self.charged[a]) / 3600 if a in budgets else None)
            for a in accounts
        }

    def decision(self) -> demand.Decision:
        """The agent's decision on the simulator's state now."""
        groups = [replace_count(g.pending, len(g.waiting)) for g in self.waiting.values()]
        supply = [demand.SupplyVM(vm.name, vm.cloud, vm.group, vm.cores, vm.ram_mb)
                  for vm in self.supply.values()]  # fmt: skip
        return demand.decide(groups, self.cloud_views(), supply,
                             self.remaining({g.account for g in groups}))  # fmt: skip

    def apply(self, decision: demand.Decision) -> list[SimVM]:
        return [self._boot(b) for b in decision.boots]

    # -- the run --------------------------------------------------------------------------

    def _next_at(self) -> float:
        t = self.trace
        at_arrival = t.submit[self.arrived] if self.arrived < len(t) else math.inf
        return min(at_arrival, self.heap[0][0] if self.heap else math.inf)

    def _step(self) -> None:
        """Take the next event (an arrival first when both are due at once)."""
        t = self.trace
        at_arrival = t.submit[self.arrived] if self.arrived < len(t) else math.inf
        if at_arrival <= (self.heap[0][0] if self.heap else math.inf):
            self.now = at_arrival
            self.arrived += 1
            self._arrive(self.arrived - 1)
            return
        at, _, kind, vm, payload = heapq.heappop(self.heap)
        self.now = at
        if kind == JOB_END:
            self._job_end(vm, payload)
        elif kind == BACKOFF_END:
            self.dirty = True
        elif vm.state == "deleted":
            return
        elif kind == ACTIVE:
            self._active(vm)
        elif kind == REGISTERED:
            self._registered(vm)
        elif kind == FAILED:
            self._failed(vm, payload)
        elif kind == IDLE_DUE and vm.state == "idle" and vm.idle_since == payload:
            self._check_idle(vm)

    def advance(self, until: float) -> None:
        """Take every event due by `until`, and no decision (tests build states so)."""
        while self._next_at() <= until:
            self._step()
        self.now = max(self.now, until)

    def _repeat(self, before: float) -> None:
        """Count the decisions of the cycles skipped before `before`: each would have
        decided as the last one taken (nothing changed since), refusing the same VMs."""
        if self.last is None:
            return
        cycle = self.config.cycle_s
        index, refusals = self.last
        skipped = math.ceil(before / cycle) - 1 - index
        if skipped > 0:
            self.stats.repeat(refusals, skipped)
            self.last = (index + skipped, refusals)

    def run(self) -> Summary:
        """Replay the whole trace: events in time order, a decision every cycle in which
        something changed or the last one booted; then every VM still up is deleted."""
        started = time.perf_counter()
        t = self.trace
        cycle = self.config.cycle_s
        if len(t):
            self.stats.begin(t, cycle)
        next_cycle = math.ceil(t.submit[0] / cycle) * cycle if len(t) else 0.0
        while True:
            at = self._next_at()
            wanted = self.dirty and self.pending > 0
            if not wanted:
                if at == math.inf:
                    break
                next_cycle = max(next_cycle, math.ceil(at / cycle) * cycle)
            if at <= next_cycle:
                self.stats.sample_until(at, self)
                self._repeat(at)
                self._step()
                if self.dirty:
                    self.last = None
                continue
            self.stats.sample_until(next_cycle, self)
            self._repeat(next_cycle)
            self.now = next_cycle
            decision = self.decision()
            booted = self.apply(decision)
            self.last_refusals = decision.refusals
            self.stats.decided(decision, booted)
            self.dirty = bool(booted)
            self.last = None if booted else (round(next_cycle / cycle), decision.refusals)
            if lifecycle.starved_of_room(decision.refusals) and self._give_way():
                self.dirty, self.last = True, None
            next_cycle += cycle
        # The trace is over: what is still up is deleted now (VMs kept as headroom).
        for vm in sorted(self.vms.values(), key=lambda v: v.seq):
            self._end(vm, "end of the simulation")
        self.stats.jobs_never_run = self.pending
        return self.stats.summary(self, time.perf_counter() - started)


def replace_count(group: PendingGroup, count: int) -> PendingGroup:
    return PendingGroup(group.cores, group.memory_mb, group.partition, group.account,
                        group.features, group.image, group.flavor, count)  # fmt: skip


# -- figures ---------------------------------------------------------------------------


class Stats:
    """What a run counts as it goes, and the series sampled for the plot."""

    def __init__(self, clouds: list[SimCloud]):
        self.clouds = clouds
        self.jobs_arrived = self.jobs_run = self.jobs_fit_nowhere = self.jobs_never_run = 0
        self.waits: list[float] = []
        self.busy_core_s = 0.0
        self.vm_core_s = 0.0
        self.vm_s_by_cloud: Counter = Counter()
        self.vm_s_by_project: Counter = Counter()
        self.cost_by_cloud: dict[str, Decimal] = {c.name: Decimal(0) for c in clouds}
        self.boots_by_day: Counter = Counter()
        self.boots_by_cloud: Counter = Counter()
        self.failures: Counter = Counter()
        self.refusals: Counter = Counter()
        self.decisions = 0
        self.peaks = {c.name: Counter() for c in clouds}
        self.series: dict[str, list] = {"t": [], "idle_jobs": [], "running_jobs": [],
                                         "vms": [], "wait_s": []}  # fmt: skip
        self.bucket_waits: list[float] = []
        self.next_sample = math.inf
        self.step = 3600.0
        self.offset = 0
        self.epoch = 0
        self.first = self.last_submit = 0.0

    def begin(self, trace: Trace, cycle: float) -> None:
        self.epoch = trace.epoch
        self.first, self.last_submit = trace.submit[0], trace.submit[-1]
        span = max(self.last_submit - self.first, cycle)
        self.step = max(cycle, math.ceil(span / MAX_POINTS / cycle) * cycle)
        self.next_sample = self.first
        start = datetime.fromtimestamp(trace.epoch + self.first, UTC)
        try:
            zone = zoneinfo.ZoneInfo(trace.zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = UTC
        self.offset = int(start.astimezone(zone).utcoffset().total_seconds())

    def day(self, at: float) -> int:
        return int((self.epoch + at + self.offset) // 86400)

    def sample_until(self, at: float, sim: Simulator) -> None:
        while self.next_sample <= at and self.next_sample <= self.last_submit + self.step:
            s = self.series
            s["t"].append(self.next_sample)
            s["idle_jobs"].append(sim.pending)
            s["running_jobs"].append(sim.running)
            s["vms"].append(len(sim.vms))
            waits = self.bucket_waits
            s["wait_s"].append(round(sum(waits) / len(waits), 1) if waits else None)
            waits.clear()
            self.next_sample += self.step

    def job_started(self, at: float, wait: float, core_s: float) -> None:
        self.waits.append(wait)
        self.bucket_waits.append(wait)
        self.busy_core_s += core_s

    def booted(self, at: float, cloud: str, live: lifecycle.LiveCounts) -> None:
        self.boots_by_day[self.day(at)] += 1
        self.boots_by_cloud[cloud] += 1
        peak = self.peaks[cloud]
        for key in ("instances", "cores", "ram_mb", "starting"):
            peak[key] = max(peak[key], getattr(live, key))

    def ended(self, vm: SimVM, at: float, split: dict[str, int], price: Decimal) -> None:
        seconds = at - vm.requested_at
        self.vm_s_by_cloud[vm.cloud] += seconds
        self.vm_core_s += seconds * vm.cores
        self.vm_s_by_project.update(split)
        self.cost_by_cloud[vm.cloud] += price * Decimal(vm.cores * seconds / 3600)

    def decided(self, decision: demand.Decision, booted: list[SimVM]) -> None:
        self.decisions += 1
        self.refusals.update(decision.refusals)
        for cloud, n in Counter(vm.cloud for vm in booted).items():
            peak = self.peaks[cloud]
            peak["boots_per_cycle"] = max(peak["boots_per_cycle"], n)

    def repeat(self, refusals: Counter, times: int) -> None:
        if times > 0:
            for reason, n in refusals.items():
                self.refusals[reason] += n * times

    def summary(self, sim: Simulator, seconds: float) -> Summary:
        waits = sorted(self.waits)
        first, last = self.day(self.first) + 1, self.day(self.last_submit) - 1
        full = range(first, last + 1) if last >= first else sorted(self.boots_by_day)
        per_day = [self.boots_by_day[d] for d in full]
        hours = lambda s: round(s / 3600, 2)  # noqa: E731
        cost = {c: round(float(v), 2) for c, v in self.cost_by_cloud.items()}
        t = sim.trace
        return Summary(
            {
                "trace": t.name,
                "from": _iso(t, self.first),
                "to": _iso(t, self.last_submit),
                "cycle_s": sim.config.cycle_s,
                "jobs": len(t),
                "jobs_invalid": t.invalid,
                "jobs_run": self.jobs_run,
                "jobs_fit_nowhere": self.jobs_fit_nowhere,
                "jobs_never_run": self.jobs_never_run,
                "vms_booted": sum(self.boots_by_cloud.values()),
                "vms_booted_by_cloud": dict(sorted(self.boots_by_cloud.items())),
                "vms_per_day": {
                    "mean": round(sum(per_day) / len(per_day), 1) if per_day else 0,
                    "max": max(per_day, default=0),
                    "full_days": len(per_day),
                },
                "vms_failed": dict(self.failures),
                "wait_mean_s": round(sum(waits) / len(waits), 1) if waits else 0,
                "wait_p95_s": round(_percentile(waits, 0.95), 1),
                "wait_max_s": round(waits[-1], 1) if waits else 0,
                "utilisation": round(self.busy_core_s / self.vm_core_s, 4)
                if self.vm_core_s else 0,
                "vm_hours_by_cloud": {c: hours(v) for c, v in sorted(self.vm_s_by_cloud.items())},
                "vm_hours_by_project": {
                    a: hours(v) for a, v in sorted(self.vm_s_by_project.items())
                },
                "cost": {"total": round(sum(cost.values()), 2), "by_cloud": cost},
                "refusals": dict(sorted(self.refusals.items())),
                "peaks": {c: dict(sorted(p.items())) for c, p in self.peaks.items()},
                "limits": {c.name: _limits(c) for c in self.clouds},
                "decisions": self.decisions,
                "seconds": round(seconds, 2),
            },
            {k: list(v) for k, v in self.series.items()},
        )  # fmt: skip


def _percentile(ordered: list[float], q: float) -> float:
    """The nearest-rank percentile of sorted values (0 when there are none)."""
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _iso(trace: Trace, at: float) -> str:
    return datetime.fromtimestamp(trace.epoch + at, UTC).isoformat()


def _limits(cloud: SimCloud) -> dict:
    """The tightest limit of each kind: the cloud's quota or the site's cap."""

    def least(*values):
        present = [v for v in values if v is not None]
        return min(present) if present else None

    return {
        "instances": least(cloud.quota.get("instances"), cloud.max_instances),
        "cores": least(cloud.quota.get("cores"), cloud.max_cores),
        "ram_mb": least(cloud.quota.get("ram_mb"), cloud.max_ram_mb),
        "starting": cloud.max_starting,
        "boots_per_cycle": cloud.max_boots_per_cycle,
    }


@dataclass
class Summary:
    summary: dict
    series: dict


def simulate(trace_path: str | Path, clouds_path: str | Path, start: str | None = None,
             end: str | None = None, speedup: float = 1.0) -> Summary:  # fmt: skip
    """Replay the trace's jobs (submitted in [start, end)) on the clouds of clouds.yaml."""
    config = load_config(clouds_path)
    trace = read_swf(trace_path, start, end, speedup)
    return Simulator(config, trace).run()


# -- the plot ----------------------------------------------------------------------------


def svg_plot(result: Summary, title: str = "") -> str:
    """Demand (idle jobs), VMs and mean waits over time: three panels of one SVG, no
    plotting library needed."""
    s = result.series
    width, panel, left, gap = 900, 170, 70, 40
    panels = [("idle jobs", s["idle_jobs"], "#c0392b"), ("VMs", s["vms"], "#2471a3"),
              ("mean wait (s)", s["wait_s"], "#7d3c98")]  # fmt: skip
    height = gap + len(panels) * (panel + gap)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="20" font-size="14">{_escape(title)}</text>']  # fmt: skip
    times = s["t"]
    t0, t1 = (times[0], times[-1]) if times else (0, 1)
    span = max(t1 - t0, 1)
    plot_w = width - left - 20
    for n, (label, values, colour) in enumerate(panels):
        top = gap + n * (panel + gap)
        top_value = max((v for v in values if v is not None), default=0) or 1
        out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{panel}" '
                   'fill="none" stroke="#999"/>')  # fmt: skip
        out.append(f'<text x="{left}" y="{top - 6}">{label} (max {top_value:g})</text>')
        out.append(f'<text x="{left - 6}" y="{top + 10}" text-anchor="end">{top_value:g}</text>')
        out.append(f'<text x="{left - 6}" y="{top + panel}" text-anchor="end">0</text>')
        points = [
            f"{left + (t - t0) / span * plot_w:.1f},{top + panel - v / top_value * panel:.1f}"
            for t, v in zip(times, values, strict=True)
            if v is not None
        ]
        if points:
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1" '
                       f'points="{" ".join(points)}"/>')  # fmt: skip
    days = span / 86400
    out.append(f'<text x="{left}" y="{height - 10}">{result.summary["from"][:10]}</text>')
    out.append(f'<text x="{left + plot_w}" y="{height - 10}" text-anchor="end">'
               f'{result.summary["to"][:10]} ({days:.1f} days)</text>')  # fmt: skip
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_plot(result: Summary, path: str | Path, title: str = "") -> Path:
    """The plot as SVG; PNG only through matplotlib when it is installed (it is not one of
    Allotment's dependencies)."""
    path = Path(path)
    if path.suffix.lower() == ".svg":
        path.write_text(svg_plot(result, title))
        return path
    if path.suffix.lower() != ".png":
        raise ConfigError(f"{path}: the plot is written as .svg or .png")
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        raise ConfigError(
            f"{path}: PNG needs matplotlib, which is not installed; write an .svg instead"
        ) from None
    s = result.series
    hours = [(t - s["t"][0]) / 3600 for t in s["t"]]
    fig, axes = pyplot.subplots(3, 1, sharex=True, figsize=(10, 7))
    for ax, (key, label) in zip(axes, [("idle_jobs", "idle jobs"), ("vms", "VMs"),
                                       ("wait_s", "mean wait (s)")], strict=True):  # fmt: skip
        ax.plot(hours, [v if v is not None else float("nan") for v in s[key]], linewidth=0.8)
        ax.set_ylabel(label)
    axes[-1].set_xlabel("hours")
    axes[0].set_title(title)
    fig.savefig(path, dpi=100)
    pyplot.close(fig)
    return path


# -- stored runs -------------------------------------------------------------------------


def store(result: Summary, trace: str, clouds: str, config: dict) -> int:
    """Save the run for the page; returns its id."""
    from .models import SimulationRun

    run = SimulationRun.objects.create(
        trace=trace[:300], clouds=clouds[:300], config=config,
        summary=result.summary, series=result.series,
    )  # fmt: skip
    return run.pk


def simulation_runs(limit: int = 50) -> list[dict]:
    """Stored runs, newest first: what each replayed and its figures (not the series)."""
    from .models import SimulationRun

    return [
        {"id": r.pk, "at": r.at, "trace": r.trace, "clouds": r.clouds, "summary": r.summary}
        for r in SimulationRun.objects.order_by("-at", "-pk")[:limit]
    ]


def simulation_run(pk: int) -> dict | None:
    """One stored run with its series (for its plot), or None."""
    from .models import SimulationRun

    r = SimulationRun.objects.filter(pk=pk).first()
    if r is None:
        return None
    return {"id": r.pk, "at": r.at, "trace": r.trace, "clouds": r.clouds, "config": r.config,
            "summary": r.summary, "series": r.series}  # fmt: skip
