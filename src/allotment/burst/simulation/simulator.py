"""The virtual-time loop: jobs arrive, wait in their demand groups and run on VMs; every
cycle the agent's own decision boots VMs, whose lives follow lifecycle's rules.

Cost is per group and per event, never per job per cycle: jobs wait in their demand
group (the agent's grouping), events (arrivals, boots, job ends) are taken in time order
from a heap, and a cycle in which nothing changed since a decision that booted nothing
would decide the same again, so it is counted (its refusals too) without being taken.
"""

from __future__ import annotations

import bisect
import dataclasses
import heapq
import math
import random
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from .. import demand, lifecycle
from ..charging import shares
from ..engines import PendingGroup
from ..services import BACKOFF_BASE, BACKOFF_MAX
from .config import Config
from .stats import Stats, Summary
from .trace import Trace


class SimVM:
    __slots__ = ("account", "closed", "cloud", "cores", "flavor", "free_cores", "free_ram",
                 "group", "idle_since", "image", "jobs", "name", "ram_mb", "requested_at",
                 "seq", "state", "used")  # fmt: skip

    def __init__(self, seq: int, cloud: str, boot: demand.Boot, at: float):
        self.seq, self.cloud, self.name = seq, cloud, f"{cloud}-vm{seq}"
        self.flavor, self.image, self.group = boot.flavor, boot.image, boot.group
        self.account, self.cores, self.ram_mb = boot.account, boot.cores, boot.ram_mb
        self.free_cores, self.free_ram = boot.cores, boot.ram_mb
        self.state, self.requested_at, self.idle_since = "booting", at, None
        self.jobs = 0
        self.closed = False  # single use: it took its jobs, it takes no more
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
        # Single use: the agent drains it as it sees it busy, so it takes no later job
        # (_index skips it); the jobs placed on it at this same instant (a fill) still
        # start, as Slurm places them together.
        vm.closed = vm.closed or self.clouds[vm.cloud].single_use
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
        if vm.closed:
            if vm.jobs == 0:
                cloud = self.clouds[vm.cloud]
                self._end(vm, lifecycle.retire_reason(asked=False, cloud=cloud.name,
                                                      enabled=True, idle_too_long=False,
                                                      idle_keep_s=cloud.idle_keep,
                                                      single_use_served=True))  # fmt: skip
            return
        self._index(vm)
        self._fill(vm)
        if vm.jobs == 0:
            self._went_idle(vm)

    def _index(self, vm: SimVM) -> None:
        if vm.free_cores <= 0 or vm.state not in ("idle", "busy") or vm.closed:
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
    return dataclasses.replace(group, count=count)
